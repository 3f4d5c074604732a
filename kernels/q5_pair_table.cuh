#pragma once
// The pair-table decode that the Q5 GEMV and the on-chip prefill GEMMs share: where pair P of a
// 32-code run sits in its five words (q_matrix.h), as the byte offset of this lane's copy of
// its table entry, and (for the prefill kernels) the bf16 table itself and the codes of one
// 16-row tile. One copy, so the kernels cannot drift apart on the layout.
#include <cuda_bf16.h>

#include <cstdint>

#include "q_matrix.h"

namespace hlwq::cuda {

// Byte offset of pair P's table entry for this lane (lane4 = lane * 4; entries of 32 lanes per
// pair): pairs 0-14 take a rotate and a LOP3, pair 15 is gathered from the five spare fields.
template <int P>
__device__ __forceinline__ uint32_t q5_pair_offset(const uint4& n, uint32_t h, uint32_t lane4) {
  if constexpr (P == 15) {
    return (n.x & 0x180u) | (n.y & 0x600u) | (n.z & 0x1800u) | (n.w & 0x6000u) | (h & 0x18000u) | lane4;
  } else {
    constexpr int q = P / 3;
    const uint32_t w = q == 0 ? n.x : q == 1 ? n.y : q == 2 ? n.z : q == 3 ? n.w : h;
    return (__funnelshift_l(w, w, (7 - q5_pair_bit(P)) & 31) & 0x1FF80u) | lane4;
  }
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
