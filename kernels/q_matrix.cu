#include <cstdint>
#include <cstring>
#include <string>

#include "core/error.h"
#include "cuda_check.h"
#include "q_matrix.h"

namespace hlwq::cuda {
namespace {

void require_bits(int bits, const char* what) {
  if (!q_bits_supported(bits))
    throw_error(ErrorKind::InvalidArgument, what, ": ", std::to_string(bits),
                "-bit weight codes have no GPU layout (5, 4 and 3 do)");
}

std::size_t lo_bytes(int bits, std::size_t runs) { return runs * 4 * q_lo_words(bits); }
std::size_t hi_bytes(int bits, std::size_t runs) { return runs * 4 * q_hi_words(bits); }

}  // namespace

QMatrix q_matrix_in(void* storage, int bits, int rows, int cols) {
  require_bits(bits, "q_matrix_in");
  QMatrix m;
  auto* base = static_cast<uint8_t*>(storage);
  const std::size_t runs = std::size_t(rows) * (cols / 32);
  m.nib = reinterpret_cast<const uint4*>(base);
  m.hi = reinterpret_cast<const uint32_t*>(base + lo_bytes(bits, runs));
  m.norms = reinterpret_cast<const __half*>(base + lo_bytes(bits, runs) + hi_bytes(bits, runs));
  m.bits = bits;
  m.rows = rows;
  m.cols = cols;
  m.stored_rows = rows;
  return m;
}

QHostOffsets q_host_offsets(int bits, int rows, int cols, int row, int block, int t) {
  const std::size_t runs = std::size_t(rows) * (cols / 32);
  const std::size_t run = q_row_block(rows, cols, row, block) * 4 + t;
  const std::size_t lo = lo_bytes(bits, runs), hi = hi_bytes(bits, runs);
  return {run * 4 * q_lo_words(bits), lo + run * 4 * q_hi_words(bits), lo + hi + (run / 4) * 2};
}

void q_put_run(uint8_t* image, int bits, int rows, int cols, int row, int block, int t, const uint8_t* codes,
               uint16_t norm) {
  const QHostOffsets o = q_host_offsets(bits, rows, cols, row, block, t);
  uint32_t w[5];
  q_encode_run(bits, codes, w);
  std::memcpy(image + o.lo, w, 4 * q_lo_words(bits));
  if (q_hi_words(bits)) std::memcpy(image + o.hi, &w[q_lo_words(bits)], 4);
  std::memcpy(image + o.norm, &norm, 2);
}

namespace {

// One thread per 32-code run (row-major run order in the file): 20 bytes of the big-endian
// stream in, five words out at the run's tile position; the run's first thread also moves the
// block norm.
__global__ void repack_kernel(const uint8_t* packed, const __half* norms_in, QMatrix m, uint4* nib, uint32_t* hi,
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

// Any words are valid codes at every bit width, so the code arrays are filled as plain words.
__global__ void fill_kernel(uint32_t* words, size_t nwords, __half* norms, size_t nblocks, uint64_t seed,
                            float norm_scale) {
  const size_t stride = size_t(gridDim.x) * blockDim.x;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < nwords; i += stride) {
    const uint64_t k = seed * 0x100000001b3ull + i;
    words[i] = mix32(k);
    if (i < nblocks) norms[i] = __float2half((0.5f + (mix32(k ^ 0x5bd1e995ull) & 0xffff) / 65536.0f) * norm_scale);
  }
}

}  // namespace

void repack_q5_bigendian(const uint8_t* packed_dev, const __half* norms_dev, QMatrix dst, cudaStream_t stream) {
  if (dst.bits != 5)
    throw_error(ErrorKind::InvalidArgument, "repack_q5_bigendian: the destination holds ", std::to_string(dst.bits),
                "-bit codes, not 5");
  const size_t runs = dst.runs();
  if (runs == 0) return;
  // Writes go through the stored matrix's base pointers; the view's row0 is inside `row_block`.
  repack_kernel<<<unsigned((runs + 255) / 256), 256, 0, stream>>>(
      packed_dev, norms_dev, dst, const_cast<uint4*>(dst.nib), const_cast<uint32_t*>(dst.hi),
      const_cast<__half*>(dst.norms));
  check_launch("repack_q5_bigendian");
}

void fill_random_q(QMatrix dst, uint64_t seed, float norm_scale, cudaStream_t stream) {
  require_bits(dst.bits, "fill_random_q");
  // The code words (lo then hi) are contiguous in front of the norms (q_matrix_in).
  fill_kernel<<<1024, 256, 0, stream>>>(const_cast<uint32_t*>(reinterpret_cast<const uint32_t*>(dst.nib)),
                                        dst.runs() * dst.bits, const_cast<__half*>(dst.norms),
                                        size_t(dst.rows) * (dst.cols / 128), seed, norm_scale);
  check_launch("fill_random_q");
}

}  // namespace hlwq::cuda
