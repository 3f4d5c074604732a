#pragma once
// The GPU layout of one HLWQ weight matrix W[rows, cols] with 5-, 4- or 3-bit codes: still
// exactly `bits` bits per weight plus one fp16 norm per 128-block (bytes_for), arranged for the
// tensor-core GEMV.
//
// Codes go in pairs: pair p of a 32-code run is the (2*bits)-bit index
// code[2p] | code[2p+1] << bits, which the GEMV looks up in a table of 2^(2*bits) half2
// entries (one mma A-fragment register). A run's 16 pairs take `bits` 32-bit words, and each
// pair is laid out so that one rotate and one LOP3 bring it to bits 7.. of a register (table
// index * 128: the byte offset of a table whose entries are replicated once per lane):
//   Q5: 5 words. Word q holds pairs 3q..3q+2, each in 10 cyclically contiguous bits starting
//       at bit (9 + 2q + 10i) % 32, and bits 2q, 2q+1 of pair 15 at bits 7+2q, 8+2q (so pair
//       15 is five masks and ORs away, already at bits 7..16).
//   Q4: 4 words. Word q holds pairs 4q..4q+3, pair 4q+i at bits 8i..8i+7.
//   Q3: 3 words. Word q holds pairs 5q..5q+4, each in 6 cyclically contiguous bits starting at
//       bit (9 + 2q + 6i) % 32, and bits 2q, 2q+1 of pair 15 at bits 7+2q, 8+2q.
//
// Rows go in tiles of 16 (one mma M), and inside a tile, block-major: for tile T, block b,
// tile row r (0..15) and run t (0..3 inside the block) the "row-block" index is
//   rb = T*16*nb + b*rows_in_tile(T) + r,   nb = cols/128,
// and run rb*4 + t has its words 0-3 (Q5, Q4: one uint4) or 0-1 (Q3: one uint2) at lo[rb*4 + t],
// its last word (Q5: word 4, Q3: word 2; Q4 has none) at hi[rb*4 + t], and the norm is
// norms[rb]. A warp reading one tile-block reads each array contiguously. The last tile may have
// fewer than 16 rows (then it is stored with rows_in_tile rows: no padding bytes).
// Files are repacked into this at load (host: q_encode_run; device, Q5 only: repack_q5_bigendian).
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace hlwq::cuda {

constexpr int kQTileRows = 16;

// A 32-code run has `bits` words: `lo` takes 4 (Q5, Q4) or 2 (Q3), `hi` the rest.
__host__ __device__ constexpr int q_lo_words(int bits) { return bits == 3 ? 2 : 4; }
__host__ __device__ constexpr int q_hi_words(int bits) { return bits - q_lo_words(bits); }
__host__ __device__ constexpr bool q_bits_supported(int bits) { return bits >= 3 && bits <= 5; }

// Pairs 0..pairs_in_words-1 sit in whole fields (pair p in word p / per_word); Q5 and Q3 spread
// pair 15 over the words' two spare bits each.
__host__ __device__ constexpr int q_pairs_per_word(int bits) { return bits == 5 ? 3 : bits == 4 ? 4 : 5; }
__host__ __device__ constexpr int q_split_pair(int bits) { return bits == 4 ? 16 : 15; }  // 16: none

// First bit of pair p (p < q_split_pair(bits)) in word p / q_pairs_per_word(bits).
__host__ __device__ constexpr int q_pair_bit(int bits, int p) {
  return bits == 4 ? 8 * (p % 4)
                   : (9 + 2 * (p / q_pairs_per_word(bits)) + 2 * bits * (p % q_pairs_per_word(bits))) % 32;
}
__host__ __device__ constexpr int q5_pair_bit(int p) { return q_pair_bit(5, p); }

__host__ __device__ inline uint32_t q5_rotl(uint32_t v, int n) {
  n &= 31;
  return n ? (v << n) | (v >> (32 - n)) : v;
}

// 32 codes (each 0..2^bits-1) -> the `bits` words of one run.
__host__ __device__ inline void q_encode_run(int bits, const uint8_t* codes, uint32_t* w) {
  const uint32_t mask = (1u << bits) - 1u, split = uint32_t(q_split_pair(bits));
  const int per_word = q_pairs_per_word(bits);
  for (int q = 0; q < bits; ++q) w[q] = 0;
  for (int p = 0; p < int(split); ++p) {
    const uint32_t pair = uint32_t(codes[2 * p] & mask) | uint32_t(codes[2 * p + 1] & mask) << bits;
    w[p / per_word] |= q5_rotl(pair, q_pair_bit(bits, p));
  }
  if (split == 15) {
    const uint32_t last = uint32_t(codes[30] & mask) | uint32_t(codes[31] & mask) << bits;
    for (int q = 0; q < bits; ++q) w[q] |= ((last >> (2 * q)) & 3u) << (7 + 2 * q);
  }
}

// Pair p (0..15) of a run back from its words (the reference decode; the kernels have their own).
__host__ __device__ inline uint32_t q_decode_pair(int bits, const uint32_t* w, int p) {
  const uint32_t mask = (1u << (2 * bits)) - 1u;
  if (p < q_split_pair(bits)) return q5_rotl(w[p / q_pairs_per_word(bits)], 32 - q_pair_bit(bits, p)) & mask;
  uint32_t v = 0;
  for (int q = 0; q < bits; ++q) v |= ((w[q] >> (7 + 2 * q)) & 3u) << (2 * q);
  return v;
}

__host__ __device__ inline uint32_t q_decode_code(int bits, const uint32_t* w, int j) {  // j: 0..31
  const uint32_t pair = q_decode_pair(bits, w, j / 2);
  return j % 2 ? pair >> bits : pair & ((1u << bits) - 1u);
}

// The Q5 forms the Q5-only kernels use.
__host__ __device__ inline void q5_encode_run(const uint8_t* codes, uint32_t w[5]) { q_encode_run(5, codes, w); }
__host__ __device__ inline uint32_t q5_decode_pair(const uint32_t w[5], int p) { return q_decode_pair(5, w, p); }
__host__ __device__ inline uint32_t q5_decode_code(const uint32_t w[5], int j) { return q_decode_code(5, w, j); }

// Where (row, block) lives, for a matrix stored with `stored_rows` rows of `cols` columns.
__host__ __device__ inline std::size_t q_row_block(int stored_rows, int cols, int row, int block) {
  const int nb = cols / 128, tile = row / kQTileRows;
  const int in_tile = stored_rows - tile * kQTileRows < kQTileRows ? stored_rows - tile * kQTileRows : kQTileRows;
  return std::size_t(tile) * kQTileRows * nb + std::size_t(block) * in_tile + row % kQTileRows;
}

struct QMatrix {
  const uint4* nib = nullptr;      // words 0-3 of each run (Q5, Q4); Q3: words 0-1, read as lo2()
  const uint32_t* hi = nullptr;    // the run's last word (Q5: word 4, Q3: word 2); Q4: unused
  const __half* norms = nullptr;   // one per row-block
  int bits = 5;                    // 5, 4 or 3
  int rows = 0;                    // rows of this view
  int cols = 0;                    // multiple of 128
  int row0 = 0;                    // first row of this view inside the stored matrix
  int stored_rows = 0;             // rows of the stored matrix (the tiling is over these)

  __host__ __device__ std::size_t runs() const { return std::size_t(rows) * (cols / 32); }
  __host__ __device__ const uint2* lo2() const { return reinterpret_cast<const uint2*>(nib); }
  static std::size_t bytes_for(int bits, int rows, int cols) {
    return std::size_t(rows) * (cols / 32) * 4 * bits + std::size_t(rows) * (cols / 128) * 2;
  }
  // Row-block index of view row `row` (0..rows-1), block `block`.
  __host__ __device__ std::size_t row_block(int row, int block) const {
    return q_row_block(stored_rows, cols, row0 + row, block);
  }
  // The `bits` words of run t (0..3) of row-block rb (device or host image alike).
  __host__ __device__ void run_words(std::size_t rb, int t, uint32_t* w) const {
    const std::size_t i = rb * 4 + t;
    if (bits == 3) {
      const uint2 l = lo2()[i];
      w[0] = l.x; w[1] = l.y; w[2] = hi[i];
      return;
    }
    const uint4 l = nib[i];
    w[0] = l.x; w[1] = l.y; w[2] = l.z; w[3] = l.w;
    if (bits == 5) w[4] = hi[i];
  }
  // A view of rows [first, first+count): the fused matrices keep their parts as row ranges.
  QMatrix row_slice(int first, int count) const {
    QMatrix m = *this;
    m.row0 += first;
    m.rows = count;
    return m;
  }
};

// Places a matrix's three arrays in one allocation of QMatrix::bytes_for(bits, rows, cols)
// bytes. Throws Error{InvalidArgument} for bit widths other than 5, 4 and 3.
QMatrix q_matrix_in(void* storage, int bits, int rows, int cols);

// Host image offsets (bytes from the start of the storage) of run t of (row, block)'s lo
// words, its hi word (Q4 has none: the offset is then unused) and its norm.
struct QHostOffsets {
  std::size_t lo, hi, norm;
};
QHostOffsets q_host_offsets(int bits, int rows, int cols, int row, int block, int t);

// The host-side repack: encodes run t (32 codes) of (row, block) and writes its words and the
// block's norm (fp16 bits) into `image`, a host copy of QMatrix::bytes_for(bits, rows, cols)
// bytes, where the layout above puts them.
void q_put_run(uint8_t* image, int bits, int rows, int cols, int row, int block, int t, const uint8_t* codes,
               uint16_t norm);

// Converts hlwq-q5 codes (hlwq-format.md 3.1, 80 bytes per 128-block, row-major) and fp16
// norms [rows][cols/128] (row-major), both already on the device, into the layout above.
// `packed` holds rows*cols*5/8 bytes; `dst` must be a 5-bit matrix.
void repack_q5_bigendian(const uint8_t* packed_dev, const __half* norms_dev, QMatrix dst, cudaStream_t stream);

// Fills a matrix with random codes and norms (synthetic models): norms uniform in
// [0.5, 1.5] * norm_scale. Every bit pattern of the words is a valid set of codes.
void fill_random_q(QMatrix dst, uint64_t seed, float norm_scale, cudaStream_t stream);

}  // namespace hlwq::cuda
