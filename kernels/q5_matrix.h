#pragma once
// The GPU layout of one HLWQ 5-bit weight matrix W[rows, cols], chosen so the GEMV spends
// about two integer operations per weight. Each run of 32 codes along a row (a quarter of a
// 128-block) is five 32-bit words, all coalesced across a warp that reads 32 runs:
// - nib (16 bytes): word q holds codes 8q..8q+7, code 8q+i's low nibble at bits 4i..4i+3;
// - hi (4 bytes): the fifth bits, code 8q+i's at bit q5_hi_bit(8q+i) = 8*(i/2) + 6 - 2q + i%2.
// With that placement one shift of `hi` by 2q lines up the fifth bits of all eight codes of
// word q next to their nibbles, so a shift and a LOP3 build four table offsets at once.
// Norms stay fp16 [rows, cols/128]. Files are repacked into this at load.
#include <cuda_fp16.h>

#include <cstddef>
#include <cstdint>

namespace hlwq::cuda {

__host__ __device__ constexpr int q5_hi_bit(int j) {  // j: code index inside its run, 0..31
  return 8 * ((j % 8) / 2) + 6 - 2 * (j / 8) + (j % 2);
}

struct Q5Matrix {
  const uint4* nib = nullptr;      // [rows][cols/32]
  const uint32_t* hi = nullptr;    // [rows][cols/32]
  const __half* norms = nullptr;   // [rows][cols/128]
  int rows = 0;
  int cols = 0;                    // multiple of 128

  __host__ __device__ std::size_t runs() const { return std::size_t(rows) * (cols / 32); }
  static std::size_t bytes_for(int rows, int cols) {
    return std::size_t(rows) * (cols / 32) * 20 + std::size_t(rows) * (cols / 128) * 2;
  }
  // A view of rows [first, first+count): the fused matrices keep their parts as row ranges.
  Q5Matrix row_slice(int first, int count) const {
    Q5Matrix m = *this;
    m.nib += std::size_t(first) * (cols / 32);
    m.hi += std::size_t(first) * (cols / 32);
    m.norms += std::size_t(first) * (cols / 128);
    m.rows = count;
    return m;
  }
};

// Places a matrix's three arrays in one allocation of Q5Matrix::bytes_for(rows, cols) bytes.
Q5Matrix q5_matrix_in(void* storage, int rows, int cols);

// Converts hlwq-q5 codes (hlwq-format.md 3.1, 80 bytes per 128-block, row-major) that are
// already on the device into the layout above. `packed` holds rows*cols*5/8 bytes.
void repack_q5_bigendian(const uint8_t* packed_dev, int rows, int cols, Q5Matrix dst, cudaStream_t stream);

// Fills a matrix with random codes and norms (synthetic models): norms uniform in
// [0.5, 1.5] * norm_scale.
void fill_random_q5(Q5Matrix dst, uint64_t seed, float norm_scale, cudaStream_t stream);

}  // namespace hlwq::cuda
