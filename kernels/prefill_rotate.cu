#include <string>

#include "core/error.h"
#include "cuda_check.h"
#include "hadamard.cuh"
#include "prefill_rotate.h"

namespace hlwq::cuda {
namespace {

__device__ __forceinline__ float silu(float v) { return v / (1.0f + __expf(-v)); }

__device__ __forceinline__ void store_bf16x4(__nv_bfloat16* dst, const float (&v)[4]) {
  __nv_bfloat162* o2 = reinterpret_cast<__nv_bfloat162*>(dst);
  o2[0] = __floats2bfloat162_rn(v[0], v[1]);
  o2[1] = __floats2bfloat162_rn(v[2], v[3]);
}

// Block per row: the row's sum of squares, then a warp per 128-chunk.
__global__ void __launch_bounds__(256) rmsnorm_rotate_kernel(const float* x, const float* w, float eps,
                                                             __nv_bfloat16* out, int cols) {
  __shared__ float red[8];
  const size_t row = blockIdx.x;
  const float* xr = x + row * cols;
  float ss = 0;
  for (int i = threadIdx.x * 4; i < cols; i += blockDim.x * 4) {
    const float4 v = *reinterpret_cast<const float4*>(xr + i);
    ss += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
  }
  for (int m = 16; m; m >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, m);
  if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = ss;
  __syncthreads();
  ss = 0;
  for (int i = 0; i < 8; ++i) ss += red[i];
  const float r = rsqrtf(ss / cols + eps);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  for (int c = warp * 128; c < cols; c += 8 * 128) {
    const int i = c + lane * 4;
    const float4 v4 = *reinterpret_cast<const float4*>(xr + i);
    const float4 w4 = *reinterpret_cast<const float4*>(w + i);
    float v[4] = {v4.x * r * (1.0f + w4.x), v4.y * r * (1.0f + w4.y), v4.z * r * (1.0f + w4.z), v4.w * r * (1.0f + w4.w)};
    wht128_warp(v);
    store_bf16x4(out + row * cols + i, v);
  }
}

enum class Chunk { Plain, GatedNorm, SwiGlu };

// Warp per (row, 128-chunk).
template <Chunk KIND>
__global__ void chunk_rotate_kernel(const float* x, const float* gate, int gate_stride, const float* w, float eps,
                                    __nv_bfloat16* out, int T, int cols) {
  const size_t warp = (blockIdx.x * size_t(blockDim.x) + threadIdx.x) >> 5;
  const int per_row = cols / 128;
  if (warp >= size_t(T) * per_row) return;
  const int lane = threadIdx.x & 31;
  const size_t row = warp / per_row;
  const int i = int(warp % per_row) * 128 + lane * 4;
  float v[4];
  if constexpr (KIND == Chunk::SwiGlu) {
    const float4 a = *reinterpret_cast<const float4*>(x + row * 2 * cols + 2 * i);
    const float4 b = *reinterpret_cast<const float4*>(x + row * 2 * cols + 2 * i + 4);
    v[0] = silu(a.x) * a.y; v[1] = silu(a.z) * a.w; v[2] = silu(b.x) * b.y; v[3] = silu(b.z) * b.w;
  } else {
    const float4 a = *reinterpret_cast<const float4*>(x + row * cols + i);
    v[0] = a.x; v[1] = a.y; v[2] = a.z; v[3] = a.w;
  }
  if constexpr (KIND == Chunk::GatedNorm) {
    float ss = v[0] * v[0] + v[1] * v[1] + v[2] * v[2] + v[3] * v[3];
    for (int m = 16; m; m >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, m);
    const float r = rsqrtf(ss / 128.0f + eps);
    const float* g = gate + row * gate_stride + i;
#pragma unroll
    for (int j = 0; j < 4; ++j) v[j] *= r * w[lane * 4 + j] * silu(g[j]);
  }
  wht128_warp(v);
  store_bf16x4(out + row * cols + i, v);
}

void check_cols(const char* op, int T, int cols) {
  if (T <= 0 || cols <= 0 || cols % 128 != 0)
    throw_error(ErrorKind::InvalidArgument, op, ": ", std::to_string(T), " rows of ", std::to_string(cols),
                " columns (a positive multiple of 128 is needed)");
}

unsigned chunk_grid(int T, int cols) { return unsigned((size_t(T) * (cols / 128) * 32 + 255) / 256); }

}  // namespace

void rmsnorm1p_rotate_rows(const float* x, const float* w, float eps, __nv_bfloat16* out, int T, int cols,
                           cudaStream_t stream) {
  check_cols("rmsnorm1p_rotate_rows", T, cols);
  rmsnorm_rotate_kernel<<<T, 256, 0, stream>>>(x, w, eps, out, cols);
  check_launch("rmsnorm1p_rotate_rows");
}

void gated_norm_rotate_rows(const float* x, const float* gate, int gate_stride, const float* w, float eps,
                            __nv_bfloat16* out, int T, int cols, cudaStream_t stream) {
  check_cols("gated_norm_rotate_rows", T, cols);
  chunk_rotate_kernel<Chunk::GatedNorm><<<chunk_grid(T, cols), 256, 0, stream>>>(x, gate, gate_stride, w, eps, out, T, cols);
  check_launch("gated_norm_rotate_rows");
}

void swiglu_rotate_rows(const float* y, __nv_bfloat16* out, int T, int cols, cudaStream_t stream) {
  check_cols("swiglu_rotate_rows", T, cols);
  chunk_rotate_kernel<Chunk::SwiGlu><<<chunk_grid(T, cols), 256, 0, stream>>>(y, nullptr, 0, nullptr, 0, out, T, cols);
  check_launch("swiglu_rotate_rows");
}

void rotate_rows_f32(const float* x, __nv_bfloat16* out, int T, int cols, cudaStream_t stream) {
  check_cols("rotate_rows_f32", T, cols);
  chunk_rotate_kernel<Chunk::Plain><<<chunk_grid(T, cols), 256, 0, stream>>>(x, nullptr, 0, nullptr, 0, out, T, cols);
  check_launch("rotate_rows_f32");
}

}  // namespace hlwq::cuda
