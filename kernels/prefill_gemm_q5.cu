#include "prefill_gemm_q5.h"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "core/error.h"
#include "cuda_check.h"

// A CTA owns 128 weight rows x BN tokens of the output and walks K one 128-column block at a
// time (one norm per row per step). Per step it holds, double-buffered in shared memory, the
// decoded weights [128 rows][128 k] and the activations [BN tokens][128 k] as bf16 rows of
// 256 bytes whose 16-byte chunks are XOR-swizzled by (row & 7), so the ldmatrix reads of 8
// rows at one chunk hit 8 different bank groups. The activations arrive by cp.async; the
// codes of step k+1 are loaded into registers before step k's mma and decoded into the other
// buffer after it, so one barrier per step separates everything.
// The direct kernel's dynamic shared memory, at global scope so inline PTX can name it.
extern __shared__ __align__(16) unsigned char hlwq_pgemm_smem[];

namespace hlwq::cuda {
namespace {

constexpr int kBM = 128, kThreads = 256, kRowBytes = 256;
constexpr int kABytes = kBM * kRowBytes;  // one decoded weight buffer

__device__ __forceinline__ uint32_t smem_u32(const void* p) {
  return uint32_t(__cvta_generic_to_shared(p));
}

// Byte offset of 16-byte chunk `chunk` (0..15) of row `row` in a swizzled buffer.
__device__ __forceinline__ uint32_t swz(int row, int chunk) {
  return uint32_t(row * kRowBytes + ((chunk ^ (row & 7)) << 4));
}

__device__ __forceinline__ void cp_async16(uint32_t dst, const void* src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(dst), "l"(src), "r"(valid ? 16 : 0));
}

__device__ __forceinline__ void ldsm_x4(uint32_t addr, uint32_t& r0, uint32_t& r1, uint32_t& r2, uint32_t& r3) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
               : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
               : "r"(addr));
}

__device__ __forceinline__ void mma_bf16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// The two runs (32 codes each) a thread decodes per K step: runs tid and tid + 256 of the
// CTA's 128 rows x 4 runs, i.e. row i / 4, run i % 4. Consecutive threads read consecutive
// 16-byte words of a tile-block (q5_matrix.h), and the row-block index of block b is
// base + b * stride inside the row's 16-row tile.
struct RunSlot {
  uint32_t base, stride;
};

struct RunWords {
  uint4 nib;
  uint32_t hi;
  unsigned short norm;
};

__device__ __forceinline__ RunWords load_run(const Q5Matrix& w, const RunSlot& s, int t, int block) {
  const uint32_t rb = s.base + uint32_t(block) * s.stride;
  RunWords r;
  r.nib = __ldg(w.nib + (rb * 4 + t));
  r.hi = __ldg(w.hi + (rb * 4 + t));
  r.norm = __ldg(reinterpret_cast<const unsigned short*>(w.norms) + rb);
  return r;
}

// 32 codes -> 32 bf16 (table value * norm, rounded once) at chunks 4t..4t+3 of the row.
__device__ __forceinline__ void decode_run(const RunWords& r, const float* tab, unsigned char* buf, int row, int t) {
  const uint32_t words[5] = {r.nib.x, r.nib.y, r.nib.z, r.nib.w, r.hi};
  const float n = __half2float(__ushort_as_half(r.norm));
  uint32_t v[16];
#pragma unroll
  for (int p = 0; p < 16; ++p) {
    const uint32_t pair = q5_decode_pair(words, p);
    const __nv_bfloat162 h = __floats2bfloat162_rn(tab[pair & 31u] * n, tab[pair >> 5] * n);
    v[p] = *reinterpret_cast<const uint32_t*>(&h);
  }
#pragma unroll
  for (int q = 0; q < 4; ++q)
    *reinterpret_cast<uint4*>(buf + swz(row, 4 * t + q)) = make_uint4(v[4 * q], v[4 * q + 1], v[4 * q + 2], v[4 * q + 3]);
}

