#include <algorithm>
#include <string>

#include "core/error.h"

#include "cuda_check.h"
#include "q_dequant.h"

namespace hlwq::cuda {
namespace {

// One thread per 32-code run of the view, runs in row-major order so the bf16 stores of a
// warp are contiguous; the run's words come from its tile position. Bits is a template
// parameter so the pair fields are compile-time shifts.
template <int Bits>
__global__ void dequant_kernel(QMatrix w, const float* codebook, __nv_bfloat16* out) {
  constexpr int kEntries = 1 << Bits;
  __shared__ float tab[kEntries];
  if (threadIdx.x < kEntries) tab[threadIdx.x] = codebook[threadIdx.x] * 0.08838834764831845f;
  __syncthreads();
  const size_t runs = w.runs();
  const int runs_per_row = w.cols / 32;
  for (size_t run = blockIdx.x * size_t(blockDim.x) + threadIdx.x; run < runs; run += size_t(gridDim.x) * blockDim.x) {
    const int row = int(run / runs_per_row), r = int(run % runs_per_row);
    const size_t rb = w.row_block(row, r / 4);
    uint32_t words[5];  // run_words branches on w.bits (== Bits): uniform, and 5 fits every width
    w.run_words(rb, r % 4, words);
    const float n = __half2float(w.norms[rb]);
    __align__(16) __nv_bfloat162 v[16];
#pragma unroll
    for (int p = 0; p < 16; ++p) {
      const uint32_t pair = q_decode_pair(Bits, words, p);
      v[p] = __floats2bfloat162_rn(tab[pair & (kEntries - 1)] * n, tab[pair >> Bits] * n);
    }
    uint4* dst = reinterpret_cast<uint4*>(out + run * 32);
#pragma unroll
    for (int q = 0; q < 4; ++q) dst[q] = reinterpret_cast<const uint4*>(v)[q];
  }
}

}  // namespace

void dequantize_rotated(const QMatrix& w, const float* codebook, __nv_bfloat16* out, cudaStream_t stream) {
  const size_t runs = w.runs();
  const unsigned grid = unsigned(std::max<size_t>(1, std::min<size_t>((runs + 255) / 256, 132 * 16)));
  switch (w.bits) {
    case 5: dequant_kernel<5><<<grid, 256, 0, stream>>>(w, codebook, out); break;
    case 4: dequant_kernel<4><<<grid, 256, 0, stream>>>(w, codebook, out); break;
    case 3: dequant_kernel<3><<<grid, 256, 0, stream>>>(w, codebook, out); break;
    default:
      throw_error(ErrorKind::InvalidArgument, "dequantize_rotated: ", std::to_string(w.bits),
                  "-bit codes (the GPU layout has 5, 4 and 3)");
  }
  check_launch("dequantize_rotated");
}

}  // namespace hlwq::cuda
