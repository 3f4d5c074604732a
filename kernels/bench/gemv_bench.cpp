// hlwq-gemv-bench: the GEMV (gemv.h) alone per Qwen3.5-27B Linear shape, code width and token
// count, and against the prefill Linear paths (prefill_linear.h) for chunks of 1-8 tokens.
// Per (shape, bits, T) it times, as the median of --repeats runs of 20 launches each over 4
// copies of the matrix (so nothing is served from L2, as in a model):
//   decode:  gemv with the input op the decode step uses for that matrix (fp32 in);
//   rotated: prefill_linear forced to the GEMV path: the prefill's rotated bf16 input (Store,
//            or AddResidual for the residual matrices), one GEMV pass per 8 tokens;
//   onchip / cublas: prefill_linear forced to the on-chip mma.sync GEMM (Q5 only) and to
//            dequantize + cuBLAS, on the same rotated input.
// GB/s = matrix bytes (codes + norms) / time; % copy against the copy bandwidth measured first.
// Past 8 tokens the decode column is left out (one GEMV takes at most 8).
//   hlwq-gemv-bench [--tokens 1,2,4,8] [--bits 5,4,3] [--repeats 7] [--shape gate_up] [--no-prefill] [--json out.json]
#include <cublas_v2.h>
#include <cuda_bf16.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/bench_stats.h"
#include "bench/bench_timer.h"
#include "bench/copy_bandwidth.h"
#include "bench/tool_main.h"
#include "core/error.h"
#include "cuda_check.h"
#include "device_buffer.h"
#include "gemv.h"
#include "prefill_linear.h"
#include "q_matrix.h"
#include "qwen35_gpu.h"

namespace hlwq::cuda {
namespace {

struct Shape {
  const char* name;
  int rows, cols;
  GemvInput decode_in;
  GemvOutput out;
};
// As the decode step calls them (qwen35_gpu.cu enqueue_forward).
constexpr Shape kShapes[] = {
    {"deltanet_in_proj", 16480, 5120, GemvInput::RmsNorm1p, GemvOutput::Store},
    {"attn_qkv", 14336, 5120, GemvInput::RmsNorm1p, GemvOutput::Store},
    {"out_proj", 5120, 6144, GemvInput::GatedNorm, GemvOutput::AddResidual},
    {"gate_up", 34816, 5120, GemvInput::RmsNorm1p, GemvOutput::SwiGlu},
    {"down", 5120, 17408, GemvInput::Plain, GemvOutput::AddResidual},
};
constexpr int kCopies = 4, kLaunches = 20;

std::vector<int> parse_list(const std::string& s) {
  std::vector<int> v;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) v.push_back(std::stoi(item));
  return v;
}

int run(int argc, char** argv) {
  std::vector<int> tokens = {1, 2, 4, 8}, widths = {5, 4, 3};
  int repeats = 7;
  bool prefill = true;
  std::string json_path, only;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--tokens" && i + 1 < argc) tokens = parse_list(argv[++i]);
    else if (a == "--bits" && i + 1 < argc) widths = parse_list(argv[++i]);
    else if (a == "--repeats" && i + 1 < argc) repeats = std::stoi(argv[++i]);
    else if (a == "--json" && i + 1 < argc) json_path = argv[++i];
    else if (a == "--shape" && i + 1 < argc) only = argv[++i];
    else if (a == "--no-prefill") prefill = false;
    else throw_error(ErrorKind::InvalidArgument, "hlwq-gemv-bench: unknown argument ", a);
  }
  cudaStream_t s;
  check(cudaStreamCreate(&s), "cudaStreamCreate");
  cublasHandle_t handle;
  check(cublasCreate(&handle), "cublasCreate");
  cudaDeviceProp prop;
  check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
  const double bw = bench_copy::copy_bandwidth(s, repeats);
  std::printf("card: %s (%d SMs)   device copy bandwidth (read+write): %.0f GB/s\n", prop.name,
              prop.multiProcessorCount, bw / 1e9);
  nlohmann::json out;
  out["card"] = prop.name;
  out["copy_bandwidth_GBps"] = bw / 1e9;
  out["repeats"] = repeats;
  out["launches_per_run"] = kLaunches;

  const int maxT = *std::max_element(tokens.begin(), tokens.end());
  const std::size_t maxK = 17408, maxN = 34816;
  DeviceBuffer codebook(32 * 4, "codebook"), x(std::size_t(maxT) * maxK * 4, "activations"),
      gate(std::size_t(maxT) * maxK * 4, "gate"), normw(maxK * 4, "norm weight"),
      xb(std::size_t(maxT) * maxK * 2, "rotated activations"), y(std::size_t(maxT) * maxN * 4, "outputs");
  fill_uniform(codebook.get<float>(), 32, -2.f, 2.f, 1, s);
  fill_uniform(x.get<float>(), std::size_t(maxT) * maxK, -1.f, 1.f, 2, s);
  fill_uniform(gate.get<float>(), std::size_t(maxT) * maxK, -1.f, 1.f, 3, s);
  fill_uniform(normw.get<float>(), maxK, -0.5f, 0.5f, 4, s);
  fill_uniform(y.get<float>(), std::size_t(maxT) * maxN, -1.f, 1.f, 5, s);
  {
    std::vector<__nv_bfloat16> h(std::size_t(maxT) * maxK);
    for (std::size_t i = 0; i < h.size(); ++i) h[i] = __float2bfloat16(float(int(i * 2654435761u % 2001) - 1000) / 1000.f);
    check(cudaMemcpy(xb.get(), h.data(), h.size() * 2, cudaMemcpyHostToDevice), "rotated activations");
  }

