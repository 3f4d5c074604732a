#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/error.h"
#include "cuda_check.h"
#include "gemv.h"
#include "prefill_gemm_q5.h"
#include "prefill_gemm_q5_wgmma.h"
#include "prefill_linear.h"
#include "q_dequant.h"

namespace hlwq::cuda {

namespace {

// HLWQ_PREFILL_GEMM=onchip|mma|cublas|gemv forces one path (A/B timing); otherwise per shape.
PrefillGemmPath forced_path() {
  static const PrefillGemmPath p = [] {
    const char* e = std::getenv("HLWQ_PREFILL_GEMM");
    if (e && std::strcmp(e, "onchip") == 0) return PrefillGemmPath::OnChip;
    if (e && std::strcmp(e, "mma") == 0) return PrefillGemmPath::OnChipMmaSync;
    if (e && std::strcmp(e, "cublas") == 0) return PrefillGemmPath::DequantCublas;
    if (e && std::strcmp(e, "gemv") == 0) return PrefillGemmPath::Gemv;
    return PrefillGemmPath::Auto;
  }();
  return p;
}

// Whole 256-row groups when the scratch allows: an odd slice start misaligns the output
// columns and cuBLAS falls back to kernels 4-5x slower (measured on an H200).
std::size_t slice_rows(std::size_t elems, int k) {
  std::size_t fit = elems / std::size_t(k);
  if (fit >= 256) fit -= fit % 256;
  return fit;
}

void gemm_slice(cublasHandle_t handle, const PrefillLinearArgs& a, const __nv_bfloat16* w, int r0, int rows) {
  const int k = a.w.cols;
  const float alpha = 1.0f, beta = a.accumulate ? 1.0f : 0.0f;
  // Column-major view: OUT^T[rows x T] (+)= W_slice[k x rows]^T * IN^T[k x T].
  check(cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, rows, a.tokens, k, &alpha, w, CUDA_R_16BF, k, a.in, CUDA_R_16BF,
                     k, &beta, a.out + r0, CUDA_R_32F, a.ldo, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
        "cublasGemmEx(prefill linear)");
}

// Q4/Q3 chunks of up to this many 8-token GEMV passes take the GEMV (measured: prefill_gemm_path).
constexpr int kGemvPassesQ4Q3 = 4;

// The path without the GEMV (it takes whole matrices only).
PrefillGemmPath gemm_path(int tokens, int rows, int bits) {
  // The on-chip GEMMs decode Q5 only: other widths expand (q_dequant.h takes all three).
  if (bits != 5) return PrefillGemmPath::DequantCublas;
  // Measured on an H200 (docs/PERFORMANCE.md, "Prefill GEMM with on-chip decoding"): up to
  // 64 tokens the mma.sync kernel is fastest (its 32/64-token tiles waste less than wgmma's
  // 128); up to 128 the wgmma one, and up to 256 for the wide matrices (>= 8192 rows: enough
  // 128-row tiles for the GPU); from there expand + cuBLAS.
  if (!wgmma_available()) return tokens <= 128 ? PrefillGemmPath::OnChipMmaSync : PrefillGemmPath::DequantCublas;
  if (tokens <= 64) return PrefillGemmPath::OnChipMmaSync;
  if (tokens <= 128 || (tokens <= 256 && rows >= 8192)) return PrefillGemmPath::OnChip;
  return PrefillGemmPath::DequantCublas;
}

}  // namespace

PrefillGemmPath prefill_gemm_path(int tokens, int rows, int cols, int bits) {
  if (forced_path() != PrefillGemmPath::Auto) return forced_path();
  (void)cols;
  // Measured (hlwq-gemv-bench, H100; docs/PERFORMANCE.md "GEMV: Q4/Q3 and 1-8 tokens"): up to
  // 8 tokens one GEMV pass over the codes beats the on-chip mma.sync GEMM at every 27B shape
  // (gate/up at 8 tokens: 0.059 vs 0.112 ms). Q4/Q3 have only the expansion otherwise, which
  // writes and reads the whole matrix in bf16: passes of 8 tokens beat it at every shape up to
  // 32 tokens (out_proj Q4: 0.064 vs 0.078 ms), not at 64 (0.126 vs 0.079).
  if (tokens <= kGemvMaxTokens) return PrefillGemmPath::Gemv;
  if (bits != 5 && tokens <= kGemvPassesQ4Q3 * kGemvMaxTokens) return PrefillGemmPath::Gemv;
  return gemm_path(tokens, rows, bits);
}

void prefill_linear(cublasHandle_t handle, const PrefillLinearArgs& a, cudaStream_t stream) {
  const int n = a.w.rows, k = a.w.cols;
  if (a.tokens <= 0 || k <= 0 || k % 128 != 0 || a.ldo < n || a.scratch_elems < std::size_t(k))
    throw_error(ErrorKind::InvalidArgument, "prefill_linear: tokens ", std::to_string(a.tokens), ", matrix ",
                std::to_string(n), "x", std::to_string(k), ", ldo ", std::to_string(a.ldo), ", scratch ",
                std::to_string(a.scratch_elems), " elements");
  PrefillGemmPath path = a.path == PrefillGemmPath::Auto ? prefill_gemm_path(a.tokens, n, k, a.w.bits) : a.path;
  if (path == PrefillGemmPath::Gemv && a.w.row0 == 0 && a.w.stored_rows == n) {  // it takes whole matrices
    for (int t0 = 0; t0 < a.tokens; t0 += kGemvMaxTokens) {  // passes of at most 8 tokens
      GemvArgs g;
      g.w = a.w;
      g.codebook = a.codebook;
      g.in_rotated = a.in + std::size_t(t0) * k;
      g.tokens = std::min(kGemvMaxTokens, a.tokens - t0);
      g.out = a.out + std::size_t(t0) * a.ldo;
      g.out_stride = a.ldo;
      gemv(g, GemvInput::RotatedBf16, a.accumulate ? GemvOutput::AddResidual : GemvOutput::Store, stream);
    }
    return;
  }
  if (path == PrefillGemmPath::Gemv || a.w.bits != 5) path = gemm_path(a.tokens, n, a.w.bits);
  if (path == PrefillGemmPath::OnChip || path == PrefillGemmPath::OnChipMmaSync) {
    const PrefillGemmQ5Args& g = a;
    // The wgmma kernel permutes the activations into the (here unused) weight scratch.
    if (path == PrefillGemmPath::OnChip && wgmma_available())
      return prefill_gemm_q5_wgmma(g, a.scratch, a.scratch_elems, stream);
    return prefill_gemm_q5(g, stream);
  }
  check(cublasSetStream(handle, stream), "cublasSetStream(prefill)");
  const int slice = int(std::min<std::size_t>(std::size_t(n), slice_rows(a.scratch_elems, k)));
  for (int r0 = 0; r0 < n; r0 += slice) {
    const int rows = std::min(slice, n - r0);
    dequantize_rotated(a.w.row_slice(r0, rows), a.codebook, a.scratch, stream);
    gemm_slice(handle, a, a.scratch, r0, rows);
  }
}

std::size_t prefill_weight_scratch_elems(std::size_t largest_matrix_elems, std::size_t max_cols, std::size_t cap) {
  return std::max(max_cols, std::min(largest_matrix_elems, cap));
}

}  // namespace hlwq::cuda
