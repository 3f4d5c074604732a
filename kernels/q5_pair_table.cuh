#pragma once
// The pair-table decode that the GEMV (every width) and the on-chip Q5 prefill GEMMs share:
// where pair P of a 32-code run sits in its words (q_matrix.h), as the byte offset of this
// lane's copy of its table entry, and (for the prefill kernels) the bf16 table itself and the
// codes of one 16-row tile. One copy, so the kernels cannot drift apart on the layout.
#include <cuda_bf16.h>

#include <cstdint>

#include "q_matrix.h"

namespace hlwq::cuda {

// Word q of a run as the kernels hold it: Q5 and Q4 words 0-3 in n (Q3: words 0-1 in n.x,
// n.y), the last word of Q5 and Q3 in h.
template <int BITS, int Q>
__device__ __forceinline__ uint32_t q_run_word(const uint4& n, uint32_t h) {
  static_assert(Q < BITS, "a run has `bits` words");
  if constexpr (Q == q_lo_words(BITS)) return h;
  else return Q == 0 ? n.x : Q == 1 ? n.y : Q == 2 ? n.z : n.w;
}

// Byte offset of pair P's table entry for this lane in a table of 2^(2 BITS) pairs (lane4 =
// lane * 4; entries of 32 lanes per pair): pairs in whole fields take a rotate and a LOP3,
// pair 15 of Q5 and Q3 is gathered from the words' spare bits (7 + 2q, 8 + 2q of word q).
template <int BITS, int P>
__device__ __forceinline__ uint32_t q_pair_offset(const uint4& n, uint32_t h, uint32_t lane4) {
  constexpr uint32_t kMask = ((1u << (2 * BITS)) - 1u) << 7;
  if constexpr (P == q_split_pair(BITS)) {
    if constexpr (BITS == 5)
      return (n.x & 0x180u) | (n.y & 0x600u) | (n.z & 0x1800u) | (n.w & 0x6000u) | (h & 0x18000u) | lane4;
    else
      return (n.x & 0x180u) | (n.y & 0x600u) | (h & 0x1800u) | lane4;
  } else {
    const uint32_t w = q_run_word<BITS, P / q_pairs_per_word(BITS)>(n, h);
    return (__funnelshift_l(w, w, (7 - q_pair_bit(BITS, P)) & 31) & kMask) | lane4;
  }
}

// The Q5 form the prefill GEMMs use.
template <int P>
__device__ __forceinline__ uint32_t q5_pair_offset(const uint4& n, uint32_t h, uint32_t lane4) {
  return q_pair_offset<5, P>(n, h, lane4);
}

// The prefill GEMMs' table: entry (a | b << 5, lane) = bf16x2(c[a], c[b]) / sqrt(128) at byte
// (pair * 32 + lane) * 4, built by all kThreads threads of the block.
constexpr int kQ5PairTableBf16Bytes = 1024 * 32 * 4;

template <int kThreads>
__device__ void build_q5_pair_table_bf16(uint32_t* table, const float* codebook) {
  const int i = threadIdx.x;
  const float s = 0.08838834764831845f;
  const float lo = codebook[(i >> 3) & 31] * s;
#pragma unroll 4
  for (int k = 0; k < kQ5PairTableBf16Bytes / 16 / kThreads; ++k) {
    const __nv_bfloat162 h = __floats2bfloat162_rn(lo, codebook[(i >> 8) + k] * s);
    const uint32_t v = *reinterpret_cast<const uint32_t*>(&h);
    reinterpret_cast<uint4*>(table)[i + k * kThreads] = make_uint4(v, v, v, v);
  }
}

// One 16-row tile's codes for one 128-column block, as lane (g, t) of the mma holds them.
struct Q5TileCodes {
  uint4 n0, n1;
  uint32_t h0, h1;
  uint32_t norm0, norm1;  // fp16 bits of rows g and g + 8
};

}  // namespace hlwq::cuda
