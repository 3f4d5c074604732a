#pragma once
// The main() of the GPU-machine tools: runs the tool and turns what it throws into one line on
// stderr that names the tool (and, for an hlwq::Error, its kind) and exit code 1, so a failed
// run in a device script says why instead of aborting.
#include <cstdio>
#include <exception>

#include "core/error.h"

namespace hlwq::cuda::bench_main {

template <typename F>
int run_tool(const char* tool, F&& body) {
  try {
    return body();
  } catch (const Error& e) {
    std::fprintf(stderr, "%s: %s: %s\n", tool, to_string(e.kind()), e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", tool, e.what());
    return 1;
  }
}

}  // namespace hlwq::cuda::bench_main