// BN tokens: 8 warps as (8 / (BN / 32)) along the rows x (BN / 32) along the tokens, each
// warp 32 tokens (4 n-tiles) by MT 16-row m-tiles.
template <int BN>
__global__ void __launch_bounds__(kThreads) prefill_gemm_q5_kernel(PrefillGemmQ5Args a, int row_tiles, int tok_tiles,
                                                                    int blocks_per_split) {
  constexpr int WN = BN / 32, WM = 8 / WN, MT = kBM / WM / 16, NT = 4;
  constexpr int kBBytes = BN * kRowBytes;
  extern __shared__ __align__(128) unsigned char smem[];
  unsigned char* As = smem;                         // 2 x kABytes
  unsigned char* Bs = smem + 2 * kABytes;           // 2 x kBBytes
  float* tab = reinterpret_cast<float*>(Bs + 2 * kBBytes);

  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int wm = warp / WN, wn = warp % WN;
  // Grouped raster: 8 row tiles share a band of token tiles, so the CTAs resident at once
  // reuse each other's weights and activations from L2.
  constexpr int kGroup = 8;
  const int L = blockIdx.x, per_group = kGroup * tok_tiles, group = L / per_group;
  const int first = group * kGroup, gsize = min(row_tiles - first, kGroup), in_group = L - group * per_group;
  const int row0 = (first + in_group % gsize) * kBM, tok0 = (in_group / gsize) * BN;

  const Q5Matrix& w = a.w;
  const int nb = w.cols / 128, k = w.cols;
  const int kb0 = blockIdx.y * blocks_per_split, kb1 = min(nb, kb0 + blocks_per_split);

  if (tid < 32) tab[tid] = a.codebook[tid] * 0.08838834764831845f;  // c / sqrt(128)

  RunSlot slot[2];
  int srow[2], st[2];
#pragma unroll
  for (int j = 0; j < 2; ++j) {
    const int i = tid + j * kThreads;
    srow[j] = i >> 2;
    st[j] = i & 3;
    // Rows past the view read a valid row; the epilogue drops them.
    const int sr = w.row0 + min(row0 + srow[j], w.rows - 1);
    const int tile = sr / kQ5TileRows;
    const int in_tile = min(kQ5TileRows, w.stored_rows - tile * kQ5TileRows);
    slot[j].base = uint32_t(tile) * kQ5TileRows * nb + uint32_t(sr % kQ5TileRows);
    slot[j].stride = uint32_t(in_tile);
  }

  auto load_acts = [&](int block, int buf) {
    const uint32_t dst0 = smem_u32(Bs + buf * kBBytes);
#pragma unroll
    for (int j = 0; j < BN * 16 / kThreads; ++j) {
      const int c = tid + j * kThreads, tok = c >> 4, ch = c & 15;
      const bool valid = tok0 + tok < a.tokens;
      const __nv_bfloat16* src = valid ? a.in + (size_t(tok0 + tok) * k + block * 128 + ch * 8) : a.in;
      cp_async16(dst0 + swz(tok, ch), src, valid);
    }
    asm volatile("cp.async.commit_group;");
  };

  float acc[MT][NT][4];
#pragma unroll
  for (int i = 0; i < MT; ++i)
#pragma unroll
    for (int j = 0; j < NT; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;

  RunWords rw[2];
  load_acts(kb0, 0);
#pragma unroll
  for (int j = 0; j < 2; ++j) rw[j] = load_run(w, slot[j], st[j], kb0);
  __syncthreads();  // the table
#pragma unroll
  for (int j = 0; j < 2; ++j) decode_run(rw[j], tab, As, srow[j], st[j]);

  // ldmatrix lane addresses: A rows (lane & 15), chunk + (lane >> 4); B tokens
  // (lane & 7) + 8 * (lane >> 4), chunk + ((lane >> 3) & 1).
  const int a_row = wm * MT * 16 + (lane & 15), a_ch = lane >> 4;
  const int b_tok = wn * 32 + (lane & 7) + ((lane >> 4) << 3), b_ch = (lane >> 3) & 1;

  for (int kb = kb0; kb < kb1; ++kb) {
    const int buf = (kb - kb0) & 1;
    asm volatile("cp.async.wait_group 0;" ::: "memory");
    __syncthreads();  // step kb's operands are in place; step kb-1's reads are done
    // The last step loads and decodes block kb again into the idle buffer (branch-free, so
    // the decode below can be scheduled between the mma).
    const int next = min(kb + 1, kb1 - 1);
    if (kb + 1 < kb1) load_acts(next, buf ^ 1);
#pragma unroll
    for (int j = 0; j < 2; ++j) rw[j] = load_run(w, slot[j], st[j], next);
    const uint32_t as = smem_u32(As + buf * kABytes), bs = smem_u32(Bs + buf * kBBytes);
    unsigned char* anext = As + (buf ^ 1) * kABytes;
#pragma unroll
    for (int s = 0; s < 8; ++s) {
      // Next block's codes decoded between the k-steps: the mma run while they are.
      if (s == 3) decode_run(rw[0], tab, anext, srow[0], st[0]);
      if (s == 6) decode_run(rw[1], tab, anext, srow[1], st[1]);
      uint32_t af[MT][4], bf[NT][2];
#pragma unroll
      for (int i = 0; i < MT; ++i)
        ldsm_x4(as + swz(a_row + i * 16, 2 * s + a_ch), af[i][0], af[i][1], af[i][2], af[i][3]);
#pragma unroll
      for (int j = 0; j < NT / 2; ++j)
        ldsm_x4(bs + swz(b_tok + j * 16, 2 * s + b_ch), bf[2 * j][0], bf[2 * j][1], bf[2 * j + 1][0], bf[2 * j + 1][1]);
#pragma unroll
      for (int i = 0; i < MT; ++i)
#pragma unroll
        for (int j = 0; j < NT; ++j) mma_bf16(acc[i][j], af[i], bf[j][0], bf[j][1]);
    }
  }

  // C fragment: c0, c1 at (row g, tokens 2t, 2t+1), c2, c3 at row g + 8.
  const int g = lane >> 2, t = lane & 3;
  const bool split = gridDim.y > 1;
#pragma unroll
  for (int i = 0; i < MT; ++i)
#pragma unroll
    for (int j = 0; j < NT; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int row = row0 + wm * MT * 16 + i * 16 + g + (e >> 1) * 8;
        const int tok = tok0 + wn * 32 + j * 8 + 2 * t + (e & 1);
        if (row >= w.rows || tok >= a.tokens) continue;
        float* o = a.out + size_t(tok) * a.ldo + row;
        if (split) atomicAdd(o, acc[i][j][e]);
        else if (a.accumulate) *o += acc[i][j][e];
        else *o = acc[i][j][e];
      }
}

// ---------------------------------------------------------------------------------------
// The direct kernel: no decoded weights in shared memory. As in the decode GEMV (gemv_q5.cu),
// each lane decodes the A fragments of its own 16-row tiles straight into registers, two codes
// per lookup in a 1024-entry bf16x2 pair table replicated per lane (conflict-free, 128 KiB):
// lane (g, t) takes run t of rows g and g + 8, so k-step S of a 128-block multiplies columns
// 32t + 4S .. 4S + 3 (pairs 2S, 2S + 1), and the activation fragment of token g is the
// 8 bytes at the same columns: one 16-byte load covers two k-steps. The table holds
// codebook / sqrt(128) rounded once; the block norm is applied to the accumulators, kept in
// units of the current block's norm (scaled by old / new norm at each block, by the last
// norm at the end), so no second set of accumulators is needed. A zero norm (an all-zero
// block) keeps the units and masks the block's fragments to zero.
// All 8 warps split the rows (MT tiles each) and share the CTA's BN = 8 * NT tokens, so every
// weight is decoded once per CTA.
constexpr uint32_t kDirectSmemBase = 1024;          // dynamic shared memory's window address
constexpr int kPairTableBytes = 1024 * 32 * 4;

__device__ __forceinline__ uint32_t pair_lut(uint32_t off) {
  uint32_t v;
  asm("ld.shared.b32 %0, [%1+%2];" : "=r"(v) : "r"(off), "n"(kDirectSmemBase));
  return v;
}

// Byte offset of pair P's table entry for this lane (the q5_matrix.h word layout).
template <int P>
__device__ __forceinline__ uint32_t pair_off(const uint4& n, uint32_t h, uint32_t lane4) {
  if constexpr (P == 15) {
    return (n.x & 0x180u) | (n.y & 0x600u) | (n.z & 0x1800u) | (n.w & 0x6000u) | (h & 0x18000u) | lane4;
  } else {
    constexpr int q = P / 3;
    const uint32_t w = q == 0 ? n.x : q == 1 ? n.y : q == 2 ? n.z : q == 3 ? n.w : h;
    return (__funnelshift_l(w, w, (7 - q5_pair_bit(P)) & 31) & 0x1FF80u) | lane4;
  }
}

// Entry (a | b << 5, lane) = bf16x2(c[a], c[b]) / sqrt(128) at byte (pair * 32 + lane) * 4.
__device__ void build_pair_table(uint32_t* table, const float* codebook) {
  const int i = threadIdx.x;
  const float s = 0.08838834764831845f;
  const float lo = codebook[(i >> 3) & 31] * s;
#pragma unroll 4
  for (int k = 0; k < kPairTableBytes / 16 / kThreads; ++k) {
    const __nv_bfloat162 h = __floats2bfloat162_rn(lo, codebook[(i >> 8) + k] * s);
    const uint32_t v = *reinterpret_cast<const uint32_t*>(&h);
    reinterpret_cast<uint4*>(table)[i + k * kThreads] = make_uint4(v, v, v, v);
  }
}

// One 16-row tile's codes for one block, as lane (g, t) holds them.
struct TileCodes {
  uint4 n0, n1;
  uint32_t h0, h1;
  uint32_t norm0, norm1;  // fp16 bits of rows g and g + 8
};

// 16-byte chunk c (0..15) of token row `tok` of a direct-kernel activation buffer. The lanes
// of one 8-lane phase read chunks 4t + q (t = 0..3) of two tokens: bit 3 of c and bit 0 of the
// token spread them over all 8 bank groups.
__device__ __forceinline__ uint32_t act_chunk(int tok, int c) {
  return uint32_t(tok * kRowBytes + ((c ^ (((c >> 3) & 1) << 1) ^ (tok & 1)) << 4));
}

__device__ __forceinline__ uint4 lds128(uint32_t addr) {
  uint4 v;
  asm volatile("ld.shared.v4.b32 {%0,%1,%2,%3}, [%4];" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "r"(addr));
  return v;
}

template <int MT, int NT>
__global__ void __launch_bounds__(kThreads, 1) prefill_gemm_q5_direct_kernel(PrefillGemmQ5Args a, int row_tiles,
                                                                             int tok_tiles, int blocks_per_split) {
  constexpr int BM = 8 * MT * 16, BN = NT * 8, kBBytes = BN * kRowBytes;
  unsigned char* smem = hlwq_pgemm_smem;
  uint32_t smem_addr;
  asm("mov.u32 %0, hlwq_pgemm_smem;" : "=r"(smem_addr));
  if (smem_addr != kDirectSmemBase) __trap();  // the lookups' immediate base would be wrong
  unsigned char* Bs = smem + kPairTableBytes;   // 2 x kBBytes

  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t = lane & 3;
  const uint32_t lane4 = uint32_t(lane) * 4;
  constexpr int kGroup = 8;
  const int L = blockIdx.x, per_group = kGroup * tok_tiles, group = L / per_group;
  const int first = group * kGroup, gsize = min(row_tiles - first, kGroup), in_group = L - group * per_group;
  const int row0 = (first + in_group % gsize) * BM, tok0 = (in_group / gsize) * BN;

  const Q5Matrix& w = a.w;
  const int nb = w.cols / 128, k = w.cols;
  const int kb0 = blockIdx.y * blocks_per_split, kb1 = min(nb, kb0 + blocks_per_split);

  // Row-block index of rows g and g + 8 of each tile at block b: base + b * stride.
  uint32_t base[MT][2], stride[MT][2];
#pragma unroll
  for (int i = 0; i < MT; ++i)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int sr = w.row0 + min(row0 + (warp * MT + i) * 16 + g + 8 * h, w.rows - 1);
      const int tile = sr / kQ5TileRows;
      base[i][h] = uint32_t(tile) * kQ5TileRows * nb + uint32_t(sr % kQ5TileRows);
      stride[i][h] = uint32_t(min(kQ5TileRows, w.stored_rows - tile * kQ5TileRows));
    }
  auto load_codes = [&](TileCodes (&c)[MT], int b) {
    const unsigned short* nrm = reinterpret_cast<const unsigned short*>(w.norms);
#pragma unroll
    for (int i = 0; i < MT; ++i) {
      const uint32_t r0 = base[i][0] + uint32_t(b) * stride[i][0], r1 = base[i][1] + uint32_t(b) * stride[i][1];
      c[i].n0 = __ldg(w.nib + (r0 * 4 + t));
      c[i].n1 = __ldg(w.nib + (r1 * 4 + t));
      c[i].h0 = __ldg(w.hi + (r0 * 4 + t));
      c[i].h1 = __ldg(w.hi + (r1 * 4 + t));
      c[i].norm0 = __ldg(nrm + r0);
      c[i].norm1 = __ldg(nrm + r1);
    }
  };
  auto load_acts = [&](int block, int buf) {
    const uint32_t dst0 = smem_u32(Bs + buf * kBBytes);
#pragma unroll
    for (int j = 0; j < BN * 16 / kThreads; ++j) {
      const int c = tid + j * kThreads, tok = c >> 4, ch = c & 15;
      const bool valid = tok0 + tok < a.tokens;
      const __nv_bfloat16* src = valid ? a.in + (size_t(tok0 + tok) * k + block * 128 + ch * 8) : a.in;
      cp_async16(dst0 + act_chunk(tok, ch), src, valid);
    }
    asm volatile("cp.async.commit_group;");
  };

  TileCodes cur[MT];
  load_codes(cur, kb0);
  load_acts(kb0, 0);
  build_pair_table(reinterpret_cast<uint32_t*>(smem), a.codebook);

  float acc[MT][NT][4];
  float unit[MT][2];  // the norm the accumulators of rows g, g + 8 are counted in
#pragma unroll
  for (int i = 0; i < MT; ++i) {
    unit[i][0] = unit[i][1] = 1.0f;
#pragma unroll
    for (int j = 0; j < NT; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;
  }
  const uint32_t bs_base = smem_u32(Bs);

  for (int kb = kb0; kb < kb1; ++kb) {
    const int buf = (kb - kb0) & 1;
    asm volatile("cp.async.wait_group 0;" ::: "memory");
    __syncthreads();  // this block's activations (and the table) in place; the last block's reads done
    TileCodes nxt[MT];
    const int next = min(kb + 1, kb1 - 1);
    if (kb + 1 < kb1) load_acts(next, buf ^ 1);
    load_codes(nxt, next);

    // Re-express the sums in this block's norms; a zero norm keeps the unit and zeroes the block.
    uint32_t keep[MT][2];
    bool any_zero = false;
#pragma unroll
    for (int i = 0; i < MT; ++i) {
      const float n[2] = {__half2float(__ushort_as_half((unsigned short)cur[i].norm0)),
                          __half2float(__ushort_as_half((unsigned short)cur[i].norm1))};
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        keep[i][h] = n[h] != 0.0f ? 0xFFFFFFFFu : 0u;
        any_zero |= n[h] == 0.0f;
        const float nn = n[h] != 0.0f ? n[h] : unit[i][h];
        const float f = unit[i][h] / nn;
        unit[i][h] = nn;
#pragma unroll
        for (int j = 0; j < NT; ++j) {
          acc[i][j][2 * h] *= f;
          acc[i][j][2 * h + 1] *= f;
        }
      }
    }
    const bool mask = __any_sync(0xFFFFFFFFu, any_zero);

    const uint32_t bs = bs_base + buf * kBBytes;
#pragma unroll
    for (int s2 = 0; s2 < 4; ++s2) {  // pairs of k-steps: one 16-byte activation load per n-tile
      uint4 bf[NT];
#pragma unroll
      for (int j = 0; j < NT; ++j) bf[j] = lds128(bs + act_chunk(j * 8 + g, 4 * t + s2));
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int S = 2 * s2 + h;
#pragma unroll
        for (int i = 0; i < MT; ++i) {
          uint32_t af[4];
#define HLWQ_PAIR(P, N, H) pair_lut(pair_off<P>(cur[i].N, cur[i].H, lane4))
          switch (S) {  // compile-time after unrolling
#define HLWQ_KSTEP(SS)                                                                       \
  case SS:                                                                                   \
    af[0] = HLWQ_PAIR(2 * SS, n0, h0);                                                       \
    af[1] = HLWQ_PAIR(2 * SS, n1, h1);                                                       \
    af[2] = HLWQ_PAIR(2 * SS + 1, n0, h0);                                                   \
    af[3] = HLWQ_PAIR(2 * SS + 1, n1, h1);                                                   \
    break;
            HLWQ_KSTEP(0) HLWQ_KSTEP(1) HLWQ_KSTEP(2) HLWQ_KSTEP(3)
            HLWQ_KSTEP(4) HLWQ_KSTEP(5) HLWQ_KSTEP(6) HLWQ_KSTEP(7)
#undef HLWQ_KSTEP
#undef HLWQ_PAIR
          }
          if (mask) {
            af[0] &= keep[i][0];
            af[2] &= keep[i][0];
            af[1] &= keep[i][1];
            af[3] &= keep[i][1];
          }
#pragma unroll
          for (int j = 0; j < NT; ++j) {
            const uint32_t b0 = h ? bf[j].z : bf[j].x, b1 = h ? bf[j].w : bf[j].y;
            mma_bf16(acc[i][j], af, b0, b1);
          }
        }
      }
    }
#pragma unroll
    for (int i = 0; i < MT; ++i) cur[i] = nxt[i];
  }

  const bool split = gridDim.y > 1;
