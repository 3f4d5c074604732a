#pragma once
// What the two on-chip prefill GEMMs (prefill_gemm_q5.cu on mma.sync, prefill_gemm_q5_wgmma.cu
// on wgmma) share outside their inner loops: the order their CTAs take the output tiles in,
// where a lane finds its rows' codes in the Q5 layout, the K split of a short prompt and the
// store of a result. One copy, so a change to the walk or the split reaches both kernels.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "cuda_check.h"
#include "prefill_gemm_q5.h"
#include "q5_pair_table.cuh"

namespace hlwq::cuda {

// First row and token of CTA `cta`'s output tile. CTAs go in groups of 8 row tiles: the 8 of a
// group take one token tile, then the next, so the group's weights and the token tile's
// activations are read from L2 while the other CTAs of the group still need them.
struct PrefillTile {
  int row0, tok0;
};
__device__ __forceinline__ PrefillTile prefill_tile(int cta, int row_tiles, int tok_tiles, int tile_rows,
                                                    int tile_tokens) {
  constexpr int kGroup = 8;
  const int per_group = kGroup * tok_tiles, group = cta / per_group;
  const int first = group * kGroup, gsize = min(row_tiles - first, kGroup), in_group = cta - group * per_group;
  return {(first + in_group % gsize) * tile_rows, (in_group / gsize) * tile_tokens};
}

// Where one row of a view keeps its codes: block b's row-block is base + b * stride (the rows of
// a 16-row tile sit side by side per block; the last tile of the stored matrix may be shorter).
struct Q5RowWalk {
  uint32_t base, stride;
  __device__ __forceinline__ uint32_t at(int b) const { return base + uint32_t(b) * stride; }
};
// View row `r`, clamped to the view's last row (rows past it load valid codes, never stored).
__device__ __forceinline__ Q5RowWalk q5_row_walk(const QMatrix& w, int nb, int r) {
  const int sr = w.row0 + min(r, w.rows - 1);
  const int tile = sr / kQTileRows;
  return {uint32_t(tile) * kQTileRows * nb + uint32_t(sr % kQTileRows),
          uint32_t(min(kQTileRows, w.stored_rows - tile * kQTileRows))};
}

// Block b's codes and norms of rows g and g + 8 of a tile (walks r0, r1), as lane (g, t) holds them.
__device__ __forceinline__ void load_q5_tile_codes(const QMatrix& w, const Q5RowWalk& r0w, const Q5RowWalk& r1w,
                                                   int b, int t, Q5TileCodes& c) {
  const unsigned short* nrm = reinterpret_cast<const unsigned short*>(w.norms);
  const uint32_t r0 = r0w.at(b), r1 = r1w.at(b);
  c.n0 = __ldg(w.nib + (r0 * 4 + t));
  c.n1 = __ldg(w.nib + (r1 * 4 + t));
  c.h0 = __ldg(w.hi + (r0 * 4 + t));
  c.h1 = __ldg(w.hi + (r1 * 4 + t));
  c.norm0 = __ldg(nrm + r0);
  c.norm1 = __ldg(nrm + r1);
}

// 16 bytes global -> shared, asynchronously; `valid` false writes zeros (a token past the end).
__device__ __forceinline__ void cp_async16(uint32_t dst, const void* src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(dst), "l"(src), "r"(valid ? 16 : 0));
}

// Output (row, token) of a call, the sum `acc` in units of the norm `unit`: added by atomics
// when K is split, else stored or accumulated.
__device__ __forceinline__ void store_prefill_out(const PrefillGemmQ5Args& a, int row, int tok, float acc, float unit,
                                                  bool split) {
  if (row >= a.w.rows || tok >= a.tokens) return;
  const float v = acc * unit;
  float* o = a.out + std::size_t(tok) * a.ldo + row;
  if (split) atomicAdd(o, v);
  else if (a.accumulate) *o += v;
  else *o = v;
}

// Host: K split for `ctas` output tiles. Too few CTAs for the GPU (a short prompt): K is split
// into parts of at least 4 blocks, so that ctas x splits covers the SMs; a split store starts
// from zeroed outputs (the parts are added by atomics).
struct PrefillSplitK {
  int blocks_per_split, splits;
};
inline PrefillSplitK prefill_split_k(const PrefillGemmQ5Args& a, int ctas, const char* what, cudaStream_t stream) {
  const int nb = a.w.cols / 128, sms = device_sms();
  int splits = 1;
  if (ctas < sms) splits = std::min(std::max(1, nb / 4), (sms + ctas - 1) / ctas);
  const int per = (nb + splits - 1) / splits;
  splits = (nb + per - 1) / per;
  if (splits > 1 && !a.accumulate)
    check(cudaMemset2DAsync(a.out, std::size_t(a.ldo) * 4, 0, std::size_t(a.w.rows) * 4, std::size_t(a.tokens), stream),
          what);
  return {per, splits};
}

}  // namespace hlwq::cuda
