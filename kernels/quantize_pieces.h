#pragma once
// How the GPU quantizer (quantize_cuda.cpp) cuts a chunk of rows into pieces that fit its slots
// (planner::quantize_arena: a slot holds `in_cap` source bytes and `out_cap` bytes of codes and
// fp16 scales). A piece is whole rows when one row fits a slot, else a run of whole 128-blocks
// of one row: blocks are quantized independently, so either cut gives the same bytes. Host
// arithmetic only, tested without a GPU.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"

namespace hlwq::cuda {

struct QuantizePiece {
  int64_t row0 = 0, rows = 0;      // rows of the chunk
  int64_t block0 = 0, blocks = 0;  // their 128-blocks (all of a row, or a part of one row)

  // Source columns of the piece: the last block of a row may be partial.
  int64_t cols(int64_t chunk_cols) const { return std::min(blocks * 128, chunk_cols - block0 * 128); }
  // Source bytes, contiguous in the chunk from (row0 * chunk_cols + block0 * 128) * value_bytes.
  uint64_t in_bytes(int64_t chunk_cols, int value_bytes) const {
    return uint64_t(rows) * uint64_t(cols(chunk_cols)) * uint64_t(value_bytes);
  }
  uint64_t packed_bytes(int bits) const { return uint64_t(rows) * uint64_t(blocks) * 16 * uint64_t(bits); }
  uint64_t out_bytes(int bits) const { return packed_bytes(bits) + 2 * uint64_t(rows) * uint64_t(blocks); }
};

// The pieces of `rows` x `cols` values of `value_bytes` each at `bits`, in order, every block
// once. Error{Internal} if a slot cannot hold even one block (capacities from a wrong plan).
inline std::vector<QuantizePiece> quantize_pieces(int64_t rows, int64_t cols, int value_bytes, int bits,
                                                  uint64_t in_cap, uint64_t out_cap) {
  std::vector<QuantizePiece> out;
  if (rows <= 0 || cols <= 0) return out;
  const int64_t nb = (cols + 127) / 128;
  const uint64_t block_in = 128 * uint64_t(value_bytes), block_out = 16 * uint64_t(bits) + 2;
  const int64_t blocks_fit = int64_t(std::min(in_cap / block_in, out_cap / block_out));
  if (blocks_fit < 1)
    throw_error(ErrorKind::Internal, "GPU quantizer: a slot of ", std::to_string(in_cap), " + ", std::to_string(out_cap),
                " bytes cannot hold one block");
  const int64_t rows_fit = std::min<int64_t>(int64_t(in_cap / (uint64_t(cols) * uint64_t(value_bytes))),
                                             int64_t(out_cap / (uint64_t(nb) * block_out)));
  if (rows_fit >= 1) {
    for (int64_t r0 = 0; r0 < rows; r0 += rows_fit) out.push_back({r0, std::min(rows_fit, rows - r0), 0, nb});
  } else {
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t b0 = 0; b0 < nb; b0 += blocks_fit) out.push_back({r, 1, b0, std::min(blocks_fit, nb - b0)});
  }
  return out;
}

}  // namespace hlwq::cuda
