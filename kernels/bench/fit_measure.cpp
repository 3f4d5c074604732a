// hlwq-fit-measure: the planner's prediction against the device (docs/FIT.md "Measured on
// GPU"). For the synthetic model at each context and KV mode: F0 = free memory with the CUDA
// context and a cuBLAS handle made; the plan for the detected GPU is allocated and the weights
// built (F1); the cache is filled (fake history) and a few decode steps run until the context
// is full (F2). Predicted = plan.allocated_bytes(), measured = F0 - F2, bound max(2 %, 64 MiB);
// F1 - F2 shows anything allocated after load. Also measures the CUDA context's own cost and
// stores it in the planner's cache (planner/cuda_context_cache.h).
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "bench/bench_args.h"
#include "core/error.h"
#include "cuda_check.h"
#include "cuda_context_probe.h"
#include "device_arenas.h"
#include "models/backend_types.h"
#include "planner/cuda_context_cache.h"
#include "qwen35_gpu.h"
#include "qwen35_plan.h"

namespace hlwq::cuda {
namespace {

constexpr double kMiB = 1024.0 * 1024.0;

struct Options {
  std::string model = "27B";
  std::vector<int> contexts = {4096, 32768, 131072};
  std::vector<std::string> kv = {"fp16", "q4", "q3", "q2"};
  int weight_bits = 5;            // every Linear's width in the synthetic model
  int steps = 4;                  // decode steps at the end of the context
  int prefill = 512;              // prompt tokens through Qwen35Gpu::prefill first (0: none)
  bool embedding_device = true;
  uint64_t others_bytes = 0;      // device memory other processes held before this one started
  std::string json_path, commit = "unknown", command, context_cache;
};

std::vector<std::string> split(const std::string& s) { return bench_args::split(s); }
int64_t to_int(const std::string& option, const std::string& v) { return int64_t(bench_args::to_int("fit-measure", option, v)); }

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw_error(ErrorKind::InvalidArgument, "fit-measure: ", a, " needs a value");
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      std::puts(
          "hlwq-fit-measure [--model 27B] [--weight-bits 5|4|3] [--contexts 4096,32768,131072] [--kv fp16,q4,q3,q2]\n"
          "                 [--steps 4] [--prefill 512]\n"
          "                 [--embedding device|host] [--others-mib N] [--context-cache FILE]\n"
          "                 [--json FILE] [--commit HASH] [--command TEXT]\n"
          "VRAM planner prediction vs cudaMemGetInfo deltas for the synthetic model (docs/FIT.md).");
      std::exit(0);
    } else if (a == "--model") o.model = value();
    else if (a == "--weight-bits") o.weight_bits = int(to_int(a, value()));
    else if (a == "--contexts") { o.contexts.clear(); for (auto& s : split(value())) o.contexts.push_back(int(to_int(a, s))); }
    else if (a == "--kv") o.kv = split(value());
    else if (a == "--steps") o.steps = std::max<int>(1, int(to_int(a, value())));
    else if (a == "--prefill") o.prefill = int(to_int(a, value()));
    else if (a == "--others-mib") o.others_bytes = uint64_t(to_int(a, value())) << 20;
    else if (a == "--context-cache") o.context_cache = value();
    else if (a == "--json") o.json_path = value();
    else if (a == "--commit") o.commit = value();
    else if (a == "--command") o.command = value();
    else if (a == "--embedding") {
      const std::string v = value();
      if (v != "host" && v != "device") throw_error(ErrorKind::InvalidArgument, "fit-measure: --embedding is host or device, got '", v, "'");
      o.embedding_device = v == "device";
    } else throw_error(ErrorKind::InvalidArgument, "fit-measure: unknown option '", a, "' (see --help)");
  }
  for (const std::string& k : o.kv)
    if (!parse_kv_name(k)) throw_error(ErrorKind::InvalidArgument, "fit-measure: unknown KV mode '", k, "'");
  if (!q_bits_supported(o.weight_bits))
    throw_error(ErrorKind::InvalidArgument, "fit-measure: --weight-bits is 5, 4 or 3, got ", std::to_string(o.weight_bits));
  return o;
}

uint64_t free_now() {
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
  size_t f = 0, t = 0;
  check(cudaMemGetInfo(&f, &t), "cudaMemGetInfo");
  return f;
}

uint64_t total_memory() {
  size_t f = 0, t = 0;
  check(cudaMemGetInfo(&f, &t), "cudaMemGetInfo");
  return t;
}

