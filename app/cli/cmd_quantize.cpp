// `hlwq quantize SRC DST`: BF16/F16/F32 safetensors checkpoint -> HLWQ (spec 4.1/4.3), shard by
// shard with bounded memory, on the GPU when one is present (--device), else on every core. The
// output keeps the public tensor names and does not depend on the device.
#if HLWQ_HAVE_FORMATS

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "args.h"
#include "command.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "formats/quantizer.h"

namespace hlwq::cli {
namespace {

const char* kUsage =
    "usage: hlwq quantize SRC_DIR DST_DIR [--bits 5|4|3|2] [--codebook converged|reference-loader|reference-quantizer]\n"
    "                     [--scale norm|mse] [--device auto|cpu|cuda] [--threads N] [--drop PREFIX]... [--keep-all]\n"
    "                     [--quiet]\n"
    "\n"
    "Quantizes every Linear weight (2-D *.weight except embeddings, norms, conv1d, A_log, dt_bias)\n"
    "to HLWQ and copies the rest, plus config, tokenizer and chat-template files. Tensors under\n"
    "model.visual. and mtp. are dropped unless --keep-all (text chat never reads them).\n"
    "--device auto (default) uses a CUDA GPU when this build has CUDA and one is present; a GPU\n"
    "that is missing or fails falls back to the CPU with a warning. Every device writes the same bytes.\n";

int run_quantize(const std::vector<std::string>& argv) {
  const Args args(argv, {"bits", "codebook", "scale", "device", "threads", "drop"}, {"keep-all", "quiet", "help"});
  if (args.flag("help")) {
    std::printf("%s", kUsage);
    return 0;
  }
  if (args.positionals().size() != 2) {
    std::fprintf(stderr, "%s", kUsage);
    return 2;
  }
  QuantizeOptions opts;
  opts.bits = args.int_or("bits", 5);
  if (opts.bits < 2 || opts.bits > 5) throw_error(ErrorKind::InvalidArgument, "--bits ", std::to_string(opts.bits), ": expected 5, 4, 3 or 2");
  opts.codebook = parse_codebook(args.value_or("codebook", "converged"));
  const std::string scale = args.value_or("scale", "norm");
  if (scale != "norm" && scale != "mse") throw_error(ErrorKind::InvalidArgument, "--scale ", scale, ": expected norm or mse");
  opts.scale = scale == "mse" ? ScaleKind::Mse : ScaleKind::Norm;
  std::vector<std::string> drop = args.values("drop");
  if (!args.flag("keep-all")) drop.insert(drop.end(), {"model.visual.", "mtp."});
  opts.policy = make_tensor_policy(drop);
  opts.device = parse_quantize_device(args.value_or("device", "auto"));
  ThreadPool pool(args.int_or("threads", 0));
  opts.pool = &pool;
  const bool quiet = args.flag("quiet");
  opts.warn = [&](const std::string& message) {  // always shown, even with --quiet
    std::fprintf(stderr, "%swarning: %s\n", quiet ? "" : "\n", message.c_str());
  };
  const auto start = std::chrono::steady_clock::now();
  int last_percent = -1;
  opts.progress = [&](double f, const std::string& what) {
    const int percent = int(f * 100);
    if (quiet || percent == last_percent) return;
    last_percent = percent;
    std::fprintf(stderr, "\r%3d%%  %-70.70s", percent, what.c_str());
    std::fflush(stderr);
  };
  const auto report = quantize_checkpoint(args.positionals()[0], args.positionals()[1], opts);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  if (!quiet) std::fprintf(stderr, "\n");
  std::printf("quantized %zu shards: %.3f GB -> %.3f GB in %.2f s (%.3f GB/s in, on %s), peak RSS %.1f MiB\n",
              report.shards.size(), report.bytes_in / 1e9, report.bytes_out / 1e9, secs,
              secs > 0 ? report.bytes_in / 1e9 / secs : 0.0, report.device.c_str(), ru.ru_maxrss / 1024.0);
  return 0;
}

}  // namespace

HLWQ_COMMAND("quantize", "quantize a BF16 safetensors checkpoint to HLWQ (Q5/Q4/Q3)", run_quantize);

}  // namespace hlwq::cli

#endif  // HLWQ_HAVE_FORMATS
