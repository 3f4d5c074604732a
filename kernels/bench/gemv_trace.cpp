// hlwq-gemv-trace: where a decode GEMV launch's time goes. Replays one graph of the 27B
// decode's GEMVs alone (per layer: in_proj, out_proj, gate/up, down, as enqueue_step orders
// them, the mixers left out; the 27B's shapes, 64 distinct copies, so nothing is re-read from
// L2; constant bytes, which the timing does not depend on) and reads back the per-CTA globaltimer stamps gemv writes
// while GemvTuning::trace is set (kernels/gemv.h). Per matrix kind it prints the mean over
// layers of: the launch's span (last CTA exit to last CTA exit), when the previous launch's
// last CTA left until this one's griddepcontrol.wait released, the prologue, the main loop
// (mean and slowest CTA), the spread of the warps' loop ends inside a CTA, and the epilogue.
// Each configuration of --configs (launch options, kernels/gemv.h GemvTuning) is timed
// untraced and traced in the same process, so one call gives the A/B.
// Usage: hlwq-gemv-trace [--layers N] [--repeats N] [--configs 'pdl=1;pdl=0']
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "cuda_check.h"
#include "device_buffer.h"
#include "gemv.h"
#include "q_matrix.h"
#include "bench/bench_stats.h"

namespace {

using namespace hlwq;
using namespace hlwq::cuda;

using hlwq::cuda::bench_stats::median;

struct Launch {
  int kind;  // 0 in_proj, 1 out_proj, 2 gate_up, 3 down
  uint64_t bytes;
};

const char* kKinds[] = {"in_proj", "out_proj", "gate_up", "down"};

void report(const hlwq::cuda::DeviceBuffer& trace, const std::vector<Launch>& seq, int launches, int ctas, int words) {
  std::vector<unsigned long long> t(size_t(launches) * ctas * words);
  check(cudaMemcpy(t.data(), trace.get(), trace.bytes(), cudaMemcpyDeviceToHost), "trace download");
  // Per launch, in ns relative to the previous launch's last CTA exit.
  struct Acc {
    double n = 0, span = 0, gb = 0, first_in = 0, last_in = 0, table = 0, release = 0, prologue = 0, loop_mean = 0,
           loop_max = 0, loop_min = 0, warp_spread = 0, epilogue = 0, exit_spread = 0, loop_gbps = 0;
  } acc[4];
  double prev_end = 0;
  for (int k = 0; k < launches; ++k) {
    const unsigned long long* L = &t[size_t(k) * ctas * words];
    int n = 0;
    double end = 0, first_in = 1e30, last_in = 0, release = 1e30, table = 0, prologue = 0, lmean = 0, lmax = 0,
           lmin = 1e30, wspread = 0, epi = 0, exit_mean = 0, loop_lo = 1e30, loop_hi = 0;
    for (int c = 0; c < ctas; ++c) {
      const unsigned long long* C = L + size_t(c) * words;
      if (!C[0]) continue;
      ++n;
      const double e0c = double(C[0]), e5 = double(C[5]);
      end = std::max(end, e5);
      first_in = std::min(first_in, e0c);
      last_in = std::max(last_in, e0c);
      release = std::min(release, double(C[2]));
      table += double(C[1]) - e0c;
      prologue += double(C[3]) - double(C[2]);
      const double loop = double(C[4]) - double(C[3]);
      lmean += loop;
      lmax = std::max(lmax, loop);
      lmin = std::min(lmin, loop);
      loop_lo = std::min(loop_lo, double(C[3]));
      loop_hi = std::max(loop_hi, double(C[4]));
      double wlo = 1e30, whi = 0;
      for (int w = 0; w < 16; ++w)
        if (C[8 + w]) wlo = std::min(wlo, double(C[8 + w])), whi = std::max(whi, double(C[8 + w]));
      if (whi > 0) wspread += whi - wlo;
      epi += e5 - double(C[4]);
      exit_mean += e5;
    }
    if (n == 0) continue;
    if (k > 0) {
      Acc& a = acc[seq[k].kind];
      a.n += 1;
      a.span += end - prev_end;
      a.gb += seq[k].bytes / 1e9;
      a.first_in += first_in - prev_end;
      a.last_in += last_in - prev_end;
      a.release += release - prev_end;
      a.table += table / n;
      a.prologue += prologue / n;
      a.loop_mean += lmean / n;
      a.loop_max += lmax;
      a.loop_min += lmin;
      a.warp_spread += wspread / n;
      a.epilogue += epi / n;
      a.exit_spread += end - exit_mean / n;
      a.loop_gbps += seq[k].bytes / (loop_hi - loop_lo);
    }
    prev_end = end;
  }
  std::printf("\nper launch, mean over layers, us (0 = the previous launch's last CTA exit):\n");
  std::printf("%-9s %6s %7s %7s | %6s %6s %6s %6s | %6s | %6s %6s %6s %6s | %6s %6s | %7s\n", "kind", "n", "span",
              "GB/s", "in1st", "inlast", "table", "releas", "prolog", "loopav", "loopmx", "loopmn", "wspred", "epilog",
              "exitsp", "loopGBs");
  for (int k = 0; k < 4; ++k) {
    const Acc& a = acc[k];
    if (!a.n) continue;
    const double d = a.n * 1e3;
    std::printf("%-9s %6.0f %7.2f %7.0f | %6.2f %6.2f %6.2f %6.2f | %6.2f | %6.2f %6.2f %6.2f %6.2f | %6.2f %6.2f | %7.0f\n",
                kKinds[k], a.n, a.span / d, a.gb / (a.span * 1e-9), a.first_in / d, a.last_in / d, a.table / d,
                a.release / d, a.prologue / d, a.loop_mean / d, a.loop_max / d, a.loop_min / d, a.warp_spread / d,
                a.epilogue / d, a.exit_spread / d, a.loop_gbps / a.n);
  }
}

// Device-to-device copy of 1 GiB, read + write bytes over time (as hlwq-cuda-bench).
double copy_gbps(cudaStream_t s) {
  const size_t bytes = size_t(1) << 30;
  DeviceBuffer a(bytes, "copy source"), b(bytes, "copy destination");
  check(cudaMemsetAsync(a.get(), 1, bytes, s), "memset");
  cudaEvent_t e0, e1;
  check(cudaEventCreate(&e0), "event");
  check(cudaEventCreate(&e1), "event");
  std::vector<double> v;
  for (int i = 0; i < 8; ++i) {
    check(cudaEventRecord(e0, s), "record");
    check(cudaMemcpyAsync(b.get(), a.get(), bytes, cudaMemcpyDeviceToDevice, s), "copy");
    check(cudaEventRecord(e1, s), "record");
    check(cudaEventSynchronize(e1), "sync");
    float ms = 0;
    check(cudaEventElapsedTime(&ms, e0, e1), "elapsed");
    if (i >= 2) v.push_back(2.0 * bytes / (ms * 1e-3) / 1e9);
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  return median(v);
}

// "pdl=0" on top of the defaults.
GemvTuning parse_config(const std::string& c, const GemvTuning& base) {
  GemvTuning t = base;
  size_t p = 0;
  while (p < c.size()) {
    size_t q = c.find(',', p);
    if (q == std::string::npos) q = c.size();
    const std::string kv = c.substr(p, q - p);
    const size_t eq = kv.find('=');
    if (eq == std::string::npos) throw_error(ErrorKind::InvalidArgument, "hlwq-gemv-trace: bad option '", kv, "'");
    const std::string k = kv.substr(0, eq);
    const int v = std::stoi(kv.substr(eq + 1));
    if (k == "pdl") t.pdl = v != 0;
    else throw_error(ErrorKind::InvalidArgument, "hlwq-gemv-trace: unknown option '", k, "'");
    p = q + 1;
  }
  return t;
}

int run(int argc, char** argv) {
  int layers = 64, repeats = 20;
  std::string configs = "pdl=1";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--layers" && i + 1 < argc) layers = std::clamp(std::stoi(argv[++i]), 1, 64);
    else if (a == "--repeats" && i + 1 < argc) repeats = std::max(3, std::stoi(argv[++i]));
    else if (a == "--configs" && i + 1 < argc) configs = argv[++i];
    else throw_error(ErrorKind::InvalidArgument, "hlwq-gemv-trace: unknown argument '", a, "'");
  }
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
  cudaStream_t s;
  check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate");
  const double bw = copy_gbps(s);
  std::printf("card: %s (%d SMs)   device copy bandwidth (read+write): %.0f GB/s\n", prop.name,
              prop.multiProcessorCount, bw);

  // 27B: hidden 5120, intermediate 17408, 3 DeltaNet layers (in_proj 16480 rows) then one
  // attention layer (in_proj 14336 rows), out_proj 5120 x 6144 in both.
  const int hidden = 5120, inter = 17408, value = 6144;
  struct Layer {
    QMatrix in_proj, out_proj, gate_up, down;
    bool attn;
  };
  std::vector<DeviceBuffer> store;
  std::vector<Layer> model;
  auto matrix = [&](int rows, int cols) {
    store.emplace_back(QMatrix::bytes_for(5, rows, cols), "synthetic Q5 matrix");
    check(cudaMemset(store.back().get(), 0x3c, store.back().bytes()), "cudaMemset(matrix)");
    return q_matrix_in(store.back().get(), 5, rows, cols);
  };
  for (int l = 0; l < layers; ++l) {
    const bool attn = (l + 1) % 4 == 0;
    model.push_back({matrix(attn ? 14336 : 16480, hidden), matrix(hidden, value), matrix(2 * inter, hidden),
                     matrix(hidden, inter), attn});
  }
  const size_t width = size_t(2 * inter) + 4096;
  DeviceBuffer x(width * 4, "x"), proj(width * 4, "proj"), mix(width * 4, "mix"), h(width * 4, "h"), vec(width * 4, "vectors"),
      codebook(32 * 4, "codebook");
  for (DeviceBuffer* b : {&x, &proj, &mix, &h, &vec, &codebook})
    check(cudaMemset(b->get(), 0x3c, b->bytes()), "cudaMemset(vector)");  // 0.0115f: finite everywhere
  const float* cb = codebook.get<float>();
  const float* nw = vec.get<float>();
  const float eps = 1e-6f;
  std::vector<Launch> seq;
  auto enqueue = [&](bool record) {
    for (size_t l = 0; l < model.size(); ++l) {
      const Layer& w = model[l];
      const GemvArgs in{w.in_proj, x.get<float>(), nullptr, nw, eps, proj.get<float>(), cb};
      const GemvArgs out{w.out_proj, mix.get<float>(), proj.get<float>(), w.attn ? nullptr : nw, eps, x.get<float>(), cb};
      const GemvInput out_in = w.attn ? GemvInput::Plain : GemvInput::GatedNorm;
      const GemvArgs gu{w.gate_up, x.get<float>(), nullptr, nw, eps, h.get<float>(), cb};
      const GemvArgs dn{w.down, h.get<float>(), nullptr, nullptr, eps, x.get<float>(), cb};
      gemv(in, GemvInput::RmsNorm1p, GemvOutput::Store, s);
      gemv(out, out_in, GemvOutput::AddResidual, s);
      gemv(gu, GemvInput::RmsNorm1p, GemvOutput::SwiGlu, s);
      gemv(dn, GemvInput::Plain, GemvOutput::AddResidual, s);
      if (record) {
        const QMatrix* m[4] = {&w.in_proj, &w.out_proj, &w.gate_up, &w.down};
        for (int k = 0; k < 4; ++k) seq.push_back({k, QMatrix::bytes_for(5, m[k]->rows, m[k]->cols)});
      }
    }
  };
  const int words = gemv_trace_words(), ctas = prop.multiProcessorCount;
  const int launches = layers * 4;
  DeviceBuffer trace(size_t(launches) * ctas * words * 8, "trace");
  GemvTuning& tune = gemv_tuning();
  const GemvTuning defaults = tune;
  enqueue(true);  // kernel attributes outside capture
  uint64_t total = 0;
  for (auto& l : seq) total += l.bytes;

  auto time_graph = [&](bool traced) {
    tune.trace = traced ? trace.get<unsigned long long>() : nullptr;
    tune.trace_launches = launches;
    tune.trace_ctas = ctas;
    tune.trace_next = 0;
    if (traced) {  // the traced kernels' attributes, outside capture
      enqueue(false);
      tune.trace_next = 0;
    }
    cudaGraph_t g;
    cudaGraphExec_t ge;
    check(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), "capture");
    enqueue(false);
    check(cudaStreamEndCapture(s, &g), "capture");
    check(cudaGraphInstantiate(&ge, g, 0), "instantiate");
    tune.trace = nullptr;
    cudaEvent_t e0, e1;
    check(cudaEventCreate(&e0), "event");
    check(cudaEventCreate(&e1), "event");
    std::vector<double> ms;
    for (int i = 0; i < repeats + 2; ++i) {
      check(cudaEventRecord(e0, s), "record");
      check(cudaGraphLaunch(ge, s), "graph launch");
      check(cudaEventRecord(e1, s), "record");
      check(cudaEventSynchronize(e1), "sync");
      float m = 0;
      check(cudaEventElapsedTime(&m, e0, e1), "elapsed");
      if (i >= 2) ms.push_back(m);
    }
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    cudaGraphExecDestroy(ge);
    cudaGraphDestroy(g);
    const double med = median(ms);
    std::printf("  %-8s graph of %d GEMVs: %.3f ms (median of %d, min %.3f, max %.3f) = %.0f GB/s = %.1f %% of copy, "
                "%.2f us per launch\n",
                traced ? "traced" : "untraced", launches, med, repeats, *std::min_element(ms.begin(), ms.end()),
                *std::max_element(ms.begin(), ms.end()), total / (med * 1e-3) / 1e9,
                100.0 * total / (med * 1e-3) / 1e9 / bw, med * 1e3 / launches);
  };

  size_t p = 0;
  while (p <= configs.size()) {
    size_t q = configs.find(';', p);
    if (q == std::string::npos) q = configs.size();
    const std::string c = configs.substr(p, q - p);
    p = q + 1;
    if (c.empty()) continue;
    tune = parse_config(c, defaults);
    std::printf("\nconfig %s: pdl %d; %.1f MB of weights per graph, ideal at copy %.3f ms\n", c.c_str(), int(tune.pdl),
                total / 1e6, total / (bw * 1e9) * 1e3);
    time_graph(false);
    check(cudaMemset(trace.get(), 0, trace.bytes()), "cudaMemset(trace)");
    time_graph(true);
    report(trace, seq, launches, ctas, words);
  }
  tune = defaults;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const hlwq::Error& e) {
    std::fprintf(stderr, "hlwq-gemv-trace: %s: %s\n", hlwq::to_string(e.kind()), e.what());
    return 1;
  }
}