#pragma unroll
  for (int i = 0; i < MT; ++i)
#pragma unroll
    for (int j = 0; j < NT; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int row = row0 + (warp * MT + i) * 16 + g + (e >> 1) * 8;
        const int tok = tok0 + j * 8 + 2 * t + (e & 1);
        if (row >= w.rows || tok >= a.tokens) continue;
        const float v = acc[i][j][e] * unit[i][e >> 1];
        float* o = a.out + size_t(tok) * a.ldo + row;
        if (split) atomicAdd(o, v);
        else if (a.accumulate) *o += v;
        else *o = v;
      }
}

int device_sms() {
  static const int sms = [] {
    int dev = 0, n = 0;
    check(cudaGetDevice(&dev), "cudaGetDevice");
    check(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev), "cudaDeviceGetAttribute(SM count)");
    return n;
  }();
  return sms;
}

template <int BN>
void launch(const PrefillGemmQ5Args& a, cudaStream_t stream) {
  auto kernel = prefill_gemm_q5_kernel<BN>;
  const int smem = 2 * kABytes + 2 * BN * kRowBytes + 32 * 4;
  static bool configured = false;
  if (!configured) {
    check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem),
          "cudaFuncSetAttribute(prefill_gemm_q5 shared memory)");
    configured = true;
  }
  const int row_tiles = (a.w.rows + kBM - 1) / kBM, tok_tiles = (a.tokens + BN - 1) / BN;
  const int nb = a.w.cols / 128, ctas = row_tiles * tok_tiles;
  // Too few tiles for the GPU (short prompts, narrow outputs): split K over more CTAs, each
  // adding its part with atomics, but keep at least 4 blocks per split to amortize the tail.
  const int sms = device_sms();
  int splits = 1;
  if (ctas < sms) splits = std::min(std::max(1, nb / 4), (2 * sms + ctas - 1) / ctas);
  const int per = (nb + splits - 1) / splits;
  splits = (nb + per - 1) / per;
  if (splits > 1 && !a.accumulate)
    check(cudaMemset2DAsync(a.out, size_t(a.ldo) * 4, 0, size_t(a.w.rows) * 4, size_t(a.tokens), stream),
          "cudaMemset2DAsync(prefill_gemm_q5 split-K output)");
  kernel<<<dim3(unsigned(ctas), unsigned(splits)), kThreads, smem, stream>>>(a, row_tiles, tok_tiles, per);
  check_launch("prefill_gemm_q5");
}

