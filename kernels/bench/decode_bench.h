#pragma once
// `hlwq bench`: a synthetic Qwen3.5 (default 27B) built in VRAM with random codes; decode
// speed per KV mode and context, prefill linear-layer throughput against cuBLAS bf16 on the
// same shapes, the device copy bandwidth of the same run, bytes per token and peak VRAM.
// Prints a table and writes JSON.
#include <string>
#include <vector>

namespace hlwq::cuda {

// argv: the options after "bench" (see --help). Returns a process exit code.
int run_bench(const std::vector<std::string>& args);

}  // namespace hlwq::cuda
