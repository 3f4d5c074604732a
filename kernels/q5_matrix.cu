#include <cstdint>

#include "cuda_check.h"
#include "q5_matrix.h"

namespace hlwq::cuda {

Q5Matrix q5_matrix_in(void* storage, int rows, int cols) {
  Q5Matrix m;
  auto* base = static_cast<uint8_t*>(storage);
  const std::size_t runs = std::size_t(rows) * (cols / 32);
  m.nib = reinterpret_cast<const uint4*>(base);
  m.hi = reinterpret_cast<const uint32_t*>(base + runs * 16);
  m.norms = reinterpret_cast<const __half*>(base + runs * 20);
  m.rows = rows;
  m.cols = cols;
  m.stored_rows = rows;
  return m;
}

Q5HostOffsets q5_host_offsets(int rows, int cols, int row, int block, int t) {
  const std::size_t runs = std::size_t(rows) * (cols / 32);
  const std::size_t rb = q5_row_block(rows, cols, row, block);
  return {(rb * 4 + t) * 16, runs * 16 + (rb * 4 + t) * 4, runs * 20 + rb * 2};
}

namespace {

// One thread per 32-code run (row-major run order in the file): 20 bytes of the big-endian
// stream in, five words out at the run's tile position; the run's first thread also moves the
// block norm.
__global__ void repack_kernel(const uint8_t* packed, const __half* norms_in, Q5Matrix m, uint4* nib, uint32_t* hi,
                              __half* norms) {
  const size_t run = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  if (run >= m.runs()) return;
  const int runs_per_row = m.cols / 32;
  const int row = int(run / runs_per_row), r = int(run % runs_per_row), block = r / 4, t = r % 4;
  const uint8_t* p = packed + run * 20;
  uint8_t codes[32];
  for (int g = 0; g < 4; ++g) {  // 4 groups of 8 codes = 5 bytes each
    uint64_t bits = 0;
    for (int b = 0; b < 5; ++b) bits = (bits << 8) | p[g * 5 + b];
    for (int i = 0; i < 8; ++i) codes[g * 8 + i] = uint8_t(bits >> (35 - 5 * i)) & 31u;  // c0 in the top bits
  }
  uint32_t w[5];
  q5_encode_run(codes, w);
  const size_t rb = m.row_block(row, block);
  nib[rb * 4 + t] = make_uint4(w[0], w[1], w[2], w[3]);
  hi[rb * 4 + t] = w[4];
  if (t == 0) norms[rb] = norms_in[size_t(row) * (m.cols / 128) + block];
}

__device__ __forceinline__ uint32_t mix32(uint64_t x) {  // splitmix64 finaliser
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return uint32_t((x ^ (x >> 31)) >> 16);
}

__global__ void fill_kernel(uint4* nib, uint32_t* hi, __half* norms, size_t runs, size_t nblocks, uint64_t seed,
                            float norm_scale) {
  const size_t stride = size_t(gridDim.x) * blockDim.x;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < runs; i += stride) {
    const uint64_t k = seed * 0x100000001b3ull + i * 5;
    nib[i] = make_uint4(mix32(k), mix32(k + 1), mix32(k + 2), mix32(k + 3));
    hi[i] = mix32(k + 4);
    if (i < nblocks) norms[i] = __float2half((0.5f + (mix32(k ^ 0x5bd1e995ull) & 0xffff) / 65536.0f) * norm_scale);
  }
}

}  // namespace

void repack_q5_bigendian(const uint8_t* packed_dev, const __half* norms_dev, Q5Matrix dst, cudaStream_t stream) {
  const size_t runs = dst.runs();
  if (runs == 0) return;
  // Writes go through the stored matrix's base pointers; the view's row0 is inside `row_block`.
  repack_kernel<<<unsigned((runs + 255) / 256), 256, 0, stream>>>(
      packed_dev, norms_dev, dst, const_cast<uint4*>(dst.nib), const_cast<uint32_t*>(dst.hi),
      const_cast<__half*>(dst.norms));
  check_launch("repack_q5_bigendian");
}

void fill_random_q5(Q5Matrix dst, uint64_t seed, float norm_scale, cudaStream_t stream) {
  fill_kernel<<<1024, 256, 0, stream>>>(const_cast<uint4*>(dst.nib), const_cast<uint32_t*>(dst.hi),
                                        const_cast<__half*>(dst.norms), dst.runs(),
                                        size_t(dst.rows) * (dst.cols / 128), seed, norm_scale);
  check_launch("fill_random_q5");
}

}  // namespace hlwq::cuda
