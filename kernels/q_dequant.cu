#include <algorithm>
#include <string>

#include "core/error.h"

#include "cuda_check.h"
#include "q5_dequant.h"

namespace hlwq::cuda {
namespace {

// One thread per 32-code run of the view, runs in row-major order so the bf16 stores of a
// warp are contiguous; the five words come from the run's tile position.
__global__ void dequant_kernel(QMatrix w, const float* codebook, __nv_bfloat16* out) {
  __shared__ float tab[32];
  if (threadIdx.x < 32) tab[threadIdx.x] = codebook[threadIdx.x] * 0.08838834764831845f;
  __syncthreads();
  const size_t runs = w.runs();
  const int runs_per_row = w.cols / 32;
  for (size_t run = blockIdx.x * size_t(blockDim.x) + threadIdx.x; run < runs; run += size_t(gridDim.x) * blockDim.x) {
    const int row = int(run / runs_per_row), r = int(run % runs_per_row);
    const size_t rb = w.row_block(row, r / 4);
    const uint4 nib = w.nib[rb * 4 + r % 4];
    const uint32_t words[5] = {nib.x, nib.y, nib.z, nib.w, w.hi[rb * 4 + r % 4]};
    const float n = __half2float(w.norms[rb]);
    __align__(16) __nv_bfloat162 v[16];
#pragma unroll
    for (int p = 0; p < 16; ++p) {
      const uint32_t pair = q5_decode_pair(words, p);
      v[p] = __floats2bfloat162_rn(tab[pair & 31u] * n, tab[pair >> 5] * n);
    }
    uint4* dst = reinterpret_cast<uint4*>(out + run * 32);
#pragma unroll
    for (int q = 0; q < 4; ++q) dst[q] = reinterpret_cast<const uint4*>(v)[q];
  }
}

}  // namespace

void dequantize_q5_rotated(const QMatrix& w, const float* codebook, __nv_bfloat16* out, cudaStream_t stream) {
  if (w.bits != 5)
    throw_error(ErrorKind::InvalidArgument, "dequantize_q5_rotated: takes 5-bit codes, got ", std::to_string(w.bits), "-bit");
  const size_t runs = w.runs();
  const unsigned grid = unsigned(std::min<size_t>((runs + 255) / 256, 132 * 16));
  dequant_kernel<<<grid, 256, 0, stream>>>(w, codebook, out);
  check_launch("dequantize_q5_rotated");
}

}  // namespace hlwq::cuda
