// Tensor-core split kernel of the decode attention (attention.cu), for long histories: per
// warp, tiles of 16 tokens; the 16 x 256 K tile is decoded straight into mma.sync m16n8k16 A
// fragments (tokens as rows, the query heads of the KV head as the 8 B columns), then
// P x V runs as O^T = V^T P^T (dims as rows, tokens as k, heads as columns) with the V tile's
// fragments and P transposed in registers by movmatrix. Why: the fp32 kernels spend ~8 ALU
// instructions per code and per query head; here the dot products are HMMA and each code
// costs about half a pair-table lookup (GEMV recipe: a table of half2 (c[a], c[b]) per pair
// of codes, replicated per lane so that lane l always reads bank l).
//
// Register image of one cached vector as thread c (= lane & 3) of a warp holds it: 32 words,
// word j being the two values of dims dim_of<BITS>(c, j) and +1. fp16 words are the cache's
// own half2s; code words are looked up in the pair table. The four threads of a row read
// contiguous bytes (whole sectors), hence the per-width dim order.
#include "attention_mma.h"

#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "attention_knobs.h"
#include "attention_q3_pairs.h"
#include "core/error.h"
#include "cuda_check.h"
#include "pdl.cuh"

namespace hlwq::cuda {
namespace {

constexpr int kD = kHeadDim;
constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kTile = 16;  // tokens per warp step (the mma's 16 rows)

constexpr bool supported_bits(int bits) { return bits == 16 || bits == 4 || bits == 3 || bits == 2; }
// Pair table: 2^(2 bits) half2 entries, each replicated for the 32 lanes.
__host__ __device__ constexpr int table_words(int bits) { return bits == 16 ? 0 : (1 << (2 * bits)) * 32; }

// First of the two dims of register-image word j of thread c (see the header comment).
template <int BITS>
__device__ __forceinline__ int dim_of(int c, int j) {
  if constexpr (BITS == 16) return 32 * (j >> 2) + 8 * c + 2 * (j & 3);  // 16 B at 64 i + 16 c
  else if constexpr (BITS == 4) return 128 * (j >> 4) + 32 * c + 2 * (j & 15);  // 16 B at 64 i + 16 c
  else return 64 * c + 2 * j;  // Q3/Q2: lane-words 8c..8c+7 (16 B of low bits, 8 B of Q3 high bits)
}

// Raw bytes of thread c's share of one cached vector (Q3: 6 words as loaded, 8 once
// pair_words() has gathered its pair indexes).
template <int BITS>
struct Raw {
  uint32_t w[BITS == 16 ? 32 : BITS == 4 || BITS == 3 ? 8 : 4];
};

template <int BITS>
__device__ __forceinline__ void load_raw(const uint8_t* data, size_t slot, int c, Raw<BITS>& r) {
  if constexpr (BITS == 16 || BITS == 4) {
    const uint4* p = reinterpret_cast<const uint4*>(data + slot * kv_vector_bytes(BITS)) + c;
#pragma unroll
    for (int i = 0; i < (BITS == 16 ? 8 : 2); ++i) {
      const uint4 v = p[4 * i];
      r.w[4 * i] = v.x;
      r.w[4 * i + 1] = v.y;
      r.w[4 * i + 2] = v.z;
      r.w[4 * i + 3] = v.w;
    }
  } else {
    const uint8_t* vec = data + slot * kv_vector_bytes(BITS);
    const uint4 lo = reinterpret_cast<const uint4*>(vec)[c];
    r.w[0] = lo.x;
    r.w[1] = lo.y;
    r.w[2] = lo.z;
    r.w[3] = lo.w;
    if constexpr (BITS == 3) {
      const uint2 hi = reinterpret_cast<const uint2*>(vec + 64)[c];
      r.w[4] = hi.x;
      r.w[5] = hi.y;
    }
  }
}

// Q3: the loaded words (lows w[0..3], high bits w[4..5]) become the 32 pair indexes, one per
// byte (attention_q3_pairs.h: 11 instructions per 16 pairs instead of ~2 more per lookup).
// Every vector's pairs are looked up once per tile, so this runs once per loaded vector.
template <int BITS>
__device__ __forceinline__ void pair_words(Raw<BITS>& r) {
  if constexpr (BITS == 3) {
    uint32_t g[8];
    q3_pairs::gather(r.w[0], r.w[1], r.w[4], g);
    q3_pairs::gather(r.w[2], r.w[3], r.w[5], g + 4);
#pragma unroll
    for (int i = 0; i < 8; ++i) r.w[i] = g[i];
  }
}

// Word j of the register image: dims dim_of(c, j), +1 as half2 (scaled like the cache: codes
// give centroid / sqrt(256), the norm is applied by the caller). Q3 after pair_words().
template <int BITS>
__device__ __forceinline__ uint32_t pair(const Raw<BITS>& r, int j, const uint32_t* tab, int lane) {
  if constexpr (BITS == 16) {
    return r.w[j];
  } else {
    uint32_t idx;
    if constexpr (BITS == 4) idx = (r.w[j >> 2] >> (8 * (j & 3))) & 255u;
    else if constexpr (BITS == 3) idx = (r.w[q3_pairs::word(j)] >> q3_pairs::shift(j)) & 63u;
    else idx = (r.w[j >> 3] >> (4 * (j & 7))) & 15u;
    return tab[(idx << 5) | uint32_t(lane)];
  }
}

// The table entry for index idx (pair layout of pair()): codes of the first and second dim.
template <int BITS>
__device__ __forceinline__ void pair_codes(uint32_t idx, uint32_t& a, uint32_t& b) {
  if constexpr (BITS == 4) {
    a = idx & 15u;
    b = idx >> 4;
  } else if constexpr (BITS == 3) {
    q3_pairs::codes(idx, a, b);
  } else {
    a = idx & 3u;
    b = idx >> 2;
  }
}

// book: the centroids / sqrt(256), in shared memory; copy: a second table to fill alike, or null.
template <int BITS>
__device__ void build_table(uint32_t* tab, const float* book, uint32_t* copy) {
  if constexpr (BITS != 16) {
    for (int e = threadIdx.x; e < table_words(BITS); e += kThreads) {
      uint32_t a, b;
      pair_codes<BITS>(uint32_t(e) >> 5, a, b);
      const __half2 h = __floats2half2_rn(book[a], book[b]);
      const uint32_t v = *reinterpret_cast<const uint32_t*>(&h);
      tab[e] = v;
      if (copy) copy[e] = v;
    }
  }
}

__device__ __forceinline__ void mma16816(float (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                                         uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// 8 x 8 b16 transpose across the warp: in, lane (r, c) holds row r cols 2c..2c+1; out, the same
// lane holds row r of the transpose (original column r, rows 2c..2c+1).
__device__ __forceinline__ uint32_t transpose8x8(uint32_t x) {
  uint32_t y;
  asm volatile("movmatrix.sync.aligned.m8n8.trans.b16 %0, %1;" : "=r"(y) : "r"(x));
  return y;
}

__device__ __forceinline__ uint32_t pack_half2(float lo, float hi) {
  const __half2 h = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&h);
}

// Dynamic shared memory: the two pair tables, reused for the warps' partial sums at the end.
template <int G>
constexpr int merge_bytes() {
  return (kWarps * G * kD + 2 * kWarps * 8) * 4;
}
// The query's B fragments, the same for the block's warps: [k-tile][lane] as (b0, b1).
constexpr int kQFragBytes = 16 * 32 * 8;
template <int KB, int VB, int G>
constexpr int smem_bytes() {
  const int tabs = (table_words(KB) + table_words(VB)) * 4 + kQFragBytes;
  return tabs > merge_bytes<G>() ? tabs : merge_bytes<G>();
}
// Grid (KV head, max_splits), kThreads. Only the first `splits` splits get tokens (the rest
// write empty partials): as many blocks as fit on the GPU at once, so that no second wave of
// blocks runs alone; but no fewer than min_tokens per split (a multiple of kTile), so that a
// short history is not spread over blocks that each build the pair tables for a tile or two.
template <int KB, int VB, int G>
__global__ void __launch_bounds__(kThreads) split_kernel(AttentionArgs a, int splits, int min_tokens, int skip_empty) {
  static_assert(G <= 8, "the query heads of one KV head are the mma's 8 columns");
  extern __shared__ __align__(16) uint32_t smem[];
  uint32_t* ktab = smem;
  uint32_t* vtab = smem + table_words(KB);
  uint2* qfrag = reinterpret_cast<uint2*>(smem + table_words(KB) + table_words(VB));  // [16][32]
  const int kvh = blockIdx.x, split = blockIdx.y;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, r = lane >> 2, c = lane & 3;
  const float kNegInf = -INFINITY;

  // Nothing before griddepcontrol.wait depends on the previous kernel (prep): the codebooks
  // are constant, the position is written at the end of the previous token, and the history
  // below it was written by earlier tokens. The new token's slot and q come after the wait.
  const int pos = *a.pos, len = pos + 1;
  if (min_tokens > 0) splits = max(1, min(splits, (len + min_tokens - 1) / min_tokens));
  const int chunk = ((len + splits - 1) / splits + kTile - 1) / kTile * kTile;  // whole tiles
  const int begin = split * chunk, end = min(len, begin + chunk);
  __shared__ float books[2][16];  // K and V centroids / sqrt(256), read once
  if (KB != 16 && threadIdx.x < (1 << (KB & 15))) books[0][threadIdx.x] = a.k_codebook[threadIdx.x] * 0.0625f;
  if (VB != 16 && threadIdx.x < (1 << (VB & 15))) books[1][threadIdx.x] = a.v_codebook[threadIdx.x] * 0.0625f;
  __syncthreads();
  if (begin < end) {
    // K and V of one width share the codebook in the model (one per width): the V table is
    // then stored with the K table's entries instead of computed again (a fixed cost per
    // block that short histories feel: the Q4 tables are 32 KiB each). Both stay, at fixed
    // offsets: a table chosen at run time would cost an address add per lookup.
    const bool same = KB == VB && a.k_codebook == a.v_codebook;
    build_table<KB>(ktab, books[0], same ? vtab : nullptr);
    if (!same) build_table<VB>(vtab, books[1], nullptr);
  }
  const size_t base = size_t(kvh) * a.cache.capacity;

  // Tokens t + r and t + r + 8 of a tile (h = 0, 1); clamped: the cache past pos is garbage.
  Raw<KB> kr[2];
  Raw<VB> vr[2];
  __half kn[2], vn[2];  // norms (unused at fp16), fetched with the codes
  auto load_k = [&](int t) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const size_t slot = base + min(t + r + 8 * h, end - 1);
      load_raw<KB>(a.cache.k.data, slot, c, kr[h]);
      if constexpr (KB != 16) kn[h] = a.cache.k.norms[slot];
    }
  };
  auto load_v = [&](int t) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const size_t slot = base + min(t + r + 8 * h, end - 1);
      load_raw<VB>(a.cache.v.data, slot, c, vr[h]);
      if constexpr (VB != 16) vn[h] = a.cache.v.norms[slot];
    }
  };
  auto load_tile = [&](int t) {
    load_k(t);
    load_v(t);
  };
  int t0 = begin + warp * kTile;
  const bool early = t0 + kTile <= pos;  // the first tile is all history: fetch it now
  if (t0 < end && early) load_tile(t0);
  asm volatile("griddepcontrol.wait;" ::: "memory");
  asm volatile("griddepcontrol.launch_dependents;");
  if (begin >= end && skip_empty) {  // an empty split: its (m, l) say so, the combine skips its acc
    const int stride = kAttentionPartialStride;
    if (threadIdx.x < G) {
      float* out = a.partials + (size_t(kvh * G + threadIdx.x) * a.max_splits + split) * stride;
      out[0] = kNegInf;
      out[1] = 0.0f;
    }
    return;
  }
  __syncthreads();  // tables
  if (t0 < end && !early) load_tile(t0);

  // q of head r (zero for the padding columns r >= G) as B fragments: k-tile kt covers image
  // words 2kt (b0) and 2kt+1 (b1) of thread c. Warp w fills k-tiles 4w..4w+3.
  {
    const float* q = a.q_work + size_t(kvh * G + min(r, G - 1)) * kD;
#pragma unroll
    for (int kt = 4 * warp; kt < 4 * warp + 4; ++kt) {
      const float2 v0 = *reinterpret_cast<const float2*>(q + dim_of<KB>(c, 2 * kt));
      const float2 v1 = *reinterpret_cast<const float2*>(q + dim_of<KB>(c, 2 * kt + 1));
      qfrag[kt * 32 + lane] = r < G ? make_uint2(pack_half2(v0.x, v0.y), pack_half2(v1.x, v1.y)) : make_uint2(0u, 0u);
    }
  }
  __syncthreads();

  float acc[16][4];  // O^T: m-tile mt rows = dims, columns = heads 2c, 2c+1
