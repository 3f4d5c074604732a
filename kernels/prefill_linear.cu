#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/error.h"
#include "cuda_check.h"
#include "prefill_gemm_q5.h"
#include "prefill_linear.h"
#include "q5_dequant.h"

namespace hlwq::cuda {

namespace {

// HLWQ_PREFILL_GEMM=onchip|cublas|overlap forces one path (A/B timing); otherwise per shape.
PrefillGemmPath forced_path() {
  static const PrefillGemmPath p = [] {
    const char* e = std::getenv("HLWQ_PREFILL_GEMM");
    if (e && std::strcmp(e, "onchip") == 0) return PrefillGemmPath::OnChip;
    if (e && std::strcmp(e, "cublas") == 0) return PrefillGemmPath::DequantCublas;
    if (e && std::strcmp(e, "overlap") == 0) return PrefillGemmPath::DequantCublasOverlap;
    return PrefillGemmPath::Auto;
  }();
  return p;
}

// Fewest slices a matrix is cut into when expansion and GEMM overlap: the first slice's
// expansion is not hidden. HLWQ_PREFILL_SLICES overrides (A/B timing).
int overlap_min_slices() {
  static const int v = [] {
    const char* e = std::getenv("HLWQ_PREFILL_SLICES");
    return e ? std::max(1, std::atoi(e)) : 4;
  }();
  return v;
}

// The expansion of slice i + 1 runs on a side stream while cuBLAS multiplies slice i (the
// expansion is memory-bound, the GEMM compute-bound). One per process (one GPU).
struct SideStream {
  cudaStream_t s = nullptr;
  cudaEvent_t start = nullptr, ready[2] = {}, done[2] = {};
};
SideStream& side_stream() {
  static SideStream ss = [] {
    SideStream x;
    check(cudaStreamCreateWithFlags(&x.s, cudaStreamNonBlocking), "cudaStreamCreate(prefill expansion)");
    for (cudaEvent_t* e : {&x.start, &x.ready[0], &x.ready[1], &x.done[0], &x.done[1]})
      check(cudaEventCreateWithFlags(e, cudaEventDisableTiming), "cudaEventCreate(prefill expansion)");
    return x;
  }();
  return ss;
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

// Two halves of the scratch in turn: slice i is expanded on the side stream into half i % 2
// once the GEMM of slice i - 2 has read it, and multiplied on `stream` once expanded.
// Returns false (nothing done) when the scratch or the matrix is too small to split.
bool overlapped(cublasHandle_t handle, const PrefillLinearArgs& a, cudaStream_t stream) {
  const int n = a.w.rows, k = a.w.cols;
  const std::size_t fit = slice_rows(a.scratch_elems / 2, k);
  const int groups = (n + 255) / 256, per = (groups + overlap_min_slices() - 1) / overlap_min_slices();
  const int slice = int(std::min<std::size_t>(fit, std::size_t(per) * 256));
  if (fit < 256 || slice >= n) return false;
  SideStream& ss = side_stream();
  __nv_bfloat16* half[2] = {a.scratch, a.scratch + std::size_t(slice) * k};
  // The side stream starts after everything queued so far (the activations, and the previous
  // call's GEMMs still reading the scratch).
  check(cudaEventRecord(ss.start, stream), "cudaEventRecord(prefill start)");
  check(cudaStreamWaitEvent(ss.s, ss.start, 0), "cudaStreamWaitEvent(prefill start)");
  for (int i = 0, r0 = 0; r0 < n; ++i, r0 += slice) {
    const int rows = std::min(slice, n - r0), b = i & 1;
    if (i >= 2) check(cudaStreamWaitEvent(ss.s, ss.done[b], 0), "cudaStreamWaitEvent(prefill slice read)");
    dequantize_q5_rotated(a.w.row_slice(r0, rows), a.codebook, half[b], ss.s);
    check(cudaEventRecord(ss.ready[b], ss.s), "cudaEventRecord(prefill slice expanded)");
    check(cudaStreamWaitEvent(stream, ss.ready[b], 0), "cudaStreamWaitEvent(prefill slice expanded)");
    gemm_slice(handle, a, half[b], r0, rows);
    check(cudaEventRecord(ss.done[b], stream), "cudaEventRecord(prefill slice read)");
  }
  return true;
}

}  // namespace

PrefillGemmPath prefill_gemm_path(int tokens, int rows, int cols) {
  if (forced_path() != PrefillGemmPath::Auto) return forced_path();
  (void)rows;
  (void)cols;
  // Provisional (H200, round 1): on chip 2.3x faster than expand + cuBLAS at 64 tokens,
  // 1.7x slower at 512.
  return tokens <= 128 ? PrefillGemmPath::OnChip : PrefillGemmPath::DequantCublasOverlap;
}

void prefill_linear(cublasHandle_t handle, const PrefillLinearArgs& a, cudaStream_t stream) {
  const int n = a.w.rows, k = a.w.cols;
  if (a.tokens <= 0 || k <= 0 || k % 128 != 0 || a.ldo < n || a.scratch_elems < std::size_t(k))
    throw_error(ErrorKind::InvalidArgument, "prefill_linear: tokens ", std::to_string(a.tokens), ", matrix ",
                std::to_string(n), "x", std::to_string(k), ", ldo ", std::to_string(a.ldo), ", scratch ",
                std::to_string(a.scratch_elems), " elements");
  const PrefillGemmPath path = a.path == PrefillGemmPath::Auto ? prefill_gemm_path(a.tokens, n, k) : a.path;
  if (path == PrefillGemmPath::OnChip) {
    PrefillGemmQ5Args g;
    g.w = a.w;
    g.codebook = a.codebook;
    g.in = a.in;
    g.tokens = a.tokens;
    g.out = a.out;
    g.ldo = a.ldo;
    g.accumulate = a.accumulate;
    return prefill_gemm_q5(g, stream);
  }
  check(cublasSetStream(handle, stream), "cublasSetStream(prefill)");
  if (path == PrefillGemmPath::DequantCublasOverlap && overlapped(handle, a, stream)) return;
  const int slice = int(std::min<std::size_t>(std::size_t(n), slice_rows(a.scratch_elems, k)));
  for (int r0 = 0; r0 < n; r0 += slice) {
    const int rows = std::min(slice, n - r0);
    dequantize_q5_rotated(a.w.row_slice(r0, rows), a.codebook, a.scratch, stream);
    gemm_slice(handle, a, a.scratch, r0, rows);
  }
}

std::size_t prefill_weight_scratch_elems(std::size_t largest_matrix_elems, std::size_t max_cols, std::size_t cap) {
  return std::max(max_cols, std::min(largest_matrix_elems, cap));
}

}  // namespace hlwq::cuda
