// hlwq_tokenizer_bench TOKENIZER FILE... : single-thread encode throughput (MB/s) over the
// files, each encoded whole, best of 3 runs after a warm-up. Throughput is measured in this
// thread's CPU time (the build machine is shared, so wall time mostly measures the neighbours);
// wall time is printed beside it. Numbers go to docs/PERFORMANCE.md.
#include <chrono>
#include <ctime>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

static double cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

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
    double best = 1e30, best_wall = 1e30;
    for (int run = 0; run < 4; ++run) {  // run 0 starts with an empty piece cache
      tokens = 0;
      const auto t0 = std::chrono::steady_clock::now();
      const double c0 = cpu_seconds();
      for (const auto& t : texts) tokens += tok->encode(t).size();
      const double s = cpu_seconds() - c0;
      const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (run == 0) std::printf("cold cache: %.2f MB/s (cpu time)\n", bytes / s / 1e6);
      if (run > 0 && s < best) best = s;
      if (run > 0 && wall < best_wall) best_wall = wall;
    }
    std::printf("load %.2f s wall; %zu bytes -> %zu tokens; warm: %.2f MB/s cpu time (%.0f tokens/s), %.2f MB/s wall\n", load_s, bytes,
                tokens, bytes / best / 1e6, tokens / best, bytes / best_wall / 1e6);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