  std::printf("\n%-17s %4s %3s %9s %8s %7s %9s %8s %9s %9s %7s\n", "shape", "bits", "T", "decode ms", "GB/s",
              "% copy", "rotated", "% copy", "onchip ms", "cublas ms", "best");
  nlohmann::json rows = nlohmann::json::array();
  bench_timer::Timer timer;
  for (const Shape& sh : kShapes) {
    if (!only.empty() && only != sh.name) continue;
    for (int bits : widths) {
      const std::size_t bytes = QMatrix::bytes_for(bits, sh.rows, sh.cols);
      std::vector<DeviceBuffer> store;
      std::vector<QMatrix> mats;
      for (int c = 0; c < kCopies; ++c) {
        store.emplace_back(bytes, "matrix");
        mats.push_back(q_matrix_in(store.back().get(), bits, sh.rows, sh.cols));
        fill_random_q(mats.back(), 1234 + c, 0.05f, s);
      }
      const std::size_t scratch_elems = prefill_weight_scratch_elems(std::size_t(sh.rows) * sh.cols, sh.cols, std::size_t(1) << 26);
      DeviceBuffer scratch(scratch_elems * 2, "weight scratch");
      for (int T : tokens) {
        auto gemv_run = [&](int i) {
          GemvArgs a;
          a.w = mats[i % kCopies];
          a.in = x.get<float>();
          a.gate = gate.get<float>();
          a.norm_w = normw.get<float>();
          a.out = y.get<float>();
          a.codebook = codebook.get<float>();
          a.tokens = T;
          gemv(a, sh.decode_in, sh.out, s);
        };
        auto linear = [&](int i, PrefillGemmPath path) {
          PrefillLinearArgs a;
          a.w = mats[i % kCopies];
          a.codebook = codebook.get<float>();
          a.in = xb.get<__nv_bfloat16>();
          a.tokens = T;
          a.out = y.get<float>();
          a.ldo = sh.rows;
          a.accumulate = sh.out == GemvOutput::AddResidual;
          a.scratch = scratch.get<__nv_bfloat16>();
          a.scratch_elems = scratch_elems;
          a.path = path;
          prefill_linear(handle, a, s);
        };
        std::vector<double> dec, rot, onc, cub;
        for (int r = 0; r < repeats + 1; ++r) {  // the first run warms up (attributes, cuBLAS)
          const double d = T <= kGemvMaxTokens ? timer.ms(s, kLaunches, [&](int i) { gemv_run(i); }) : 0.0;
          const double q = timer.ms(s, kLaunches, [&](int i) { linear(i, PrefillGemmPath::Gemv); });
          double o = 0, c = 0;
          if (prefill) {
            if (bits == 5) o = timer.ms(s, kLaunches, [&](int i) { linear(i, PrefillGemmPath::OnChipMmaSync); });
            c = timer.ms(s, kLaunches, [&](int i) { linear(i, PrefillGemmPath::DequantCublas); });
          }
          if (r) {
            dec.push_back(d);
            rot.push_back(q);
            onc.push_back(o);
            cub.push_back(c);
          }
        }
        const double md = bench_stats::median(dec), mq = bench_stats::median(rot), mo = bench_stats::median(onc),
                     mc = bench_stats::median(cub);
        const double gbs = md > 0 ? bytes / (md * 1e-3) / 1e9 : 0.0, gbr = bytes / (mq * 1e-3) / 1e9;
        const char* best = !prefill ? "-" : (mo > 0 && mo < mq && mo < mc) ? "onchip" : mc < mq ? "cublas" : "gemv";
        std::printf("%-17s %4d %3d %9.4f %8.0f %6.1f%% %9.4f %7.1f%% %9.4f %9.4f %7s\n", sh.name, bits, T, md, gbs,
                    100 * gbs * 1e9 / bw, mq, 100 * gbr * 1e9 / bw, mo, mc, best);
        std::fflush(stdout);
        rows.push_back({{"shape", sh.name}, {"rows", sh.rows}, {"cols", sh.cols}, {"bits", bits}, {"tokens", T},
                        {"matrix_bytes", bytes}, {"decode_ms", md}, {"decode_GBps", gbs},
                        {"decode_pct_copy", 100 * gbs * 1e9 / bw}, {"rotated_ms", mq},
                        {"rotated_pct_copy", 100 * gbr * 1e9 / bw}, {"onchip_mma_ms", mo}, {"dequant_cublas_ms", mc},
                        {"best_prefill_path", best}, {"decode_all", dec}, {"rotated_all", rot},
                        {"onchip_all", onc}, {"cublas_all", cub}});
      }
    }
  }
  out["rows"] = rows;
  if (!json_path.empty()) std::ofstream(json_path) << out.dump(1) << "\n";
  cublasDestroy(handle);
  cudaStreamDestroy(s);
  return 0;
}

}  // namespace
}  // namespace hlwq::cuda

int main(int argc, char** argv) {
  return hlwq::cuda::bench_main::run_tool("hlwq-gemv-bench", [&] { return hlwq::cuda::run(argc, argv); });
}