#pragma unroll
  for (int mt = 0; mt < 16; ++mt)
#pragma unroll
    for (int i = 0; i < 4; ++i) acc[mt][i] = 0.0f;
  float m0 = kNegInf, m1 = kNegInf, l0 = 0.0f, l1 = 0.0f;  // heads 2c, 2c+1

  for (; t0 < end; t0 += kWarps * kTile) {
    const int next = t0 + kWarps * kTile;
    // Scores S (16 tokens x 8 heads): lane (r, c) gets tokens r, r+8 x heads 2c, 2c+1. Two
    // accumulators halve the chain of dependent mmas.
    float s[4] = {0.0f, 0.0f, 0.0f, 0.0f}, s2[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    pair_words<KB>(kr[0]);
    pair_words<KB>(kr[1]);
#pragma unroll
    for (int kt = 0; kt < 16; kt += 2) {
      const uint2 b = qfrag[kt * 32 + lane], b2 = qfrag[(kt + 1) * 32 + lane];
      mma16816(s, pair<KB>(kr[0], 2 * kt, ktab, lane), pair<KB>(kr[1], 2 * kt, ktab, lane),
               pair<KB>(kr[0], 2 * kt + 1, ktab, lane), pair<KB>(kr[1], 2 * kt + 1, ktab, lane), b.x, b.y);
      mma16816(s2, pair<KB>(kr[0], 2 * kt + 2, ktab, lane), pair<KB>(kr[1], 2 * kt + 2, ktab, lane),
               pair<KB>(kr[0], 2 * kt + 3, ktab, lane), pair<KB>(kr[1], 2 * kt + 3, ktab, lane), b2.x, b2.y);
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) s[i] += s2[i];
    const float kn0 = KB == 16 ? 1.0f : __half2float(kn[0]), kn1 = KB == 16 ? 1.0f : __half2float(kn[1]);
    const float vn0 = VB == 16 ? 1.0f : __half2float(vn[0]), vn1 = VB == 16 ? 1.0f : __half2float(vn[1]);
    if (next < end) load_k(next);  // the K registers are free: fetch the next tile's K now
    const bool ok0 = t0 + r < end, ok1 = t0 + r + 8 < end;
    s[0] = ok0 ? s[0] * kn0 : kNegInf;
    s[1] = ok0 ? s[1] * kn0 : kNegInf;
    s[2] = ok1 ? s[2] * kn1 : kNegInf;
    s[3] = ok1 ? s[3] * kn1 : kNegInf;
    float x0 = fmaxf(s[0], s[2]), x1 = fmaxf(s[1], s[3]);
#pragma unroll
    for (int o = 4; o < 32; o <<= 1) {
      x0 = fmaxf(x0, __shfl_xor_sync(0xffffffffu, x0, o));
      x1 = fmaxf(x1, __shfl_xor_sync(0xffffffffu, x1, o));
    }
    // Token t0 is always in range, so x0/x1 are finite. Rescale only when a maximum moved.
    if (__any_sync(0xffffffffu, x0 > m0 || x1 > m1)) {
      const float n0 = fmaxf(m0, x0), n1 = fmaxf(m1, x1);
      const float c0 = __expf(m0 - n0), c1 = __expf(m1 - n1);
      m0 = n0;
      m1 = n1;
      l0 *= c0;
      l1 *= c1;
#pragma unroll
      for (int mt = 0; mt < 16; ++mt) {
        acc[mt][0] *= c0;
        acc[mt][1] *= c1;
        acc[mt][2] *= c0;
        acc[mt][3] *= c1;
      }
    }
    const float p0 = __expf(s[0] - m0), p1 = __expf(s[1] - m1), p2 = __expf(s[2] - m0), p3 = __expf(s[3] - m1);
    l0 += p0 + p2;
    l1 += p1 + p3;
    // P^T as the B fragment (tokens x heads), the V norm folded in per token.
    const uint32_t pb0 = transpose8x8(pack_half2(p0 * vn0, p1 * vn0));
    const uint32_t pb1 = transpose8x8(pack_half2(p2 * vn1, p3 * vn1));
    pair_words<VB>(vr[0]);
    pair_words<VB>(vr[1]);
#pragma unroll
    for (int mt = 0; mt < 16; ++mt) {
      // V^T A fragment: rows = dims of image words 2mt (r) and 2mt+1 (r+8), k = tokens.
      const uint32_t a0 = transpose8x8(pair<VB>(vr[0], 2 * mt, vtab, lane));
      const uint32_t a1 = transpose8x8(pair<VB>(vr[0], 2 * mt + 1, vtab, lane));
      const uint32_t a2 = transpose8x8(pair<VB>(vr[1], 2 * mt, vtab, lane));
      const uint32_t a3 = transpose8x8(pair<VB>(vr[1], 2 * mt + 1, vtab, lane));
      mma16816(acc[mt], a0, a1, a2, a3, pb0, pb1);
    }
    if (next < end) load_v(next);
  }
#pragma unroll
  for (int o = 4; o < 32; o <<= 1) {
    l0 += __shfl_xor_sync(0xffffffffu, l0, o);
    l1 += __shfl_xor_sync(0xffffffffu, l1, o);
  }

  // Merge the warps (each has its own maximum) through shared memory; the tables are done.
  __syncthreads();
  float* wacc = reinterpret_cast<float*>(smem);  // [warp][G][kD]
  float* wm = wacc + kWarps * G * kD;            // [warp][8]
  float* wl = wm + kWarps * 8;
  if (r == 0) {
    wm[warp * 8 + 2 * c] = m0;
    wm[warp * 8 + 2 * c + 1] = m1;
    wl[warp * 8 + 2 * c] = l0;
    wl[warp * 8 + 2 * c + 1] = l1;
  }
#pragma unroll
  for (int mt = 0; mt < 16; ++mt) {
    // Row r of m-tile mt is dim dim_of(r >> 1, 2mt) + (r & 1) (image word 2mt of thread r >> 1,
    // transposed); row r + 8 the same with word 2mt + 1.
    const int d0 = dim_of<VB>(r >> 1, 2 * mt) + (r & 1), d1 = dim_of<VB>(r >> 1, 2 * mt + 1) + (r & 1);
    if (2 * c < G) {
      wacc[(warp * G + 2 * c) * kD + d0] = acc[mt][0];
      wacc[(warp * G + 2 * c) * kD + d1] = acc[mt][2];
    }
    if (2 * c + 1 < G) {
      wacc[(warp * G + 2 * c + 1) * kD + d0] = acc[mt][1];
      wacc[(warp * G + 2 * c + 1) * kD + d1] = acc[mt][3];
    }
  }
  __syncthreads();
  const int stride = kAttentionPartialStride;
  for (int g = 0; g < G; ++g) {
    float M = kNegInf;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) M = fmaxf(M, wm[w * 8 + g]);
    float* out = a.partials + (size_t(kvh * G + g) * a.max_splits + split) * stride;
    float f[kWarps];
#pragma unroll
    for (int w = 0; w < kWarps; ++w) f[w] = M == kNegInf ? 0.0f : __expf(wm[w * 8 + g] - M);
    for (int d = threadIdx.x; d < kD; d += kThreads) {
      float v = 0.0f;
#pragma unroll
      for (int w = 0; w < kWarps; ++w) v += wacc[(w * G + g) * kD + d] * f[w];
      out[2 + d] = v;
    }
    if (threadIdx.x == 0) {
      float L = 0.0f;
#pragma unroll
      for (int w = 0; w < kWarps; ++w) L += wl[w * 8 + g] * f[w];
      out[0] = M;
      out[1] = L;
    }
  }
}


