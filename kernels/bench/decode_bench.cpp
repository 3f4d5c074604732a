#include "bench/decode_bench.h"

#include <cuda_bf16.h>
#include <cuda_profiler_api.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "bench/bench_args.h"
#include "core/error.h"
#include "cuda_check.h"
#include "device_buffer.h"
#include "gemv.h"
#include "prefill_gemm.h"
#include "q_dequant.h"
#include "qwen35_gpu.h"
#include "sampling.h"
#include "bench/bench_stats.h"
#include "bench/bench_timer.h"
#include "bench/copy_bandwidth.h"

namespace hlwq::cuda {
namespace {

struct Options {
  std::string model = "27B";
  int weight_bits = 5;  // every Linear's width in the synthetic model
  std::vector<int> contexts = {0, 4096, 32768, 131072};
  std::vector<std::string> kv = {"fp16", "q4", "q3", "q2"};
  std::vector<int> prefill = {512, 4096};
  int repeats = 20;
  std::string json_path;
  std::string commit = "unknown";
  std::string command;
  bool embedding_on_host = true;
  bool profile = false;   // per-kernel breakdown of one eager step per decode cell
  bool ncu_step = false;  // cudaProfilerStart/Stop around one eager step per cell (ncu --profile-from-start off)
  bool sampler = false;   // per cell: decode_and_sample's two paths (GPU sampler after / inside the graph)
  bool drop = false;      // per cell: the graph's time with each kind of kernel left out
};

std::vector<std::string> split(const std::string& s) { return bench_args::split(s); }
int to_int(const std::string& option, const std::string& v) { return int(bench_args::to_int("bench", option, v)); }

Options parse(const std::vector<std::string>& args) {
  Options o;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= args.size()) throw_error(ErrorKind::InvalidArgument, "bench: ", a, " needs a value");
      return args[++i];
    };
    if (a == "--help" || a == "-h") {
      std::puts(
          "hlwq bench [--model 27B|9B|4B|2B|0.8B] [--weight-bits 5|4|3] [--contexts 0,4096,32768,131072]\n"
          "           [--kv fp16,q4,q3,q2 (or q5)]\n"
          "           [--prefill 512,4096] [--repeats N] [--embedding host|device] [--json FILE]\n"
          "           [--commit HASH] [--command TEXT] [--profile] [--ncu-step] [--sampler]\n"
          "           [--drop-profile]\n"
          "Synthetic Qwen3.5 with random codes (5 bits unless --weight-bits) built in VRAM; decode tok/s per KV mode and context,\n"
          "prefill linear-layer throughput vs cuBLAS bf16, copy bandwidth, bytes/token, peak VRAM.\n"
          "--profile: per decode cell, where one step's time goes (CUDA events between the kernels of an\n"
          "eager step, summed per kind) against the graph's time. --ncu-step: one eager step per cell\n"
          "between cudaProfilerStart/Stop, for ncu --profile-from-start off. --sampler: per cell, host wall\n"
          "time per token of the backend's decode_and_sample paths (GPU sampler after the graph / inside it).\n"
          "--drop-profile: per cell, the graph's time with each kind of kernel left out (wrong logits, but\n"
          "what the kind costs inside the graph, overlap included).");
      std::exit(0);
    } else if (a == "--model") o.model = value();
    else if (a == "--contexts") { o.contexts.clear(); for (auto& s : split(value())) o.contexts.push_back(to_int(a, s)); }
    else if (a == "--kv") o.kv = split(value());
    else if (a == "--prefill") { o.prefill.clear(); for (auto& s : split(value())) o.prefill.push_back(to_int(a, s)); }
    else if (a == "--repeats") o.repeats = std::max(3, to_int(a, value()));
    else if (a == "--json") o.json_path = value();
    else if (a == "--commit") o.commit = value();
    else if (a == "--command") o.command = value();
    else if (a == "--weight-bits") o.weight_bits = to_int(a, value());
    else if (a == "--profile") o.profile = true;
    else if (a == "--ncu-step") o.ncu_step = true;
    else if (a == "--sampler") o.sampler = true;
    else if (a == "--drop-profile") o.drop = true;
    else if (a == "--embedding") {
      const std::string v = value();
      if (v != "host" && v != "device") throw_error(ErrorKind::InvalidArgument, "bench: --embedding is host or device, got '", v, "'");
      o.embedding_on_host = v == "host";
    } else throw_error(ErrorKind::InvalidArgument, "bench: unknown option '", a, "' (see --help)");
  }
  if (!q_bits_supported(o.weight_bits))
    throw_error(ErrorKind::InvalidArgument, "bench: --weight-bits is 5, 4 or 3, got ", std::to_string(o.weight_bits));
  return o;
}