template <int MT, int NT>
void launch_direct(const PrefillGemmQ5Args& a, cudaStream_t stream) {
  auto kernel = prefill_gemm_q5_direct_kernel<MT, NT>;
  constexpr int BM = 8 * MT * 16, BN = NT * 8;
  const int smem = kPairTableBytes + 2 * BN * kRowBytes;
  static bool configured = false;
  if (!configured) {
    check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem),
          "cudaFuncSetAttribute(prefill_gemm_q5 direct shared memory)");
    configured = true;
  }
  const int row_tiles = (a.w.rows + BM - 1) / BM, tok_tiles = (a.tokens + BN - 1) / BN;
  const int nb = a.w.cols / 128, ctas = row_tiles * tok_tiles;
  const int sms = device_sms();
  int splits = 1;
  if (ctas < sms) splits = std::min(std::max(1, nb / 4), (sms + ctas - 1) / ctas);
  const int per = (nb + splits - 1) / splits;
  splits = (nb + per - 1) / per;
  if (splits > 1 && !a.accumulate)
    check(cudaMemset2DAsync(a.out, size_t(a.ldo) * 4, 0, size_t(a.w.rows) * 4, size_t(a.tokens), stream),
          "cudaMemset2DAsync(prefill_gemm_q5 split-K output)");
  kernel<<<dim3(unsigned(ctas), unsigned(splits)), kThreads, smem, stream>>>(a, row_tiles, tok_tiles, per);
  check_launch("prefill_gemm_q5 (direct)");
}