planner::PlanOptions plan_options(const Options& o, int ctx, const KvConfig& kv) {
  planner::PlanOptions p;
  p.context_length = ctx;
  p.kv = kv;
  p.embedding = o.embedding_device ? planner::EmbeddingPlacement::Device : planner::EmbeddingPlacement::Host;
  p.safety_margin = 0;
  return p;
}

// A prompt of `n` token ids through the GEMM prefill path (its scratch and cuBLAS handle are
// made on first use), when the KV mode has prefill kernels. Returns the tokens run.
int run_prefill(Qwen35Gpu& m, int n, cudaStream_t s) {
  n = std::min(n, m.capacity() - 1);
  if (n <= 0 || !m.prefill_supported()) return 0;
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) ids[size_t(i)] = int32_t((uint64_t(i) * 2654435761u) % uint64_t(m.dims().vocab));
  m.prefill(ids.data(), n, 0, s);
  check(cudaStreamSynchronize(s), "prefill");
  return n;
}

// Fills the cache with a fake history and runs decode steps until the context is full: the
// eager step first (kernel attributes are set outside graph capture), then graph replays.
// Returns the number of non-finite logits of the last step.
size_t fill_and_decode(Qwen35Gpu& m, int ctx, int steps, cudaStream_t s) {
  steps = std::min(steps, ctx - 1);
  const int start = ctx - steps - 1;
  m.fake_history(start, 77 + ctx);
  m.enqueue_step(s, start >= Qwen35Gpu::kLongContext);
  for (int i = 0; i < steps; ++i) m.step_graph(s, start + 1 + i);
  check(cudaStreamSynchronize(s), "decode to the end of the context");
  std::vector<float> logits(size_t(m.dims().vocab));
  check(cudaMemcpy(logits.data(), m.logits_dev(), logits.size() * 4, cudaMemcpyDeviceToHost), "logits");
  size_t bad = 0;
  for (float v : logits) bad += !std::isfinite(v);
  return bad;
}

// Loads every kernel the measured runs use (CUDA loads kernel code lazily, on first launch,
// into memory no plan counts) so that F0 of each measured run already holds it.
void warm_up(const Options& o, const Qwen35Dims& dims, cudaStream_t s, cublasHandle_t cublas) {
  for (const std::string& name : o.kv) {
    const KvConfig kv = *parse_kv_name(name);
    const planner::Plan plan = plan_for_device(model_spec_for(dims, "warm-up"), plan_options(o, 4096, kv));
    auto m = Qwen35Gpu::synthetic(dims, 1, plan);
    m->set_cublas_workspace(cublas);
    run_prefill(*m, o.prefill, s);
    fill_and_decode(*m, 256, 3, s);   // short-context attention
    fill_and_decode(*m, 4096, 3, s);  // long-context attention
  }
}