int kv_bits(const std::string& name) {
  if (name == "fp16") return 16;
  if (name == "q5") return 5;
  if (name == "q4") return 4;
  if (name == "q3") return 3;
  if (name == "q2") return 2;
  throw_error(ErrorKind::InvalidArgument, "bench: --kv accepts fp16, q5, q4, q3, q2; got '", name, "'");
}

using hlwq::cuda::bench_stats::median;
using hlwq::cuda::bench_timer::Timer;

// Logits of the last step that are NaN or infinite: every timed cell must produce usable ones.
size_t nonfinite_logits(const Qwen35Gpu& model) {
  std::vector<float> logits(model.dims().vocab);
  check(cudaMemcpy(logits.data(), model.logits_dev(), logits.size() * 4, cudaMemcpyDeviceToHost), "logits");
  size_t bad = 0;
  for (float v : logits) bad += !std::isfinite(v);
  return bad;
}

uint64_t used_vram() {
  size_t free_b = 0, total = 0;
  check(cudaMemGetInfo(&free_b, &total), "cudaMemGetInfo");
  return total - free_b;
}

// Device-to-device copy of 2 GiB, bytes read plus bytes written (the tools' one reference).
using bench_copy::copy_bandwidth;

// Where one decode step's time goes: an eager step with an event recorded after each kernel
// (group) the model names through its step probe, summed per label; median over `repeats`
// steps. A host callback holds the stream for 5 ms first so that every launch is queued before
// the GPU reaches it: the intervals are device time (kernel + the gap to the next), not the
// host's launch rate. The events serialize the kernels, so programmatic-launch overlap is lost
// here; graph_ms - sum is what the graph gains from it or loses to launch gaps and dependency latency.
nlohmann::json profile_step(Qwen35Gpu& model, cudaStream_t s, bool long_context, int repeats, double graph_ms) {
  std::vector<cudaEvent_t> ev;
  auto event = [&](size_t i) {
    while (ev.size() <= i) {
      cudaEvent_t e;
      check(cudaEventCreate(&e), "cudaEventCreate(profile)");
      ev.push_back(e);
    }
    return ev[i];
  };
  std::vector<std::string> order;                  // labels in order of first appearance
  std::map<std::string, std::vector<double>> per;  // label -> its total ms in each repeat
  std::map<std::string, int> launches;             // label -> occurrences per step
  std::vector<double> totals;
  for (int r = 0; r < repeats; ++r) {
    std::vector<std::string> labels;
    check(cudaLaunchHostFunc(s, [](void*) { std::this_thread::sleep_for(std::chrono::milliseconds(5)); }, nullptr),
          "cudaLaunchHostFunc(profile hold)");
    check(cudaEventRecord(event(0), s), "cudaEventRecord(profile)");
    model.set_step_probe([&](const char* label) {
      labels.emplace_back(label);
      check(cudaEventRecord(event(labels.size()), s), "cudaEventRecord(profile)");
    });
    model.enqueue_step(s, long_context);
    model.set_step_probe(nullptr);
    check(cudaStreamSynchronize(s), "profile step");
    std::map<std::string, double> sum;
    std::map<std::string, int> count;
    double total = 0;
    for (size_t i = 0; i < labels.size(); ++i) {
      float ms = 0;
      check(cudaEventElapsedTime(&ms, ev[i], ev[i + 1]), "cudaEventElapsedTime(profile)");
      if (!sum.count(labels[i]) && !per.count(labels[i])) order.push_back(labels[i]);
      sum[labels[i]] += ms;
      ++count[labels[i]];
      total += ms;
    }
    for (auto& [k, v] : sum) per[k].push_back(v);
    launches = count;
    totals.push_back(total);
  }
  for (cudaEvent_t e : ev) cudaEventDestroy(e);
  nlohmann::json rows = nlohmann::json::array();
  const double total = median(totals);
  std::printf("   %-44s %6s %10s %10s %8s\n", "step profile (eager, events)", "calls", "ms/step", "us/call", "% graph");
  for (const std::string& k : order) {
    const double ms = median(per[k]);
    std::printf("   %-44s %6d %10.3f %10.2f %7.1f%%\n", k.c_str(), launches[k], ms, 1e3 * ms / launches[k],
                100.0 * ms / graph_ms);
    rows.push_back({{"what", k}, {"calls", launches[k]}, {"ms", ms}, {"us_per_call", 1e3 * ms / launches[k]}});
  }
  std::printf("   %-44s %6s %10.3f %10s %7.1f%%\n", "sum (eager step, serialized)", "", total, "", 100.0 * total / graph_ms);
  std::printf("   %-44s %6s %10.3f %10s %7.1f%%\n", "graph step (timed above)", "", graph_ms, "", 100.0);
  std::printf("   %-44s %6s %10.3f\n", "graph - sum", "", graph_ms - total);
  return {{"method", "eager step, cudaEventRecord after each kernel group, 5 ms host hold first; median of repeats"},
          {"repeats", repeats}, {"rows", rows}, {"sum_ms", total}, {"graph_ms", graph_ms}};
}

