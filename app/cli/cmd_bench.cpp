// `hlwq bench`: the CUDA backend's synthetic-model benchmark (kernels/bench/decode_bench.h).
#if HLWQ_HAVE_CUDA
#include "bench/decode_bench.h"
#include "command.h"

namespace {

int bench(const std::vector<std::string>& args) { return hlwq::cuda::run_bench(args); }

}  // namespace

HLWQ_COMMAND("bench", "decode/prefill speed of a synthetic Qwen3.5 on the GPU (--help for options)", bench);
#endif
