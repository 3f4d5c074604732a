// `hlwq ppl -m MODEL FILE`: perplexity of a text file with a sliding window (each window of
// --ctx tokens advances by --stride and scores only its new tokens, as transformers' guide does).
#if HLWQ_HAVE_SESSION

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "args.h"
#include "kv_flag.h"
#include "command.h"
#include "core/error.h"
#include "session/model_loader.h"
#include "tokenizer/tokenizer.h"

namespace hlwq::cli {
namespace {

const char* kUsage =
    "usage: hlwq ppl -m MODEL FILE [--ctx N (512)] [--stride S (ctx/2)] [--max-tokens N]\n"
    "                [--kv fp16|q4|q3|q2|kXvY] [--backend cpu|cuda|auto] [--threads N]\n";

int run_ppl(const std::vector<std::string>& argv) {
  const Args args(argv, {"m", "model", "ctx", "stride", "max-tokens", "kv", "backend", "threads"}, {"help"});
  if (args.flag("help")) {
    std::printf("%s", kUsage);
    return 0;
  }
  const auto model = args.value("model") ? args.value("model") : args.value("m");
  if (!model || args.positionals().size() != 1) {
    std::fprintf(stderr, "%s", kUsage);
    return 2;
  }
  std::ifstream in(args.positionals()[0], std::ios::binary);
  if (!in) throw_error(ErrorKind::Io, args.positionals()[0], ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  const int ctx = args.int_or("ctx", 512);
  const int stride = args.int_or("stride", std::max(1, ctx / 2));
  if (ctx < 2 || stride < 1 || stride > ctx)
    throw_error(ErrorKind::InvalidArgument, "--ctx must be >= 2 and --stride in [1, ctx]");
  BackendOptions bo;
  bo.context_length = ctx;
  bo.threads = args.int_or("threads", 0);
  bo.kv = kv_option(args, bo.kv);
  const BackendKind kind = parse_backend_kind(args.value_or("backend", "cpu"));
  const LoadedModel m = load_model(*model, kind == BackendKind::Cpu ? 0 : 5);
  auto tok = Tokenizer::load(m.dir);
  std::vector<int32_t> ids = tok->encode(ss.str(), false);
  if (const int max = args.int_or("max-tokens", 0); max > 0 && int(ids.size()) > max) ids.resize(size_t(max));
  if (ids.size() < 2) throw_error(ErrorKind::InvalidArgument, args.positionals()[0], ": fewer than 2 tokens");
  auto backend = make_backend(kind, m.source, bo);
  const size_t vocab = size_t(m.source.config.vocab_size);
  double nll = 0;
  int64_t scored = 0;
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<float> logits;
  // Window [begin, end); tokens (prev_end, end) are scored, each predicted from its left context.
  size_t prev_end = 0;
  for (size_t begin = 0;; begin += size_t(stride)) {
    const size_t end = std::min(begin + size_t(ctx), ids.size());
    const size_t first = std::max(prev_end, begin + 1);  // first scored target
    if (first < end) {
      const int n = int(end - begin);
      logits.resize(size_t(n) * vocab);
      backend->reset();
      backend->forward(std::span(ids).subspan(begin, end - begin), 0, logits.data(), n);
      for (size_t t = first; t < end; ++t) {
        const float* row = logits.data() + (t - 1 - begin) * vocab;
        float mx = row[0];
        for (size_t v = 1; v < vocab; ++v) mx = std::max(mx, row[v]);
        double z = 0;
        for (size_t v = 0; v < vocab; ++v) z += std::exp(double(row[v] - mx));
        nll += std::log(z) + mx - row[size_t(ids[t])];
        ++scored;
      }
    }
    prev_end = end;
    if (end == ids.size()) break;
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("perplexity %.4f over %lld tokens (ctx %d, stride %d, KV %s, %s, %.1f s)\n", std::exp(nll / double(scored)),
              static_cast<long long>(scored), ctx, stride, kv_name(backend->kv()).c_str(), backend->name().c_str(), secs);
  return 0;
}

HLWQ_COMMAND("ppl", "perplexity of a text file (sliding window)", run_ppl);

}  // namespace
}  // namespace hlwq::cli

#endif
