#pragma once
// The GPU layout of one HLWQ 5-bit weight matrix W[rows, cols]: still exactly 5 bits per
// weight plus one fp16 norm per 128-block (bytes_for), arranged for the tensor-core GEMV.
//
// Codes go in pairs: pair p of a 32-code run is the 10-bit index code[2p] | code[2p+1] << 5,
// which the GEMV looks up in a 1024-entry table of half2 (one mma A-fragment register).
// A run's 16 pairs = 160 bits = five 32-bit words: word q holds pairs 3q..3q+2, each in 10
// cyclically contiguous bits starting at bit (9 + 2q + 10i) % 32, and bits 2q, 2q+1 of
// pair 15 at bits 7+2q, 8+2q. So pairs 0-14 come out with a rotate and one LOP3, pair 15
// with five LOP3s, each landing already at bits 7..16: table index * 128, the byte offset
// of a table whose entries are replicated once per lane.
//
// Rows go in tiles of 16 (one mma M), and inside a tile, block-major: for tile T, block b,
// tile row r (0..15) and run t (0..3 inside the block) the "row-block" index is
//   rb = T*16*nb + b*rows_in_tile(T) + r,   nb = cols/128,
// words 0-3 are nib[rb*4 + t] (uint4), word 4 is hi[rb*4 + t], the norm is norms[rb]. A
// warp reading one tile-block reads 1 KiB + 256 B + 32 B, each contiguous. The last tile may
// have fewer than 16 rows (then it is stored with rows_in_tile rows: no padding bytes).
// Files are repacked into this at load (host: q5_encode_run; device: repack_q5_bigendian).
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace hlwq::cuda {

constexpr int kQ5TileRows = 16;

__host__ __device__ constexpr int q5_pair_bit(int p) {  // first bit of pair p (0..14) in word p/3
  return (9 + 2 * (p / 3) + 10 * (p % 3)) % 32;
}

__host__ __device__ inline uint32_t q5_rotl(uint32_t v, int n) {
  n &= 31;
  return n ? (v << n) | (v >> (32 - n)) : v;
}

// 32 codes (each 0..31) -> the five words of one run.
__host__ __device__ inline void q5_encode_run(const uint8_t* codes, uint32_t w[5]) {
  for (int q = 0; q < 5; ++q) w[q] = 0;
  for (int p = 0; p < 15; ++p) {
    const uint32_t pair = uint32_t(codes[2 * p] & 31) | uint32_t(codes[2 * p + 1] & 31) << 5;
    w[p / 3] |= q5_rotl(pair, q5_pair_bit(p));
  }
  const uint32_t last = uint32_t(codes[30] & 31) | uint32_t(codes[31] & 31) << 5;
  for (int q = 0; q < 5; ++q) w[q] |= ((last >> (2 * q)) & 3u) << (7 + 2 * q);
}

// Pair p (0..15) of a run back from its five words (the reference decode; the GEMV has its own).
__host__ __device__ inline uint32_t q5_decode_pair(const uint32_t w[5], int p) {
  if (p < 15) return q5_rotl(w[p / 3], 32 - q5_pair_bit(p)) & 0x3FFu;
  uint32_t v = 0;
  for (int q = 0; q < 5; ++q) v |= ((w[q] >> (7 + 2 * q)) & 3u) << (2 * q);
  return v;
}

__host__ __device__ inline uint32_t q5_decode_code(const uint32_t w[5], int j) {  // j: 0..31
  const uint32_t pair = q5_decode_pair(w, j / 2);
  return j % 2 ? pair >> 5 : pair & 31u;
}

// Where (row, block) lives, for a matrix stored with `stored_rows` rows of `cols` columns.
__host__ __device__ inline std::size_t q5_row_block(int stored_rows, int cols, int row, int block) {
  const int nb = cols / 128, tile = row / kQ5TileRows;
  const int in_tile = stored_rows - tile * kQ5TileRows < kQ5TileRows ? stored_rows - tile * kQ5TileRows : kQ5TileRows;
  return std::size_t(tile) * kQ5TileRows * nb + std::size_t(block) * in_tile + row % kQ5TileRows;
}

struct Q5Matrix {
  const uint4* nib = nullptr;      // words 0-3 of each run
  const uint32_t* hi = nullptr;    // word 4 of each run
  const __half* norms = nullptr;   // one per row-block
  int rows = 0;                    // rows of this view
  int cols = 0;                    // multiple of 128
  int row0 = 0;                    // first row of this view inside the stored matrix
  int stored_rows = 0;             // rows of the stored matrix (the tiling is over these)

  __host__ __device__ std::size_t runs() const { return std::size_t(rows) * (cols / 32); }
  static std::size_t bytes_for(int rows, int cols) {
    return std::size_t(rows) * (cols / 32) * 20 + std::size_t(rows) * (cols / 128) * 2;
  }
  // Row-block index of view row `row` (0..rows-1), block `block`.
  __host__ __device__ std::size_t row_block(int row, int block) const {
    return q5_row_block(stored_rows, cols, row0 + row, block);
  }
  // A view of rows [first, first+count): the fused matrices keep their parts as row ranges.
  Q5Matrix row_slice(int first, int count) const {
    Q5Matrix m = *this;
    m.row0 += first;
    m.rows = count;
    return m;
  }
};

// Places a matrix's three arrays in one allocation of Q5Matrix::bytes_for(rows, cols) bytes.
Q5Matrix q5_matrix_in(void* storage, int rows, int cols);

// Host image offsets (bytes from the start of the storage) of run t of (row, block)'s words
// 0-3, its word 4, and its norm: what the host-side repack writes.
struct Q5HostOffsets {
  std::size_t nib, hi, norm;
};
Q5HostOffsets q5_host_offsets(int rows, int cols, int row, int block, int t);

// Converts hlwq-q5 codes (hlwq-format.md 3.1, 80 bytes per 128-block, row-major) and fp16
// norms [rows][cols/128] (row-major), both already on the device, into the layout above.
// `packed` holds rows*cols*5/8 bytes.
void repack_q5_bigendian(const uint8_t* packed_dev, const __half* norms_dev, Q5Matrix dst, cudaStream_t stream);

// Fills a matrix with random codes and norms (synthetic models): norms uniform in
// [0.5, 1.5] * norm_scale. Every bit pattern of the words is a valid set of codes.
void fill_random_q5(Q5Matrix dst, uint64_t seed, float norm_scale, cudaStream_t stream);

}  // namespace hlwq::cuda