using SplitKernel = void (*)(AttentionArgs, int, int, int);

struct Picked {
  SplitKernel kernel = nullptr;
  int smem = 0;
  int resident = 1;  // blocks that fit on the whole GPU at once
};

template <int KB, int VB, int G>
Picked picked() {
  static const Picked k = [] {
    Picked r{split_kernel<KB, VB, G>, smem_bytes<KB, VB, G>(), 1};
    if (r.smem > 48 * 1024)  // Q4 tables: above 48 KiB needs the opt-in
      check(cudaFuncSetAttribute(r.kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, r.smem),
            "cudaFuncSetAttribute(attention mma shared memory)");
    int per_sm = 0;
    check(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, r.kernel, kThreads, r.smem),
          "cudaOccupancyMaxActiveBlocksPerMultiprocessor(attention mma)");
    r.resident = std::max(1, per_sm * device_sms());
    return r;
  }();
  return k;
}

template <int KB, int G>
Picked pick_v(int vb) {
  switch (vb) {
    case 16: return picked<KB, 16, G>();
    case 4: return picked<KB, 4, G>();
    case 3: return picked<KB, 3, G>();
    case 2: return picked<KB, 2, G>();
  }
  return {};
}

template <int G>
Picked pick_k(int kb, int vb) {
  switch (kb) {
    case 16: return pick_v<16, G>(vb);
    case 4: return pick_v<4, G>(vb);
    case 3: return pick_v<3, G>(vb);
    case 2: return pick_v<2, G>(vb);
  }
  return {};
}

}  // namespace