int run(int argc, char** argv) {
  const Options o = parse(argc, argv);
  // F0 of the context: create it, a stream and a cuBLAS handle (the backend's fixed cost).
  check(cudaFree(nullptr), "creating the CUDA context");
  cudaStream_t s = nullptr;
  check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate");
  cublasHandle_t cublas = nullptr;
  check(cublasCreate(&cublas), "cublasCreate");
  check(cublasSetStream(cublas, s), "cublasSetStream");
  const uint64_t total = total_memory();
  const uint64_t context_at_start = total - free_now() - o.others_bytes;
  const std::optional<uint64_t> nvml_at_start = this_process_device_bytes();  // the backend's reading

  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
  int runtime = 0;
  cudaRuntimeGetVersion(&runtime);
  const std::string driver_name = cuda_driver_name();
  Qwen35Dims dims = Qwen35Dims::preset(o.model);
  dims.weight_bits = o.weight_bits;

  warm_up(o, dims, s, cublas);
  const uint64_t context_after_warmup = total - free_now() - o.others_bytes;
  const planner::CudaContextCache cache = o.context_cache.empty() ? planner::CudaContextCache()
                                                                  : planner::CudaContextCache(o.context_cache);
  cache.store(prop.name, driver_name, context_after_warmup);

  nlohmann::json out;
  const std::time_t now = std::time(nullptr);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  out["card"] = prop.name;
  out["driver"] = driver_name;
  out["runtime"] = runtime;
  out["date"] = date;
  out["commit"] = o.commit;
  out["command"] = o.command;
  out["model"] = "synthetic " + o.model + " (HLWQ-Q" + std::to_string(o.weight_bits) + ")";
  out["weight_bits"] = o.weight_bits;
  out["embedding"] = o.embedding_device ? "device" : "host";
  out["total_bytes"] = total;
  out["others_bytes"] = o.others_bytes;
  out["cuda_context_bytes_at_start"] = context_at_start;
  out["cuda_context_bytes"] = context_after_warmup;
  out["nvml_process_bytes_at_start"] = nvml_at_start ? nlohmann::json(*nvml_at_start) : nlohmann::json(nullptr);
  out["cuda_context_note"] = "total - free - others after context, stream, cuBLAS handle and one warm-up run per KV mode "
                             "(lazily loaded kernel code); stored in " + cache.path().string();
  std::printf("card: %s, %s, %.0f MiB total\n", prop.name, driver_name.c_str(), total / kMiB);
  std::printf("CUDA context: %.1f MiB at start, %.1f MiB with every kernel loaded (stored in %s)\n\n",
              context_at_start / kMiB, context_after_warmup / kMiB, cache.path().c_str());
  std::printf("%-6s %8s %14s %14s %10s %8s %11s %7s\n", "kv", "context", "predicted MiB", "F0-F2 MiB", "diff MiB",
              "bound", "F1-F2 MiB", "within");

  nlohmann::json rows = nlohmann::json::array();
  bool all_within = true;
  for (int ctx : o.contexts) {
    for (const std::string& name : o.kv) {
      const KvConfig kv = *parse_kv_name(name);
      nlohmann::json r{{"context", ctx}, {"kv", name}};
      try {
        const uint64_t f0 = free_now();
        const planner::Plan plan = plan_for_device(model_spec_for(dims, "synthetic " + o.model), plan_options(o, ctx, kv));
        auto m = Qwen35Gpu::synthetic(dims, 1234, plan);
        m->set_cublas_workspace(cublas);
        const uint64_t f1 = free_now();
        const int prefilled = run_prefill(*m, o.prefill, s);
        const size_t bad = fill_and_decode(*m, ctx, o.steps, s);
        const uint64_t f2 = free_now();
        const double predicted = double(plan.allocated_bytes());
        const double measured = double(f0) - double(f2);
        const double bound = std::max(0.02 * predicted, 64 * kMiB);
        const bool within = std::fabs(measured - predicted) <= bound && f1 == f2;
        all_within = all_within && within;
        nlohmann::json arenas = nlohmann::json::object();
        for (const planner::Arena& a : plan.arenas) arenas[planner::to_string(a.id)] = a.device_bytes();
        r.update({{"predicted_bytes", plan.allocated_bytes()}, {"measured_bytes", int64_t(f0) - int64_t(f2)},
                  {"f0_free", f0}, {"f1_free", f1}, {"f2_free", f2}, {"after_load_bytes", int64_t(f1) - int64_t(f2)},
                  {"backend_allocated_bytes", m->device_bytes_allocated()}, {"arenas", arenas},
                  {"bound_bytes", bound}, {"within_bound", within}, {"nonfinite_logits", bad}, {"decode_steps", o.steps},
                  {"prefill_tokens", prefilled}});
        std::printf("%-6s %8d %14.1f %14.1f %10.1f %8.0f %11.1f %7s%s\n", name.c_str(), ctx, predicted / kMiB,
                    measured / kMiB, (measured - predicted) / kMiB, bound / kMiB, (double(f1) - double(f2)) / kMiB,
                    within ? "yes" : "NO", bad ? "  NONFINITE" : "");
      } catch (const Error& e) {
        all_within = false;
        r["error"] = std::string(to_string(e.kind())) + ": " + e.what();
        std::printf("%-6s %8d  failed: %s\n", name.c_str(), ctx, e.what());
      }
      std::fflush(stdout);
      rows.push_back(r);
    }
  }
  out["runs"] = rows;
  out["all_within_bound"] = all_within;
  cublasDestroy(cublas);
  cudaStreamDestroy(s);
  if (!o.json_path.empty()) {
    std::ofstream f(o.json_path);
    if (!f) throw_error(ErrorKind::Io, "fit-measure: cannot write ", o.json_path);
    f << out.dump(2) << "\n";
    std::printf("\nwrote %s\n", o.json_path.c_str());
  }
  return all_within ? 0 : 2;
}

}  // namespace
}  // namespace hlwq::cuda

int main(int argc, char** argv) {
  try {
    return hlwq::cuda::run(argc, argv);
  } catch (const hlwq::Error& e) {
    std::fprintf(stderr, "hlwq-fit-measure: %s: %s\n", hlwq::to_string(e.kind()), e.what());
    return 1;
  }
}
