// A libFuzzer-compatible main for compilers without libFuzzer (the gcc CI build): feeds the
// seed corpus, then deterministic random mutations of it, to LLVMFuzzerTestOneInput.
//   driver RUNS CORPUS_DIR...     a fixed number of mutated inputs: the same inputs on every
//                                 machine, so a CI run is reproducible whatever the CPU speed
//   driver 5s CORPUS_DIR...       as many as fit in 5 seconds (long local runs)
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s RUNS|SECONDSs CORPUS_DIR...\n", argv[0]);
    return 2;
  }
  const std::string budget = argv[1];
  const bool timed = !budget.empty() && budget.back() == 's';
  const double seconds = timed ? std::atof(budget.c_str()) : 0.0;
  const uint64_t max_runs = timed ? UINT64_MAX : std::strtoull(budget.c_str(), nullptr, 10);
  std::vector<std::string> seeds;
  for (int i = 2; i < argc; ++i)
    for (const auto& e : std::filesystem::directory_iterator(argv[i])) {
      std::ifstream in(e.path(), std::ios::binary);
      seeds.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
  if (seeds.empty()) seeds.emplace_back("{}");
  for (const auto& s : seeds) LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  std::mt19937_64 rng(12345);
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  uint64_t runs = 0;
  const char* tokens[] = {"\"", "{", "}", "[", "]", ",", ":", "0", "-1", "18446744073709551615", "1e308", "null",
                          "\"F16\"", "\"I64\"", "\"U8\"", "\"codebook\"", "\"bits\"", "\"format\"", "\"hlwq-q5\""};
  while (runs < max_runs && (!timed || std::chrono::steady_clock::now() < end)) {
    for (int batch = 0; batch < 256 && runs < max_runs; ++batch, ++runs) {
      std::string s = seeds[rng() % seeds.size()];
      const int edits = 1 + int(rng() % 8);
      for (int k = 0; k < edits; ++k) {
        const std::size_t pos = s.empty() ? 0 : rng() % (s.size() + 1);
        switch (rng() % 5) {
          case 0: if (!s.empty() && pos < s.size()) s[pos] = char(rng()); break;              // flip a byte
          case 1: if (pos < s.size()) s.erase(pos, 1 + rng() % 8); break;                     // delete
          case 2: s.insert(pos, tokens[rng() % std::size(tokens)]); break;                    // insert a token
          case 3: s.resize(pos); break;                                                      // truncate
          default: if (!s.empty()) s.insert(pos, s.substr(rng() % s.size(), 1 + rng() % 16)); break;  // splice
        }
      }
      LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), s.size());
    }
  }
  std::printf("%llu mutated inputs, no crash\n", static_cast<unsigned long long>(runs));
  return 0;
}