// HLWQ_PREFILL_GEMM_KERNEL=staged picks the shared-memory-staged kernel (A/B timing).
bool use_staged() {
  static const bool v = [] {
    const char* e = std::getenv("HLWQ_PREFILL_GEMM_KERNEL");
    return e && std::string(e) == "staged";
  }();
  return v;
}

}  // namespace

void prefill_gemm_q5(const PrefillGemmQ5Args& a, cudaStream_t stream) {
  const Q5Matrix& w = a.w;
  if (a.tokens <= 0 || w.rows <= 0 || w.cols <= 0 || w.cols % 128 != 0 || a.ldo < w.rows)
    throw_error(ErrorKind::InvalidArgument, "prefill_gemm_q5: tokens ", std::to_string(a.tokens), ", matrix ",
                std::to_string(w.rows), "x", std::to_string(w.cols), ", ldo ", std::to_string(a.ldo));
  if (w.row0 < 0 || w.row0 + w.rows > w.stored_rows ||
      (long long)w.stored_rows * (w.cols / 128) * 4 >= (1ll << 32))
    throw_error(ErrorKind::InvalidArgument, "prefill_gemm_q5: row view ", std::to_string(w.row0), "+",
                std::to_string(w.rows), " of ", std::to_string(w.stored_rows), " rows x ", std::to_string(w.cols));
  if (use_staged()) {
    if (a.tokens <= 32) return launch<32>(a, stream);
    if (a.tokens <= 64) return launch<64>(a, stream);
    return launch<128>(a, stream);
  }
  if (a.tokens <= 32) return launch_direct<2, 4>(a, stream);
  launch_direct<2, 8>(a, stream);
}

}  // namespace hlwq::cuda
