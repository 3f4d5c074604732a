#include "cuda_check.h"
#include "hadamard.cuh"
#include "prefill_gemm.h"

namespace hlwq::cuda {
namespace {

__global__ void dequant_kernel(Q5Matrix w, const float* codebook, __nv_bfloat16* out) {
  __shared__ float tab[32];
  if (threadIdx.x < 32) tab[threadIdx.x] = codebook[threadIdx.x] * 0.08838834764831845f;
  __syncthreads();
  const size_t runs = w.runs();
  for (size_t run = blockIdx.x * size_t(blockDim.x) + threadIdx.x; run < runs; run += size_t(gridDim.x) * blockDim.x) {
    const uint4 nib = w.nib[run];
    const uint32_t hi = w.hi[run];
    const float n = __half2float(w.norms[run >> 2]);  // 4 runs per 128-block, rows contiguous
    const uint32_t words[4] = {nib.x, nib.y, nib.z, nib.w};
    __align__(16) __nv_bfloat162 v[16];
#pragma unroll
    for (int j = 0; j < 32; j += 2) {
      const uint32_t c0 = ((words[j / 8] >> (4 * (j % 8))) & 15u) | (((hi >> q5_hi_bit(j)) & 1u) << 4);
      const uint32_t c1 = ((words[j / 8] >> (4 * (j % 8 + 1))) & 15u) | (((hi >> q5_hi_bit(j + 1)) & 1u) << 4);
      v[j / 2] = __floats2bfloat162_rn(tab[c0] * n, tab[c1] * n);
    }
    uint4* dst = reinterpret_cast<uint4*>(out + run * 32);
#pragma unroll
    for (int q = 0; q < 4; ++q) dst[q] = reinterpret_cast<const uint4*>(v)[q];
  }
}

__global__ void rotate_kernel(const __nv_bfloat16* x, __nv_bfloat16* out, size_t chunks) {
  const size_t warp = (blockIdx.x * size_t(blockDim.x) + threadIdx.x) >> 5;
  if (warp >= chunks) return;
  const int lane = threadIdx.x & 31;
  const size_t base = warp * 128 + lane * 4;
  const __nv_bfloat162* in2 = reinterpret_cast<const __nv_bfloat162*>(x + base);
  const float2 a = __bfloat1622float2(in2[0]), b = __bfloat1622float2(in2[1]);
  float v[4] = {a.x, a.y, b.x, b.y};
  wht128_warp(v);
  __nv_bfloat162* o2 = reinterpret_cast<__nv_bfloat162*>(out + base);
  o2[0] = __floats2bfloat162_rn(v[0], v[1]);
  o2[1] = __floats2bfloat162_rn(v[2], v[3]);
}

}  // namespace

void dequantize_q5_rotated(const Q5Matrix& w, const float* codebook, __nv_bfloat16* out, cudaStream_t stream) {
  const size_t runs = w.runs();
  const unsigned grid = unsigned(std::min<size_t>((runs + 255) / 256, 132 * 16));
  dequant_kernel<<<grid, 256, 0, stream>>>(w, codebook, out);
  check_launch("dequantize_q5_rotated");
}

void rotate_rows_bf16(const __nv_bfloat16* x, __nv_bfloat16* out, int rows, int cols, cudaStream_t stream) {
  const size_t chunks = size_t(rows) * (cols / 128);
  rotate_kernel<<<unsigned((chunks * 32 + 255) / 256), 256, 0, stream>>>(x, out, chunks);
  check_launch("rotate_rows_bf16");
}

void gemm_bf16_xwt(cublasHandle_t handle, const __nv_bfloat16* x, const __nv_bfloat16* w, __nv_bfloat16* y, int tokens,
                   int n, int k) {
  const float alpha = 1.0f, beta = 0.0f;
  // Column-major view: Y^T[n x t] = W[k x n]^T * X^T[k x t].
  check(cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, n, tokens, k, &alpha, w, CUDA_R_16BF, k, x, CUDA_R_16BF, k,
                     &beta, y, CUDA_R_16BF, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
        "cublasGemmEx(bf16 prefill)");
}

}  // namespace hlwq::cuda