// What each kind of kernel costs inside the graph: the graph's time with that kind left out
// (Qwen35Gpu::set_step_drop), median of `repeats`, subtracted from the full graph's. Unlike the
// eager profile this includes the overlap (programmatic launches) and the dependency latency
// each kind adds; the sum over kinds need not equal the step. The device position advances
// with each step, so the cells' capacity covers these steps too.
nlohmann::json drop_profile(Qwen35Gpu& model, cudaStream_t s, int pos, int repeats, double graph_ms) {
  struct Kind {
    const char* name;
    unsigned mask;
  };
  const Kind kinds[] = {{"embedding", Qwen35Gpu::kDropEmbedding},
                        {"DeltaNet step (48)", Qwen35Gpu::kDropDeltaNet},
                        {"attention decode (16 x prep + split + combine)", Qwen35Gpu::kDropAttention},
                        {"sampler (greedy)", Qwen35Gpu::kDropSampler},
                        {"every GEMV", Qwen35Gpu::kDropGemv},
                        {"all but the GEMVs", Qwen35Gpu::kDropEmbedding | Qwen35Gpu::kDropDeltaNet |
                                                  Qwen35Gpu::kDropAttention | Qwen35Gpu::kDropSampler}};
  nlohmann::json rows = nlohmann::json::array();
  Timer t;
  std::printf("   %-48s %10s %12s\n", "graph without (drop profile)", "ms/step", "its cost ms");
  for (const Kind& k : kinds) {
    model.set_step_drop(k.mask);
    std::vector<double> ms;
    for (int i = 0; i < repeats + 2; ++i) {
      t.start(s);
      model.step_graph(s, pos++);
      const double m = t.stop_ms(s);
      if (i >= 2) ms.push_back(m);
    }
    const double med = median(ms);
    std::printf("   %-48s %10.3f %12.3f\n", k.name, med, graph_ms - med);
    rows.push_back({{"without", k.name}, {"graph_ms", med}, {"cost_ms", graph_ms - med}});
  }
  model.set_step_drop(0);
  return {{"method", "graph time with one kind of kernel left out, median of repeats; cost = full graph - that"},
          {"full_graph_ms", graph_ms}, {"rows", rows}};
}

