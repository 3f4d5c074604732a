#include <algorithm>

#include "cuda_check.h"
#include "q5_dequant.h"

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

}  // namespace

void dequantize_q5_rotated(const Q5Matrix& w, const float* codebook, __nv_bfloat16* out, cudaStream_t stream) {
  const size_t runs = w.runs();
  const unsigned grid = unsigned(std::min<size_t>((runs + 255) / 256, 132 * 16));
  dequant_kernel<<<grid, 256, 0, stream>>>(w, codebook, out);
  check_launch("dequantize_q5_rotated");
}

}  // namespace hlwq::cuda
