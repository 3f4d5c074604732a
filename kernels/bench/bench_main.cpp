// Standalone build of `hlwq bench` (the CLI links the same function).
#include <cstdio>
#include <string>
#include <vector>

#include "bench/decode_bench.h"
#include "core/error.h"

int main(int argc, char** argv) {
  try {
    return hlwq::cuda::run_bench(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const hlwq::Error& e) {
    std::fprintf(stderr, "hlwq-cuda-bench: %s: %s\n", hlwq::to_string(e.kind()), e.what());
    return 1;
  }
}