// CudaBackend::decode_and_sample's two paths on this model, host wall time per token (what a
// chat waits for): the GPU sampler launched after the step graph (set_input with its sync,
// the greedy graph, the draw, the id copy and sync), and inside the sampled graph (stage, one
// graph launch, sync). Default sampling (T 0.7, top-k 20, top-p 0.95) with a repetition
// penalty over the growing history; each path runs `repeats` tokens from position `pos`.
nlohmann::json sampler_paths(Qwen35Gpu& model, cudaStream_t s, int pos, int repeats, double graph_ms) {
  GpuSampler sampler(model.dims().vocab);
  GpuSamplingParams p;
  p.repetition_penalty = 1.1f;
  std::vector<int32_t> history = {11, 12, 13};
  int32_t token = 11;
  // The three paths token by token in turn (so drift over time hits them alike); per token the
  // host's wall time and the device time between events recorded before the first and after
  // the last of its stream work.
  const char* names[3] = {"greedy graph (set_input + graph + sync)", "GPU sampler after the graph",
                          "GPU sampler inside the graph (one launch)"};
  std::vector<double> wall[3], dev[3], launch[3];
  cudaEvent_t e0, e1;
  check(cudaEventCreate(&e0), "cudaEventCreate");
  check(cudaEventCreate(&e1), "cudaEventCreate");
  for (int i = 0; i < 3 * (repeats + 2); ++i, ++pos) {
    const int path = i % 3;
    history.push_back(token);
    const float u = float(i % 97) / 97.0f;
    const auto t0 = std::chrono::steady_clock::now();
    std::chrono::steady_clock::time_point l0, l1;
    check(cudaEventRecord(e0, s), "cudaEventRecord");
    if (path == 2) {
      sampler.stage(model.logits_dev(), p, history.data(), history.size(), u, s);
      l0 = std::chrono::steady_clock::now();
      model.sampled_step_graph(s, token, pos, sampler);
      l1 = std::chrono::steady_clock::now();
      check(cudaEventRecord(e1, s), "cudaEventRecord");
      check(cudaStreamSynchronize(s), "sampled step");
      token = sampler.result();
    } else {
      model.set_input(token, pos, s);
      l0 = std::chrono::steady_clock::now();
      model.step_graph(s, pos);
      l1 = std::chrono::steady_clock::now();
      if (path == 1) {
        sampler.enqueue(model.logits_dev(), p, history.data(), history.size(), u, s);
        check(cudaEventRecord(e1, s), "cudaEventRecord");
        check(cudaStreamSynchronize(s), "GPU sampler");
        token = sampler.result();
      } else {
        check(cudaEventRecord(e1, s), "cudaEventRecord");
        check(cudaStreamSynchronize(s), "greedy step");
        token = 11 + i % 7;
      }
    }
    const auto t1 = std::chrono::steady_clock::now();
    float ms = 0;
    check(cudaEventElapsedTime(&ms, e0, e1), "cudaEventElapsedTime");
    if (i >= 6) {
      wall[path].push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
      dev[path].push_back(1e3 * ms);
      launch[path].push_back(std::chrono::duration<double, std::micro>(l1 - l0).count());
    }
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  nlohmann::json rows = nlohmann::json::array();
  std::printf("   %-44s %12s %12s %14s  (T0.7 k20 p0.95 rep1.1, paths in turn)\n", "per token", "host wall ms",
              "device ms", "launch call us");
  for (int k = 0; k < 3; ++k) {
    const double w = median(wall[k]) / 1e3, d = median(dev[k]) / 1e3, l = median(launch[k]);
    std::printf("   %-44s %12.3f %12.3f %14.0f\n", names[k], w, d, l);
    rows.push_back({{"path", names[k]}, {"host_wall_ms", w}, {"device_ms", d}, {"launch_call_us", l}});
  }
  return {{"rows", rows}, {"greedy_graph_ms", graph_ms},
          {"method", "the three paths token by token in turn; host steady_clock per token and CUDA events around "
                     "its stream work, medians of repeats; sampler T 0.7 top-k 20 top-p 0.95 repetition 1.1"}};
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

}  // namespace

int run_bench(const std::vector<std::string>& args) {
  const Options opt = parse(args);
  for (auto& k : opt.kv) kv_bits(k);  // validate before the long build
  require_device();
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
  cudaStream_t s = nullptr;
  check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate");

  nlohmann::json out;
  const std::time_t now = std::time(nullptr);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  out["card"] = prop.name;
  out["sms"] = prop.multiProcessorCount;
  out["date"] = date;
  out["commit"] = opt.commit;
  out["command"] = opt.command;
  out["model"] = opt.model;
  out["weight_bits"] = opt.weight_bits;
  out["embedding"] = opt.embedding_on_host ? "host" : "device";

  const uint64_t vram_base = used_vram();
  const double bw = copy_bandwidth(s, opt.repeats);
  out["copy_bandwidth_GBps"] = bw / 1e9;
  std::printf("card: %s (%d SMs)   device copy bandwidth (read+write): %.0f GB/s\n", prop.name,
              prop.multiProcessorCount, bw / 1e9);

  Qwen35Dims dims = Qwen35Dims::preset(opt.model);
  dims.weight_bits = opt.weight_bits;
  const auto t0 = std::chrono::steady_clock::now();
  auto model = Qwen35Gpu::synthetic(dims, 1234, opt.embedding_on_host);
  const double build_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  out["weights_bytes"] = model->weight_bytes();
  out["vram_before_model_bytes"] = vram_base;
  std::printf("synthetic %s at Q%d: %.2f GB of weights on the GPU (codes + norms + vectors), built in %.1f s\n",
              opt.model.c_str(), opt.weight_bits, model->weight_bytes() / 1e9, build_s);

  // GEMV bandwidth alone: each layer's matrices are distinct (no L2 reuse), one graph.
  try {
    model->allocate_cache(64, 16, 16);
    DeviceBuffer in(size_t(dims.intermediate) * 4, "gemv bench input"), o(size_t(2 * dims.intermediate) * 4, "gemv bench output");
    fill_uniform(in.get<float>(), dims.intermediate, -1.f, 1.f, 5, s);
    nlohmann::json gj = nlohmann::json::array();
    std::printf("\n%-28s %10s %12s %8s\n", "GEMV (all layers, one graph)", "ms", "GB/s", "% copy");
    for (int which = 0; which < 3; ++which) {
      const char* name = which == 0 ? "gate_up 2x17408x5120" : which == 1 ? "down 5120x17408" : "in_proj (all layers)";
      auto run = [&] {
        for (auto& l : model->layers()) {
          const QWeight& w = which == 0 ? l.gate_up : which == 1 ? l.down : l.in_proj;
          GemvArgs a{w.m, in.get<float>(), nullptr, nullptr, 1e-6f, o.get<float>(), w.codebook};
          gemv(a, GemvInput::Plain, which == 0 ? GemvOutput::SwiGlu : which == 1 ? GemvOutput::AddResidual : GemvOutput::Store, s);
        }
      };
      run();  // sets kernel attributes outside capture
      cudaGraph_t g;
      cudaGraphExec_t ge;
      check(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), "capture");
      run();
      check(cudaStreamEndCapture(s, &g), "capture");
      check(cudaGraphInstantiate(&ge, g, 0), "instantiate");
      uint64_t bytes = 0;
      for (auto& l : model->layers()) {
        const QMatrix& m = which == 0 ? l.gate_up.m : which == 1 ? l.down.m : l.in_proj.m;
        bytes += QMatrix::bytes_for(m.bits, m.rows, m.cols);
      }
      Timer t;
      std::vector<double> ms;
      for (int i = 0; i < opt.repeats + 2; ++i) {
        t.start(s);
        check(cudaGraphLaunch(ge, s), "graph launch");
        const double m = t.stop_ms(s);
        if (i >= 2) ms.push_back(m);
      }
      cudaGraphExecDestroy(ge);
      cudaGraphDestroy(g);
      const double med = median(ms);
      const double gbps = bytes / (med * 1e-3) / 1e9;
      std::printf("%-28s %10.3f %12.0f %7.1f%%\n", name, med, gbps, 100.0 * gbps * 1e9 / bw);
      gj.push_back({{"name", name}, {"ms", med}, {"bytes", bytes}, {"GBps", gbps}, {"fraction_of_copy", gbps * 1e9 / bw}});
    }
    out["gemv"] = gj;
  } catch (const Error& e) {  // a width the GEMV does not take yet: the rest of the bench still runs
    out["gemv"] = {{"error", std::string(to_string(e.kind())) + ": " + e.what()}};
    std::printf("GEMV skipped: %s\n", e.what());
  }

  // Decode per KV mode and context.
  nlohmann::json dj = nlohmann::json::array();
  std::printf("\n%-6s %8s %10s %10s %12s %10s %10s %9s\n", "kv", "context", "ms/token", "tok/s", "bytes/token",
              "roofline", "% roofline", "VRAM GB");
  for (const std::string& kv : opt.kv) {
    const int bits = kv_bits(kv);
    for (int ctx : opt.contexts) {
      nlohmann::json r{{"kv", kv}, {"context", ctx}};
      try {
        model->allocate_cache(
            ctx + opt.repeats + 16 + (opt.profile || opt.ncu_step ? 16 : 0) + (opt.sampler ? 3 * opt.repeats + 12 : 0) +
                (opt.drop ? 6 * (opt.repeats + 2) : 0),
            bits, bits);
        model->fake_history(ctx, 77 + ctx);
        model->enqueue_step(s, ctx >= Qwen35Gpu::kLongContext);  // eager warm-up: attributes set outside capture
        for (int i = 0; i < 2; ++i) model->step_graph(s, ctx + 1 + i);
        check(cudaStreamSynchronize(s), "decode warm-up");
        const uint64_t vram = used_vram();
        Timer t;
        std::vector<double> ms;
        for (int i = 0; i < opt.repeats; ++i) {
          t.start(s);
          model->step_graph(s, ctx + 3 + i);
          ms.push_back(t.stop_ms(s));
        }
        const size_t bad = nonfinite_logits(*model);
        const double med = median(ms);
        const uint64_t bpt = model->bytes_per_token(ctx);
        const double roof = bw / bpt;
        r.update({{"ms_per_token", med}, {"tokens_per_s", 1e3 / med}, {"bytes_per_token", bpt},
                  {"roofline_tokens_per_s", roof}, {"fraction_of_roofline", (1e3 / med) / roof},
                  {"vram_used_bytes", vram}, {"kv_bytes", model->kv_bytes_allocated()},
                  {"state_bytes", model->state_bytes()}, {"nonfinite_logits", bad}, {"ms_all", ms}});
        std::printf("%-6s %8d %10.3f %10.1f %12.3e %10.1f %9.1f%% %9.2f%s\n", kv.c_str(), ctx, med, 1e3 / med,
                    double(bpt), roof, 100.0 * (1e3 / med) / roof, vram / 1e9, bad ? "  NONFINITE" : "");
        if (opt.profile) r["profile"] = profile_step(*model, s, ctx >= Qwen35Gpu::kLongContext, 5, med);
        if (opt.drop) r["drop_profile"] = drop_profile(*model, s, ctx + 3 + opt.repeats + 8, opt.repeats, med);
        if (opt.sampler)
          r["decode_and_sample"] =
              sampler_paths(*model, s, ctx + 3 + opt.repeats + 8 + (opt.drop ? 6 * (opt.repeats + 2) : 0), opt.repeats, med);
        if (opt.ncu_step) {  // one eager step for ncu (--profile-from-start off)
          check(cudaStreamSynchronize(s), "ncu step");
          check(cudaProfilerStart(), "cudaProfilerStart");
          model->enqueue_step(s, ctx >= Qwen35Gpu::kLongContext);
          check(cudaStreamSynchronize(s), "ncu step");
          check(cudaProfilerStop(), "cudaProfilerStop");
        }
      } catch (const Error& e) {
        r["error"] = std::string(to_string(e.kind())) + ": " + e.what();
        std::printf("%-6s %8d  skipped: %s\n", kv.c_str(), ctx, e.what());
      }
      std::fflush(stdout);
      dj.push_back(r);
    }
  }
  out["decode"] = dj;
  model->allocate_cache(16, 16, 16);  // give the cache memory back for prefill

  // Prefill linear layers: dequantize + cuBLAS, against cuBLAS on ready bf16 weights.
  nlohmann::json pj = nlohmann::json::array();
  if (!opt.prefill.empty()) {
    cublasHandle_t handle;
    check(cublasCreate(&handle), "cublasCreate");
    check(cublasSetStream(handle, s), "cublasSetStream");
    const int maxT = *std::max_element(opt.prefill.begin(), opt.prefill.end());
    size_t maxK = 0, maxN = 0, maxW = 0;
    std::map<std::pair<int, int>, DeviceBuffer> ref_w;
    for (auto& l : model->layers())
      for (const QMatrix* m : {&l.in_proj.m, &l.out_proj.m, &l.gate_up.m, &l.down.m}) {
        maxK = std::max<size_t>(maxK, m->cols);
        maxN = std::max<size_t>(maxN, m->rows);
        maxW = std::max<size_t>(maxW, size_t(m->rows) * m->cols);
        auto key = std::make_pair(m->rows, m->cols);
        if (!ref_w.count(key)) {
          ref_w.emplace(key, DeviceBuffer(size_t(m->rows) * m->cols * 2, "cuBLAS reference weight"));
          dequantize_rotated(*m, model->codebook_dev(m->bits), ref_w.at(key).get<__nv_bfloat16>(), s);
        }
      }
    DeviceBuffer x(size_t(maxT) * maxK * 2, "prefill activations"), xr(size_t(maxT) * maxK * 2, "rotated activations"),
        y(size_t(maxT) * maxN * 2, "prefill outputs"), wscratch(maxW * 2, "dequantized weight scratch");
    {  // random bf16 activations in [-1, 1)
      std::vector<uint16_t> h(size_t(maxT) * maxK);
      uint64_t st = 99;
      for (auto& v : h) {
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        v = __bfloat16_as_ushort(__float2bfloat16(float((st >> 40) & 0xffff) / 32768.0f - 1.0f));
      }
      check(cudaMemcpy(x.get(), h.data(), h.size() * 2, cudaMemcpyHostToDevice), "cudaMemcpy(prefill activations)");
    }
    std::printf("\n%-8s %14s %14s %12s %14s\n", "prefill", "ours tok/s", "cuBLAS tok/s", "ours/cuBLAS", "TFLOP/s cuBLAS");
    for (int T : opt.prefill) {
      double flops = 0;
      for (auto& l : model->layers())
        for (const QMatrix* m : {&l.in_proj.m, &l.out_proj.m, &l.gate_up.m, &l.down.m})
          flops += 2.0 * T * m->rows * m->cols;
      auto ours = [&] {
        for (auto& l : model->layers())
          for (const QMatrix* m : {&l.in_proj.m, &l.out_proj.m, &l.gate_up.m, &l.down.m}) {
            rotate_rows_bf16(x.get<__nv_bfloat16>(), xr.get<__nv_bfloat16>(), T, m->cols, s);
            dequantize_rotated(*m, model->codebook_dev(m->bits), wscratch.get<__nv_bfloat16>(), s);
            gemm_bf16_xwt(handle, xr.get<__nv_bfloat16>(), wscratch.get<__nv_bfloat16>(), y.get<__nv_bfloat16>(), T,
                          m->rows, m->cols);
          }
      };
      auto base = [&] {
        for (auto& l : model->layers())
          for (const QMatrix* m : {&l.in_proj.m, &l.out_proj.m, &l.gate_up.m, &l.down.m})
            gemm_bf16_xwt(handle, x.get<__nv_bfloat16>(), ref_w.at({m->rows, m->cols}).get<__nv_bfloat16>(),
                          y.get<__nv_bfloat16>(), T, m->rows, m->cols);
      };
      Timer t;
      std::vector<double> a, b;
      for (int i = 0; i < 4; ++i) {
        t.start(s); ours(); const double ma = t.stop_ms(s);
        t.start(s); base(); const double mb = t.stop_ms(s);
        if (i) { a.push_back(ma); b.push_back(mb); }
      }
      const double ma = median(a), mb = median(b);
      std::printf("%-8d %14.0f %14.0f %11.1f%% %14.0f\n", T, T / (ma * 1e-3), T / (mb * 1e-3), 100.0 * mb / ma,
                  flops / (mb * 1e-3) / 1e12);
      pj.push_back({{"tokens", T}, {"ours_ms", ma}, {"cublas_bf16_ms", mb}, {"ours_tokens_per_s", T / (ma * 1e-3)},
                    {"cublas_tokens_per_s", T / (mb * 1e-3)}, {"fraction_of_cublas", mb / ma},
                    {"cublas_TFLOPs", flops / (mb * 1e-3) / 1e12}, {"scope", "linear layers of all 64 blocks (no lm_head, no mixers)"}});
    }
    cublasDestroy(handle);
  }
  out["prefill"] = pj;

  // Full-model prefill (Qwen35Gpu::prefill: embedding rows, every layer with its mixer, the
  // last row through lm_head) of a T-token prompt from position 0, in chunks of 512 rows.
  nlohmann::json fj = nlohmann::json::array();
  std::vector<std::pair<int, int>> runs;  // (tokens, chunk): the default 512 rows, and the whole prompt at once
  for (int T : opt.prefill) {
    runs.emplace_back(T, 512);
    if (T > 512) runs.emplace_back(T, T);
  }
  for (auto [T, chunk] : runs) {
    const std::string kv = opt.kv.empty() ? "fp16" : opt.kv.front();
    model->set_prefill_chunk(chunk);
    nlohmann::json r{{"tokens", T}, {"kv", kv}, {"chunk", chunk}};
    try {
      model->allocate_cache(T + 16, kv_bits(kv), kv_bits(kv));
      std::vector<int32_t> ids(static_cast<size_t>(T));
      uint64_t st = 7;
      for (auto& id : ids) {
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        id = int32_t((st >> 33) % uint64_t(dims.vocab));
      }
      model->prefill(ids.data(), T, 0, s);  // warm-up: scratch, cuBLAS heuristics
      check(cudaStreamSynchronize(s), "prefill warm-up");
      Timer t;
      std::vector<double> ms;
      for (int i = 0; i < std::max(3, opt.repeats / 4); ++i) {
        t.start(s);
        model->prefill(ids.data(), T, 0, s);  // rewrites the same cache slots; the state just runs on
        ms.push_back(t.stop_ms(s));
      }
      const size_t bad = nonfinite_logits(*model);
      const double med = median(ms);
      r.update({{"ms", med}, {"tokens_per_s", T / (med * 1e-3)}, {"ms_all", ms}, {"nonfinite_logits", bad},
                {"vram_used_bytes", used_vram()},
                {"scope", "whole model: embedding, all layers incl. DeltaNet/attention mixers, lm_head of the last row"}});
      std::printf("%s%-8d %14.0f tok/s  full model (mixers included, kv %s, chunk %d)%s\n", fj.empty() ? "\n" : "", T,
                  T / (med * 1e-3), kv.c_str(), model->prefill_chunk(), bad ? "  NONFINITE" : "");
      nlohmann::json stages = nlohmann::json::array();  // one extra run with events between stages
      for (auto& [stage, ms_stage] : model->prefill_stage_ms(ids.data(), T, s)) {
        std::printf("         %-28s %9.2f ms\n", stage.c_str(), ms_stage);
        stages.push_back({{"stage", stage}, {"ms", ms_stage}});
      }
      r["stages_ms"] = stages;
    } catch (const Error& e) {
      r["error"] = std::string(to_string(e.kind())) + ": " + e.what();
      std::printf("prefill %d skipped: %s\n", T, e.what());
    }
    fj.push_back(r);
  }
  out["prefill_full_model"] = fj;
  check(cudaStreamSynchronize(s), "bench end");
  cudaStreamDestroy(s);
  if (!opt.json_path.empty()) {
    std::ofstream f(opt.json_path);
    if (!f) throw_error(ErrorKind::Io, "bench: cannot write ", opt.json_path);
    f << out.dump(2) << "\n";
    std::printf("\nwrote %s\n", opt.json_path.c_str());
  }
  return 0;
}

}  // namespace hlwq::cuda