bool attention_mma_supports(int k_bits, int v_bits, int group) {
  return supported_bits(k_bits) && supported_bits(v_bits) && (group == 4 || group == 6);
}

void attention_mma_split(const AttentionArgs& a, bool pdl, cudaStream_t stream) {
  const int kvh = a.cache.kv_heads, group = a.heads / kvh;
  const Picked k = group == 6 ? pick_k<6>(a.cache.k.bits, a.cache.v.bits) : pick_k<4>(a.cache.k.bits, a.cache.v.bits);
  if (!k.kernel || !attention_mma_supports(a.cache.k.bits, a.cache.v.bits, group))
    throw_error(ErrorKind::InvalidArgument, "attention_mma_split: KV bits k=", std::to_string(a.cache.k.bits), " v=",
                std::to_string(a.cache.v.bits), " with ", std::to_string(group), " query heads per KV head");
  const int n = attention_knobs::splits_override();
  const int splits = std::clamp(n > 0 ? n : k.resident / kvh, 1, a.max_splits);
  launch_maybe_pdl(pdl, "attention decode (mma)", k.kernel, dim3(unsigned(kvh), unsigned(a.max_splits)),
                   dim3(kThreads), std::size_t(k.smem), stream, a, splits, attention_knobs::min_tokens(),
                   int(attention_knobs::skip_empty()));
}

}  // namespace hlwq::cuda
