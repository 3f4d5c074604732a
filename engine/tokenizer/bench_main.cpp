// hlwq_tokenizer_bench TOKENIZER FILE... : single-thread encode throughput (MB/s) over the
// files, each encoded whole, best of 3 runs after a warm-up. Numbers go to docs/PERFORMANCE.md.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s TOKENIZER_DIR_OR_FILE TEXT_FILE...\n", argv[0]);
    return 2;
  }
  try {
    const auto load_start = std::chrono::steady_clock::now();
    auto tok = hlwq::Tokenizer::load(argv[1]);
    const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();
    std::vector<std::string> texts;
    std::size_t bytes = 0;
    for (int i = 2; i < argc; ++i) {
      std::ifstream f(argv[i], std::ios::binary);
      if (!f) throw hlwq::Error(hlwq::ErrorKind::Io, std::string(argv[i]) + ": cannot open");
      std::ostringstream ss;
      ss << f.rdbuf();
      texts.push_back(ss.str());
      bytes += texts.back().size();
    }
    std::size_t tokens = 0;
    double best = 1e30;
    for (int run = 0; run < 4; ++run) {  // run 0 warms the piece cache, as a long chat would
      tokens = 0;
      const auto t0 = std::chrono::steady_clock::now();
      for (const auto& t : texts) tokens += tok->encode(t).size();
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (run > 0 && s < best) best = s;
      if (run == 0) std::printf("cold: %.2f MB/s\n", bytes / s / 1e6);
    }
    std::printf("load %.2f s; %zu bytes -> %zu tokens; warm: %.2f MB/s (%.0f tokens/s)\n", load_s, bytes, tokens, bytes / best / 1e6,
                tokens / best);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
