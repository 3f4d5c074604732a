#include "cuda_check.h"
#include "hadamard.cuh"
#include "prefill_gemm.h"

namespace hlwq::cuda {
namespace {

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
