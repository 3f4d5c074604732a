// hlwq-prefill-gemm-bench: the two prefill Linear paths (codes decoded on chip,
// prefill_gemm_q5; dequantize + cuBLAS, prefill_linear's slice loop) against cuBLAS on ready
// bf16 weights, per Qwen3.5-27B Linear shape and token count, on random codes. The 27B sum
// weights each shape by its count in the 64 layers (48 DeltaNet, 16 attention). Each matrix
// has 4 copies cycled through so the smaller ones are not served from L2 (as in a model).
//   hlwq-prefill-gemm-bench [--tokens 1,64,512,4096] [--repeats 5] [--shape gate_up] [--json out.json]
#include <cublas_v2.h>
#include <cuda_bf16.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "cuda_check.h"
#include "device_buffer.h"
#include "prefill_gemm_q5.h"
#include "prefill_gemm_q5_wgmma.h"
#include "prefill_linear.h"
#include "q_dequant.h"
#include "bench/bench_inputs.h"
#include "bench/copy_bandwidth.h"
#include "bench/bench_stats.h"
#include "bench/bench_timer.h"
#include "bench/tool_main.h"

namespace hlwq::cuda {
namespace {

struct Shape {
  const char* name;
  int rows, cols, count;  // count: matrices of this shape in the 27B model
};
constexpr Shape kShapes[] = {
    {"deltanet_in_proj", 16480, 5120, 48}, {"attn_qkv", 14336, 5120, 16}, {"out_proj", 5120, 6144, 64},
    {"gate_up", 34816, 5120, 64},          {"down", 5120, 17408, 64},
};
constexpr int kCopies = 4;

using bench_stats::median;
using bench_timer::Timer;

std::vector<int> parse_list(const std::string& s) {
  std::vector<int> v;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) v.push_back(std::stoi(item));
  return v;
}

int run(int argc, char** argv) {
  std::vector<int> tokens = {1, 7, 64, 512, 4096};
  int repeats = 5;
  std::string json_path, only;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--tokens" && i + 1 < argc) tokens = parse_list(argv[++i]);
    else if (a == "--repeats" && i + 1 < argc) repeats = std::stoi(argv[++i]);
    else if (a == "--json" && i + 1 < argc) json_path = argv[++i];
    else if (a == "--shape" && i + 1 < argc) only = argv[++i];
    else throw_error(ErrorKind::InvalidArgument, "hlwq-prefill-gemm-bench: unknown argument ", a);
  }
  cudaStream_t s;
  check(cudaStreamCreate(&s), "cudaStreamCreate");
  cublasHandle_t handle;
  check(cublasCreate(&handle), "cublasCreate");
  check(cublasSetStream(handle, s), "cublasSetStream");
  cudaDeviceProp prop;
  check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
  const double bw = bench_copy::copy_bandwidth(s, 5);
  std::printf("card: %s (%d SMs)   device copy bandwidth (read+write): %.0f GB/s   on-chip kernel: %s\n", prop.name,
              prop.multiProcessorCount, bw / 1e9, wgmma_available() ? "wgmma" : "mma.sync");
  nlohmann::json out;
  out["card"] = prop.name;
  out["copy_bandwidth_GBps"] = bw / 1e9;
  out["onchip_kernel"] = wgmma_available() ? "wgmma" : "mma.sync";
  out["repeats"] = repeats;

