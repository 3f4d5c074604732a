// `hlwq inspect MODEL`: what a checkpoint holds (format, quantized and dense tensors, bytes),
// and with --touch how fast it loads: every page read once, as a backend upload would.
#if HLWQ_HAVE_FORMATS

#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "args.h"
#include "command.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "formats/checkpoint.h"

namespace hlwq::cli {
namespace {

const char* kUsage =
    "usage: hlwq inspect MODEL_DIR|FILE.safetensors [--tensors] [--touch] [--json]\n"
    "\n"
    "  --tensors  list every tensor (name, kind, shape, bits)\n"
    "  --touch    read every byte once and report load throughput (GB/s)\n"
    "  --json     machine-readable summary\n";

// Reads every byte (one load per 4 KiB page is enough to fault it in, but summing all of it
// is what an upload does and keeps the compiler from skipping the loop).
uint64_t touch(std::span<const std::byte> bytes) {
  uint64_t sum = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  for (std::size_t i = 0; i < bytes.size(); i += 64) sum += p[i];
  return sum;
}

int run_inspect(const std::vector<std::string>& argv) {
  const Args args(argv, {}, {"tensors", "touch", "json", "help"});
  if (args.flag("help")) {
    std::printf("%s", kUsage);
    return 0;
  }
  if (args.positionals().size() != 1) {
    std::fprintf(stderr, "%s", kUsage);
    return 2;
  }
  const auto t0 = std::chrono::steady_clock::now();
  const Checkpoint ck = load_checkpoint(args.positionals()[0]);
  const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  std::map<int, int> bits;
  int quant = 0, dense = 0;
  std::vector<std::span<const std::byte>> spans;
  for (const auto& name : ck.weights.names()) {
    if (const auto* q = ck.weights.quant(name)) {
      ++quant;
      ++bits[q->bits];
      spans.push_back(std::as_bytes(q->codes));
      spans.push_back(std::as_bytes(q->norms));
    } else {
      ++dense;
      spans.push_back(ck.weights.dense(name)->bytes);
    }
  }
  double touch_s = 0;
  if (args.flag("touch")) {
    const auto t1 = std::chrono::steady_clock::now();
    std::vector<uint64_t> sums(spans.size());
    ThreadPool::global().parallel_for(int64_t(spans.size()), [&](int64_t a, int64_t b) {
      for (int64_t i = a; i < b; ++i) sums[std::size_t(i)] = touch(spans[std::size_t(i)]);
    });
    touch_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  }
  const double gb = ck.weights.resident_bytes() / 1e9;
  if (args.flag("json")) {
    nlohmann::json j = {{"dir", ck.dir.string()}, {"format", ck.format}, {"quantized_tensors", quant},
                        {"dense_tensors", dense}, {"bytes", ck.weights.resident_bytes()}, {"load_seconds", load_s}};
    for (const auto& [b, n] : bits) j["bits"][std::to_string(b)] = n;
    if (args.flag("touch")) {
      j["touch_seconds"] = touch_s;
      j["load_gb_per_s"] = gb / (load_s + touch_s);
    }
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("%s\n  format   %s\n  tensors  %d quantized, %d dense\n  bytes    %.3f GB\n", ck.dir.string().c_str(),
              ck.format.c_str(), quant, dense, gb);
  for (const auto& [b, n] : bits) std::printf("  %d-bit   %d tensors\n", b, n);
  std::printf("  opened   %.3f s\n", load_s);
  if (args.flag("touch"))
    std::printf("  touched  %.3f s  (%.2f GB/s for open + read of every byte)\n", touch_s, gb / (load_s + touch_s));
  if (args.flag("tensors")) {
    for (const auto& name : ck.weights.names()) {
      if (const auto* q = ck.weights.quant(name)) {
        std::printf("  Q%d  %-70s [%lld, %lld]\n", q->bits, name.c_str(), (long long)q->rows, (long long)q->cols);
      } else {
        const auto* d = ck.weights.dense(name);
        std::string shape;
        for (auto s : d->shape) shape += (shape.empty() ? "" : ", ") + std::to_string(s);
        std::printf("  %-4s %-70s [%s]\n", dtype_name(d->dtype), name.c_str(), shape.c_str());
      }
    }
  }
  return 0;
}

}  // namespace

HLWQ_COMMAND("inspect", "show what a checkpoint holds and how fast it loads", run_inspect);

}  // namespace hlwq::cli

#endif  // HLWQ_HAVE_FORMATS