  const int maxT = *std::max_element(tokens.begin(), tokens.end());
  size_t maxK = 0, maxN = 0;
  for (const Shape& sh : kShapes) {
    maxK = std::max<size_t>(maxK, sh.cols);
    maxN = std::max<size_t>(maxN, sh.rows);
  }
  DeviceBuffer codebook(32 * 4, "codebook");
  {
    std::vector<float> cb(32);
    for (int i = 0; i < 32; ++i) cb[i] = (i - 15.5f) * 0.2f;  // any table: timing only
    check(cudaMemcpy(codebook.get(), cb.data(), 128, cudaMemcpyHostToDevice), "codebook");
  }
  DeviceBuffer x(size_t(maxT) * maxK * 2, "activations"), y(size_t(maxT) * maxN * 4, "outputs"),
      y2(size_t(maxT) * maxN * 4, "outputs (check)");
  {
    const auto h = bench_inputs::random_bf16(size_t(maxT) * maxK, 99);
    check(cudaMemcpy(x.get(), h.data(), h.size() * 2, cudaMemcpyHostToDevice), "activations");
  }
  std::printf("\n%-17s %6s %10s %10s %10s %10s %9s %9s %9s %8s %9s\n", "shape", "T", "onchip ms", "mma ms",
              "deq+cuB ms", "cuBLAS ms", "onchip/cB", "mma/cB", "deq/cB", "auto", "max rel");
  nlohmann::json rows = nlohmann::json::array();
  const size_t nt = tokens.size();
  std::vector<double> tot_on(nt), tot_mm(nt), tot_dq(nt), tot_cb(nt), tot_auto(nt);
  for (const Shape& sh : kShapes) {
    if (!only.empty() && only != sh.name) continue;
    std::vector<DeviceBuffer> store;
    std::vector<QMatrix> mats;
    for (int c = 0; c < kCopies; ++c) {
      store.emplace_back(QMatrix::bytes_for(5, sh.rows, sh.cols), "Q5 matrix");
      mats.push_back(q_matrix_in(store.back().get(), 5, sh.rows, sh.cols));
      fill_random_q(mats.back(), 1234 + c, 0.05f, s);
    }
    DeviceBuffer wbf(size_t(sh.rows) * sh.cols * 2, "bf16 weight");
    dequantize_rotated(mats[0], codebook.get<float>(), wbf.get<__nv_bfloat16>(), s);
    const size_t scratch = prefill_weight_scratch_elems(size_t(sh.rows) * sh.cols, sh.cols, size_t(1) << 26);
    DeviceBuffer wscratch(scratch * 2, "weight scratch");
    for (size_t ti = 0; ti < tokens.size(); ++ti) {
      const int T = tokens[ti];
      auto linear = [&](int i, PrefillGemmPath path, float* o) {
        PrefillLinearArgs a;
        a.w = mats[i % kCopies];
        a.codebook = codebook.get<float>();
        a.in = x.get<__nv_bfloat16>();
        a.tokens = T;
        a.out = o;
        a.ldo = sh.rows;
        a.scratch = wscratch.get<__nv_bfloat16>();
        a.scratch_elems = scratch;
        a.path = path;
        prefill_linear(handle, a, s);
      };
      // Same result both ways (same bf16 weights, fp32 sums in another order).
      linear(0, PrefillGemmPath::OnChip, y.get<float>());
      linear(0, PrefillGemmPath::DequantCublas, y2.get<float>());
      double max_rel = 0;
      if (T <= 512) {  // (the copies and the host loop take seconds at 4096)
        std::vector<float> a(size_t(T) * sh.rows), b(a.size());
        check(cudaStreamSynchronize(s), "sync");
        check(cudaMemcpy(a.data(), y.get(), a.size() * 4, cudaMemcpyDeviceToHost), "y");
        check(cudaMemcpy(b.data(), y2.get(), b.size() * 4, cudaMemcpyDeviceToHost), "y2");
        double scale = 0;
        for (float v : b) scale = std::max(scale, double(std::fabs(v)));
        for (size_t i = 0; i < a.size(); ++i)
          max_rel = std::max(max_rel, std::isfinite(a[i]) ? std::fabs(double(a[i]) - b[i]) / scale : 1e30);
      }
      const double flops = 2.0 * T * sh.rows * sh.cols;
      const int iters = std::max(1, std::min(20, int(2e12 / std::max(flops, 1.0))));
      Timer t;
      std::vector<double> on, mm, dq, cb;
      for (int r = 0; r < repeats + 1; ++r) {
        const double a = t.ms(s, iters, [&](int i) { linear(i, PrefillGemmPath::OnChip, y.get<float>()); });
        const double m = t.ms(s, iters, [&](int i) { linear(i, PrefillGemmPath::OnChipMmaSync, y.get<float>()); });
        const double b = t.ms(s, iters, [&](int i) { linear(i, PrefillGemmPath::DequantCublas, y.get<float>()); });
        const double c = t.ms(s, iters, [&](int) {
          const float alpha = 1.0f, beta = 0.0f;
          check(cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, sh.rows, T, sh.cols, &alpha, wbf.get(), CUDA_R_16BF,
                             sh.cols, x.get(), CUDA_R_16BF, sh.cols, &beta, y.get(), CUDA_R_32F, sh.rows,
                             CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                "cublasGemmEx(bf16 reference)");
        });
        if (r) {
          on.push_back(a);
          mm.push_back(m);
          dq.push_back(b);
          cb.push_back(c);
        }
      }
      const double mo = median(on), mmm = median(mm), md = median(dq), mc = median(cb);
      const PrefillGemmPath p = prefill_gemm_path(T, sh.rows, sh.cols);
      const bool is_on = p == PrefillGemmPath::OnChip, is_mma = p == PrefillGemmPath::OnChipMmaSync;
      const char* pname = is_on ? "onchip" : is_mma ? "mma" : "cublas";
      tot_on[ti] += sh.count * mo;
      tot_mm[ti] += sh.count * mmm;
      tot_dq[ti] += sh.count * md;
      tot_cb[ti] += sh.count * mc;
      tot_auto[ti] += sh.count * (is_on ? mo : is_mma ? mmm : md);
      std::printf("%-17s %6d %10.4f %10.4f %10.4f %10.4f %8.1f%% %8.1f%% %8.1f%% %8s %9.2e\n", sh.name, T, mo, mmm,
                  md, mc, 100 * mc / mo, 100 * mc / mmm, 100 * mc / md, pname, max_rel);
      std::fflush(stdout);
      rows.push_back({{"shape", sh.name}, {"rows", sh.rows}, {"cols", sh.cols}, {"tokens", T},
                      {"onchip_ms", mo}, {"mma_sync_ms", mmm}, {"dequant_cublas_ms", md},
                      {"cublas_bf16_ms", mc}, {"onchip_TFLOPs", flops / (mo * 1e-3) / 1e12},
                      {"cublas_TFLOPs", flops / (mc * 1e-3) / 1e12}, {"auto", pname},
                      {"max_rel_diff_onchip_vs_cublas_path", max_rel}, {"onchip_all", on}, {"mma_sync_all", mm},
                      {"dequant_cublas_all", dq}, {"cublas_bf16_all", cb}});
    }
  }
  out["shapes"] = rows;
  std::printf("\n27B Linears (64 layers, no lm_head): ms per chunk\n%6s %10s %10s %10s %10s %10s %9s %9s\n", "T",
              "onchip", "mma", "deq+cuB", "auto", "cuBLAS", "auto/cB", "deq/cB");
  nlohmann::json totals = nlohmann::json::array();
  for (size_t ti = 0; ti < nt; ++ti) {
    std::printf("%6d %10.3f %10.3f %10.3f %10.3f %10.3f %8.1f%% %8.1f%%\n", tokens[ti], tot_on[ti], tot_mm[ti],
                tot_dq[ti], tot_auto[ti], tot_cb[ti], 100 * tot_cb[ti] / tot_auto[ti], 100 * tot_cb[ti] / tot_dq[ti]);
    totals.push_back({{"tokens", tokens[ti]}, {"onchip_ms", tot_on[ti]}, {"mma_sync_ms", tot_mm[ti]},
                      {"dequant_cublas_ms", tot_dq[ti]}, {"auto_ms", tot_auto[ti]},
                      {"cublas_bf16_ms", tot_cb[ti]}});
  }
  out["model_27b_linears"] = totals;
  if (!json_path.empty()) std::ofstream(json_path) << out.dump(1) << "\n";
  cublasDestroy(handle);
  cudaStreamDestroy(s);
  return 0;
}

}  // namespace
}  // namespace hlwq::cuda

int main(int argc, char** argv) {
  return hlwq::cuda::bench_main::run_tool("hlwq-prefill-gemm-bench", [&] { return hlwq::cuda::run(argc, argv); });
}
