#pragma once
// The GEMV kernel (gemv.h) as a template over the code width, the fused input and output ops,
// one token or several, and the diagnostic stamps. gemv.cu plans the launch and picks the
// instantiation; gemv_q5.cu, gemv_q4.cu and gemv_q3.cu each compile one width's kernels (in
// parallel, and a change to one width's dispatch rebuilds one file).
//
// The decode GEMV streams 5.125 bits per weight (Q4: 4.125, Q3: 3.125), so an H200 SM must
// take in about 25 weights per clock to keep up with DRAM: the per-weight instruction count
// is the limit, not the arithmetic. Two codes are decoded per shared-memory lookup (a pair
// table of half2, replicated per lane so every lookup is conflict-free), each looked-up half2
// is directly one register of an mma.sync A fragment, and the tensor cores do the
// multiply-adds against the fp16 activations in the columns of B (fp32 accumulation). About 2
// instructions per weight. With one token, column 0 holds it and every column repeats it;
// with 2-8, lane g of the B fragment carries token g's activations, so the same decoded
// weights serve them all and only the epilogue of each unit grows (a scale per token pair).
#include <cuda_fp16.h>

#include <cstddef>
#include <cstdint>

#include "gemv.h"
#include "gemv_launch.h"
#include "hadamard.cuh"
#include "core/error.h"
#include "cuda_check.h"
#include "pdl.cuh"
#include "q5_pair_table.cuh"

// At global scope so the inline PTX can name it (namespace members get mangled names).
extern __shared__ __align__(16) unsigned char hlwq_gemv_smem[];

namespace hlwq::cuda::gemv_detail {

// Stamps of the traced kernel instantiation (hlwq-gemv-trace); the untraced kernels compile
// without them. globaltimer reads are pinned in place by the memory clobber.
template <bool kTrace>
__device__ __forceinline__ void stamp(const Plan& p, int word, bool who) {
  if constexpr (kTrace) {
    unsigned long long t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t)::"memory");
    if (who) p.trace[blockIdx.x * kTraceWords + word] = t;
  }
}

__device__ __forceinline__ float silu(float v) { return v / (1.0f + __expf(-v)); }

__device__ inline float block_sum(float v, float* scratch) {
  for (int m = 16; m; m >>= 1) v += __shfl_xor_sync(0xffffffffu, v, m);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float s = 0;
  for (int i = 0; i < kWarps; ++i) s += scratch[i];
  return s;
}

__device__ __forceinline__ float warp_sum(float v) {
  for (int m = 16; m; m >>= 1) v += __shfl_xor_sync(0xffffffffu, v, m);
  return v;
}

// Rotated input of blocks [b0, b1) of every token as fp16 scaled per block by a power of two
// (so any activation range fits fp16 with full relative precision); the scale goes in the
// runs' pad. Each warp loads a batch of (token, block) items before working on them (their L2
// latencies overlap). When the CTA holds the whole input, RMSNorm's 1/rms is found in the
// same pass and folded into the block scales afterwards (the rotation is linear); otherwise a
// first pass finds it.
template <GemvInput IN, bool kMulti>
__device__ void prologue(const GemvArgs& a, const Plan& p, unsigned char* xs, float* scratch, int b0, int b1) {
  const int cols = a.w.cols;
  const int nt = kMulti ? p.tokens : 1, nblk = b1 - b0, items = nt * nblk;
  const int rs = kMulti ? run_stride(nt) : kRunBytes, bb = 4 * rs;
  float* tok = scratch + kWarps;  // several tokens: per-token sum of squares, or 1/rms
  const bool fused_rms = IN == GemvInput::RmsNorm1p && b0 == 0 && b1 * 128 == cols;
  float scale = 1.0f, ss = 0.0f;
  if (IN == GemvInput::RmsNorm1p && !fused_rms) {
    for (int k = 0; k < nt; ++k) {
      float part = 0.0f;
      for (int c = threadIdx.x * 4; c < cols; c += kThreads * 4) {
        const float4 v = *reinterpret_cast<const float4*>(a.in + std::size_t(k) * a.in_stride + c);
        part += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
      }
      scale = rsqrtf(block_sum(part, scratch) / cols + a.eps);
      if (kMulti && threadIdx.x == 0) tok[k] = scale;
    }
    if (kMulti) __syncthreads();
  }
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  float4 gw = make_float4(0, 0, 0, 0);
  if constexpr (IN == GemvInput::GatedNorm) gw = *reinterpret_cast<const float4*>(a.norm_w + lane * 4);
  // Items: (token, block) pairs, token-major; one token: the blocks themselves. Several tokens
  // give each warp many items: the small bf16 ones go 8 loads at a time (more registers for
  // fp32 ones spill in the main loop).
  constexpr int kBatch = kMulti && IN == GemvInput::RotatedBf16 ? 8 : 2;
  const int it0 = kMulti ? 0 : b0, it1 = kMulti ? items : b1;
  for (int first = it0 + warp; first < it1; first += kBatch * kWarps) {
    float4 in4[kBatch], w4[kBatch];
    uint2 raw[kBatch];  // RotatedBf16: 4 bf16, converted when used
#pragma unroll
    for (int h = 0; h < kBatch; ++h) {
      const int it = first + h * kWarps;
      if (it >= it1) break;
      const int k = kMulti ? it / nblk : 0, c = (kMulti ? b0 + it - k * nblk : it) * 128 + lane * 4;
      if constexpr (IN == GemvInput::RotatedBf16) {
        raw[h] = *reinterpret_cast<const uint2*>(a.in_rotated + std::size_t(k) * a.in_stride + c);
      } else {
        in4[h] = *reinterpret_cast<const float4*>(a.in + std::size_t(k) * a.in_stride + c);
      }
      if constexpr (IN == GemvInput::RmsNorm1p) w4[h] = *reinterpret_cast<const float4*>(a.norm_w + c);
      if constexpr (IN == GemvInput::GatedNorm)
        w4[h] = *reinterpret_cast<const float4*>(a.gate + std::size_t(k) * a.gate_stride + c);
    }
#pragma unroll
    for (int h = 0; h < kBatch; ++h) {
      const int it = first + h * kWarps;
      if (it >= it1) break;
      const int k = kMulti ? it / nblk : 0, blk = kMulti ? b0 + it - k * nblk : it;
      if constexpr (IN == GemvInput::RotatedBf16) {
        const float2 lo = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&raw[h].x));
        const float2 hi = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&raw[h].y));
        in4[h] = make_float4(lo.x, lo.y, hi.x, hi.y);
      }
      float v[4] = {in4[h].x, in4[h].y, in4[h].z, in4[h].w};
      if constexpr (IN == GemvInput::RmsNorm1p) {
        const float q = v[0] * v[0] + v[1] * v[1] + v[2] * v[2] + v[3] * v[3];
        float s = scale;
        if constexpr (kMulti) {
          if (fused_rms) {
            const float wq = warp_sum(q);
            if (lane == 0) atomicAdd(tok + k, wq);
          }
          s = fused_rms ? 1.0f : tok[k];
        } else if (fused_rms) {
          ss += q;
        }
        v[0] *= s * (1.0f + w4[h].x); v[1] *= s * (1.0f + w4[h].y);
        v[2] *= s * (1.0f + w4[h].z); v[3] *= s * (1.0f + w4[h].w);
      } else if constexpr (IN == GemvInput::GatedNorm) {
        const float q = warp_sum(v[0] * v[0] + v[1] * v[1] + v[2] * v[2] + v[3] * v[3]);
        const float r = rsqrtf(q / 128.0f + a.eps);
        v[0] *= r * gw.x * silu(w4[h].x); v[1] *= r * gw.y * silu(w4[h].y);
        v[2] *= r * gw.z * silu(w4[h].z); v[3] *= r * gw.w * silu(w4[h].w);
      }
      if constexpr (IN != GemvInput::RotatedBf16) wht128_warp(v);
      float m = fmaxf(fmaxf(fabsf(v[0]), fabsf(v[1])), fmaxf(fabsf(v[2]), fabsf(v[3])));
      for (int j = 16; j; j >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, j));
      const float sc = m > 0.0f ? exp2f(ceilf(log2f(m))) : 1.0f;
      const float inv = 1.0f / sc;  // exact: a power of two
      const __half2 h0 = __floats2half2_rn(v[0] * inv, v[1] * inv), h1 = __floats2half2_rn(v[2] * inv, v[3] * inv);
      uint2 st;
      st.x = *reinterpret_cast<const uint32_t*>(&h0);
      st.y = *reinterpret_cast<const uint32_t*>(&h1);
      unsigned char* bx = xs + (blk - b0) * bb;
      *reinterpret_cast<uint2*>(bx + (lane >> 3) * rs + k * 64 + (lane & 7) * 8) = st;
      if constexpr (kMulti) {
        if (lane == 0) *reinterpret_cast<float*>(bx + (k >> 1) * rs + 64 * nt + (k & 1) * 4) = sc;
      } else {
        if (lane < 4) *reinterpret_cast<float*>(bx + lane * kRunBytes + 64) = sc;
      }
    }
  }
  if (fused_rms) {
    if constexpr (kMulti) {
      __syncthreads();
      for (int it = threadIdx.x; it < items; it += kThreads) {
        const int k = it / nblk, blk = b0 + it - k * nblk;
        *reinterpret_cast<float*>(xs + (blk - b0) * bb + (k >> 1) * rs + 64 * nt + (k & 1) * 4) *=
            rsqrtf(tok[k] / cols + a.eps);
      }
    } else {
      const float r = rsqrtf(block_sum(ss, scratch) / cols + a.eps);
      for (int blk = b0 + warp; blk < b1; blk += kWarps)
        if (lane < 4) *reinterpret_cast<float*>(xs + (blk - b0) * kBlockXBytes + lane * kRunBytes + 64) *= r;
    }
  }
}

// Table entry (a | b << bits, lane) = half2(c[a], c[b]) / sqrt(128) at byte (pair * 32 + lane) * 4.
// Thread i writes 16-byte chunks i, i + 512, ...: consecutive lanes, consecutive banks.
template <int BITS>
__device__ void build_table(uint32_t* table, const float* codebook) {
  constexpr int kCodes = 1 << BITS, kIters = table_bytes(BITS) / 16 / kThreads, kPairStep = kThreads / 8 / kCodes;
  const int i = threadIdx.x;
  const float s = 0.08838834764831845f;
  const float lo = codebook[(i >> 3) & (kCodes - 1)] * s;
#pragma unroll 4
  for (int k = 0; k < kIters; ++k) {
    const __half2 h = __floats2half2_rn(lo, codebook[(i >> (3 + BITS)) + kPairStep * k] * s);
    const uint32_t v = *reinterpret_cast<const uint32_t*>(&h);
    reinterpret_cast<uint4*>(table)[i + k * kThreads] = make_uint4(v, v, v, v);
  }
}

// Bytes of one block of activations, and where lane (g, t)'s run (and token) starts in it.
// Recomputed where needed from the plan (kernel parameters: no registers held).
template <bool kMulti>
__device__ __forceinline__ int block_bytes(const Plan& p) {
  return kMulti ? 4 * run_stride(p.tokens) : kBlockXBytes;
}
template <bool kMulti>
__device__ __forceinline__ int lane_x(const Plan& p, int g, int t) {
  return kMulti ? t * run_stride(p.tokens) + min(g, p.tokens - 1) * 64 : t * kRunBytes;
}

// A warp's walk over its contiguous range of units: consecutive blocks of one tile are one
// row-block step apart, so only a tile change re-seats the walk.
struct Walk {
  int left, bi, st, slice, tile, rit, xoff;
  uint32_t rb0, rb1;  // row-block index of rows g and g+8 (clamped into a short last tile)
};

template <bool kMulti>
__device__ __forceinline__ void seat(Walk& k, const Plan& p, int rows, int blk0, int g, int t) {
  k.rit = min(16, rows - k.tile * 16);
  const int block = k.slice * p.sb + k.bi;
  const uint32_t base = uint32_t(k.tile) * 16 * p.nb + uint32_t(block) * k.rit;
  // Rows past the end of a short tile read a valid row instead; the epilogue drops them.
  k.rb0 = base + min(g, k.rit - 1);
  k.rb1 = base + min(g + 8, k.rit - 1);
  k.xoff = (block - blk0) * block_bytes<kMulti>(p) + lane_x<kMulti>(p, g, t);
}

template <bool kMulti>
__device__ __forceinline__ Walk walk_from(const Plan& p, int u, int end, int rows, int blk0, int g, int t) {
  Walk k;
  k.left = end - u;
  k.st = u / p.sb;
  k.bi = u - k.st * p.sb;
  k.slice = k.st / p.tiles;
  k.tile = k.st - k.slice * p.tiles;
  if (k.left > 0) seat<kMulti>(k, p, rows, blk0, g, t);
  return k;
}

template <bool kMulti>
__device__ __forceinline__ void step(Walk& k, const Plan& p, int rows, int blk0, int g, int t) {
  --k.left;
  if (++k.bi < p.sb) {
    k.rb0 += k.rit;
    k.rb1 += k.rit;
    k.xoff += block_bytes<kMulti>(p);
    return;
  }
  k.bi = 0;
  ++k.st;
  if (++k.tile == p.tiles) {
    k.tile = 0;
    ++k.slice;
  }
  if (k.left > 0) seat<kMulti>(k, p, rows, blk0, g, t);
}

// One lane's share of one unit: run t of rows g and g+8 of the tile-block (Q5, Q4: words 0-3
// in n, Q3: words 0-1; Q5 and Q3: the last word in h), their norms, where its activations
// are, and the accumulator slot to flush to after it (or -1).
struct Unit {
  uint4 n0, n1;
  uint32_t h0, h1;
  uint32_t norm0, norm1;  // fp16 bits of rows g and g+8, kept apart: combining them here
                          // would wait for the loads at issue time
  int xoff, flush;
};

template <int BITS>
__device__ __forceinline__ Unit load_unit(const GemvArgs& a, const Plan& p, const Walk& k, int rs0, int t) {
  Unit d;
  d.xoff = k.xoff;
  d.flush = k.bi == p.sb - 1 || k.left == 1 ? k.st - rs0 : -1;
  if constexpr (BITS == 4) d.h0 = d.h1 = 0;  // no last word
  if (k.left > 0) {
    // Weights are streamed once per token: evict-first, so they do not push out the activations.
    const unsigned short* nrm = reinterpret_cast<const unsigned short*>(a.w.norms);
    if constexpr (BITS == 3) {
      const uint2 l0 = __ldcs(a.w.lo2() + (k.rb0 * 4 + t)), l1 = __ldcs(a.w.lo2() + (k.rb1 * 4 + t));
      d.n0 = make_uint4(l0.x, l0.y, 0u, 0u);
      d.n1 = make_uint4(l1.x, l1.y, 0u, 0u);
    } else {
      d.n0 = __ldcs(a.w.nib + (k.rb0 * 4 + t));
      d.n1 = __ldcs(a.w.nib + (k.rb1 * 4 + t));
    }
    if constexpr (BITS != 4) {
      d.h0 = __ldcs(a.w.hi + (k.rb0 * 4 + t));
      d.h1 = __ldcs(a.w.hi + (k.rb1 * 4 + t));
    }
    d.norm0 = __ldcs(nrm + k.rb0);
    d.norm1 = __ldcs(nrm + k.rb1);
  }
  return d;
}

// Shared-memory reads at shared-window address kSmemBase + offset with the base as the
// instruction's immediate: with it in a register, ptxas adds it per lookup (one more
// instruction per pair). The kernel uses no static shared memory, so dynamic shared memory
// starts right after the 1 KiB the system reserves; the kernel checks that on entry.
constexpr uint32_t kSmemBase = 1024;

__device__ __forceinline__ uint32_t lut(uint32_t off) {
  uint32_t v;
  asm("ld.shared.b32 %0, [%1+%2];" : "=r"(v) : "r"(off), "n"(kSmemBase));
  return v;
}

template <int OFF>
__device__ __forceinline__ uint4 lds128(uint32_t addr) {
  uint4 v;
  asm("ld.shared.v4.b32 {%0,%1,%2,%3}, [%4+%5];" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "r"(addr), "n"(OFF));
  return v;
}

template <int OFF>
__device__ __forceinline__ float lds_f32(uint32_t addr) {
  float v;
  asm("ld.shared.f32 %0, [%1+%2];" : "=f"(v) : "r"(addr), "n"(OFF));
  return v;
}

template <int OFF>
__device__ __forceinline__ float2 lds_f32x2(uint32_t addr) {
  float2 v;
  asm("ld.shared.v2.f32 {%0,%1}, [%2+%3];" : "=f"(v.x), "=f"(v.y) : "r"(addr), "n"(OFF));
  return v;
}

__device__ __forceinline__ void mma16816(float (&c)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0,
                                         uint32_t b1) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

template <int BITS, int S>
__device__ __forceinline__ void kstep(float (&c)[4], const Unit& d, uint32_t lane4, const uint4 (&x)[4]) {
  const uint32_t a0 = lut(q_pair_offset<BITS, 2 * S>(d.n0, d.h0, lane4));
  const uint32_t a1 = lut(q_pair_offset<BITS, 2 * S>(d.n1, d.h1, lane4));
  const uint32_t a2 = lut(q_pair_offset<BITS, 2 * S + 1>(d.n0, d.h0, lane4));
  const uint32_t a3 = lut(q_pair_offset<BITS, 2 * S + 1>(d.n1, d.h1, lane4));
  const uint4& xv = x[S / 2];
  if constexpr (S % 2 == 0) mma16816(c, a0, a1, a2, a3, xv.x, xv.y);
  else mma16816(c, a0, a1, a2, a3, xv.z, xv.w);
}

// One unit's sums, scaled by the block norms and the activation scale, added to the lane's
// running sums. One token: acc[0], acc[1] = rows g, g+8 (every lane of a quad holds the same
// column-0 values). Several: acc[0..3] = (row g, token 2t), (g, 2t+1), (g+8, 2t), (g+8, 2t+1),
// the two tokens' scales in the pad of run t, 64 * (tokens - token of lane g) past xoff.
template <int BITS, bool kMulti>
__device__ __forceinline__ void compute_unit(const Unit& d, const Plan& p, int g, uint32_t lane4, float (&acc)[4]) {
  constexpr int X = int(kSmemBase) + xs_offset(BITS, kMulti);
  const uint32_t xa = uint32_t(d.xoff);
  const uint4 x[4] = {lds128<X>(xa), lds128<X + 16>(xa), lds128<X + 32>(xa), lds128<X + 48>(xa)};
  // Two independent mma chains of four: half the dependent latency per unit.
  float c[4] = {0.0f, 0.0f, 0.0f, 0.0f}, e[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  kstep<BITS, 0>(c, d, lane4, x);
  kstep<BITS, 1>(e, d, lane4, x);
  kstep<BITS, 2>(c, d, lane4, x);
  kstep<BITS, 3>(e, d, lane4, x);
  kstep<BITS, 4>(c, d, lane4, x);
  kstep<BITS, 5>(e, d, lane4, x);
  kstep<BITS, 6>(c, d, lane4, x);
  kstep<BITS, 7>(e, d, lane4, x);
  const float2 n = __half22float2(__halves2half2(__ushort_as_half((unsigned short)d.norm0),
                                                 __ushort_as_half((unsigned short)d.norm1)));
  if constexpr (kMulti) {
    for (int i = 0; i < 4; ++i) c[i] += e[i];
    const float2 sc = lds_f32x2<X>(xa + uint32_t(64 * (p.tokens - min(g, p.tokens - 1))));
    acc[0] = fmaf(c[0], n.x * sc.x, acc[0]);
    acc[1] = fmaf(c[1], n.x * sc.y, acc[1]);
    acc[2] = fmaf(c[2], n.y * sc.x, acc[2]);
    acc[3] = fmaf(c[3], n.y * sc.y, acc[3]);
  } else {
    c[0] += e[0];
    c[2] += e[2];
    const float sc = lds_f32<X + 64>(xa);  // the block's scale, in the run's pad
    acc[0] = fmaf(c[0], n.x * sc, acc[0]);
    acc[1] = fmaf(c[2], n.y * sc, acc[1]);
  }
}

// Units of weights in flight per lane while one is computed (registers: 11 per unit).
constexpr int kDepth = 4;

template <int BITS, GemvInput IN, GemvOutput OUT, bool kMulti, bool kTrace>
__global__ void __launch_bounds__(kThreads, 1) gemv_kernel(GemvArgs a, Plan p) {
  unsigned char* smem = hlwq_gemv_smem;
  uint32_t smem_addr;
  asm("mov.u32 %0, hlwq_gemv_smem;" : "=r"(smem_addr));
  if (smem_addr != kSmemBase) __trap();  // the lookups' immediate base would be wrong
  // Let a programmatic dependent (the next GEMV) be scheduled now: its CTAs take each SM as
  // ours leave it and build their table and fetch their first weights during our tail; its
  // griddepcontrol.wait still waits for all of this grid's writes.
  asm volatile("griddepcontrol.launch_dependents;");
  stamp<kTrace>(p, 0, threadIdx.x == 0);
  float* acc = reinterpret_cast<float*>(smem + table_bytes(BITS));
  float* scratch = reinterpret_cast<float*>(smem + table_bytes(BITS) + acc_bytes(kMulti));
  unsigned char* xs = smem + xs_offset(BITS, kMulti);

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const uint32_t lane4 = uint32_t(lane) * 4;
  const int nt = kMulti ? p.tokens : 1, slots = kMulti ? p.slots : kMaxSlots;
  int u0, u1;
  if (p.aligned) {
    u0 = int((long long)blockIdx.x * p.tiles / gridDim.x) * p.nb;
    u1 = int((long long)(blockIdx.x + 1) * p.tiles / gridDim.x) * p.nb;
  } else {
    u0 = int((long long)blockIdx.x * p.units / gridDim.x);
    u1 = int((long long)(blockIdx.x + 1) * p.units / gridDim.x);
  }
  if (u0 >= u1) return;
  if constexpr (kTrace) {
    unsigned smid;
    asm("mov.u32 %0, %%smid;" : "=r"(smid));
    if (threadIdx.x == 0) p.trace[blockIdx.x * kTraceWords + 6] = smid;
  }
  const int st_lo = u0 / p.sb, st_hi = (u1 - 1) / p.sb;
  const int blk0 = (st_lo / p.tiles) * p.sb, blk1 = min(p.nb, (st_hi / p.tiles + 1) * p.sb);

  const int rows = a.w.rows;
  int rs0 = st_lo, rs1 = min(st_hi + 1, st_lo + slots);
  for (;;) {  // rounds of at most `slots` tile slices
    // This warp's contiguous share of the round's units.
    const int ru0 = max(u0, rs0 * p.sb), ru1 = min(u1, rs1 * p.sb), len = ru1 - ru0;
    const int wu0 = ru0 + int((long long)len * warp / kWarps), wu1 = ru0 + int((long long)len * (warp + 1) / kWarps);
    Walk lw = walk_from<kMulti>(p, wu0, wu1, rows, blk0, g, t);
    // The first units' weights do not depend on the previous kernel: they are requested
    // before the table build and the prologue so their latency overlaps both.
    Unit buf[kDepth];
#pragma unroll
    for (int i = 0; i < kDepth; ++i) {
      buf[i] = load_unit<BITS>(a, p, lw, rs0, t);
      step<kMulti>(lw, p, rows, blk0, g, t);
    }
    if (rs0 == st_lo) {
      build_table<BITS>(reinterpret_cast<uint32_t*>(smem), a.codebook);
      for (int i = threadIdx.x; i < acc_bytes(kMulti) / 4; i += kThreads) acc[i] = 0.0f;
      if constexpr (kMulti) {  // the per-token sums the prologue adds to
        if (threadIdx.x < kGemvMaxTokens) scratch[kWarps + threadIdx.x] = 0.0f;
        __syncthreads();
      }
      stamp<kTrace>(p, 1, threadIdx.x == 0);
      // Launched as a programmatic dependent, everything above overlaps the previous kernel;
      // from here on its outputs (our input, the residual) are read. A no-op otherwise.
      asm volatile("griddepcontrol.wait;" ::: "memory");
      stamp<kTrace>(p, 2, threadIdx.x == 0);
      prologue<IN, kMulti>(a, p, xs, scratch, blk0, blk1);
    }
    __syncthreads();
    stamp<kTrace>(p, 3, threadIdx.x == 0);

    float sums[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int n = wu1 - wu0; n > 0; n -= kDepth) {
#pragma unroll
      for (int i = 0; i < kDepth; ++i) {
        if (i >= n) break;
        compute_unit<BITS, kMulti>(buf[i], p, g, lane4, sums);
        if (buf[i].flush >= 0) {  // tile slice done: add it to the CTA's sums
          if constexpr (kMulti) {
            float* slot = acc + buf[i].flush * nt * 16;
            if (2 * t < nt) {
              atomicAdd(slot + 2 * t * 16 + g, sums[0]);
              atomicAdd(slot + 2 * t * 16 + g + 8, sums[2]);
            }
            if (2 * t + 1 < nt) {
              atomicAdd(slot + (2 * t + 1) * 16 + g, sums[1]);
              atomicAdd(slot + (2 * t + 1) * 16 + g + 8, sums[3]);
            }
          } else if (t == 0) {
            atomicAdd(acc + buf[i].flush * 16 + g, sums[0]);
            atomicAdd(acc + buf[i].flush * 16 + g + 8, sums[1]);
          }
          sums[0] = sums[1] = sums[2] = sums[3] = 0.0f;
        }
        // Refilled after use (not before): no register copies, kDepth - 1 units stay in flight.
        buf[i] = load_unit<BITS>(a, p, lw, rs0, t);
        step<kMulti>(lw, p, rows, blk0, g, t);
      }
    }
    stamp<kTrace>(p, 8 + warp, lane == 0);
    __syncthreads();
    stamp<kTrace>(p, 4, threadIdx.x == 0);
    // acc[(slice - rs0) * nt + token][row in tile]
    for (int i = threadIdx.x; i < (rs1 - rs0) * nt * 16; i += kThreads) {
      const int st = rs0 + i / (nt * 16), r = i % 16, k = (i / 16) % nt;
      const int row = (st % p.tiles) * 16 + r;
      if (row >= rows) {
        acc[i] = 0.0f;
        continue;
      }
      const float v = acc[i];
      float* out = a.out + std::size_t(k) * a.out_stride;
      if constexpr (OUT == GemvOutput::SwiGlu) {
        if (r % 2 == 0) {  // rows come as (gate, up) pairs inside a tile
          out[row / 2] = silu(v) * acc[i + 1];
          acc[i] = acc[i + 1] = 0.0f;
        }
      } else {
        if constexpr (OUT == GemvOutput::AddResidual) {
          if (p.aligned) out[row] += v;
          else atomicAdd(out + row, v);
        } else {
          out[row] = v;
        }
        acc[i] = 0.0f;
      }
    }
    stamp<kTrace>(p, 5, threadIdx.x == 0);
    if (rs1 > st_hi) break;
    __syncthreads();
    rs0 = rs1;
    rs1 = min(st_hi + 1, rs0 + slots);
  }
}

template <int BITS, GemvInput IN, GemvOutput OUT, bool kMulti, bool kTrace>
void launch_kernel(const Launch& l, cudaStream_t stream) {
  auto kernel = gemv_kernel<BITS, IN, OUT, kMulti, kTrace>;
  static std::size_t configured_smem = 0;
  if (configured_smem < l.smem) {  // opt in to more than 48 KiB once per instantiation and size
    check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(l.smem)),
          "cudaFuncSetAttribute(gemv shared memory)");
    configured_smem = l.smem;
  }
  launch_maybe_pdl(l.pdl, "gemv", kernel, dim3(unsigned(l.grid)), dim3(kThreads), l.smem, stream, l.args, l.plan);
}

// One width's dispatch over the fused ops. Traced kernels exist for one Q5 token only, the
// rotated input (prefill) for Store and AddResidual only: fewer kernels to compile and carry.
template <int BITS>
void launch_width(const Launch& l, cudaStream_t stream) {
#define HLWQ_GEMV_CASE(I, O)                                                                            \
  if (l.input == GemvInput::I && l.output == GemvOutput::O) {                                           \
    constexpr bool kRotated = GemvInput::I == GemvInput::RotatedBf16;                                   \
    if constexpr (!kRotated || GemvOutput::O != GemvOutput::SwiGlu) {                                  \
      if (l.multi) return launch_kernel<BITS, GemvInput::I, GemvOutput::O, true, false>(l, stream);      \
    }                                                                                                   \
    if constexpr (!kRotated) {                                                                          \
      if constexpr (BITS == 5) {                                                                        \
        if (l.traced) return launch_kernel<BITS, GemvInput::I, GemvOutput::O, false, true>(l, stream);   \
      }                                                                                                 \
      return launch_kernel<BITS, GemvInput::I, GemvOutput::O, false, false>(l, stream);                  \
    }                                                                                                   \
  }
  HLWQ_GEMV_CASE(Plain, Store)
  HLWQ_GEMV_CASE(Plain, AddResidual)
  HLWQ_GEMV_CASE(Plain, SwiGlu)
  HLWQ_GEMV_CASE(RmsNorm1p, Store)
  HLWQ_GEMV_CASE(RmsNorm1p, AddResidual)
  HLWQ_GEMV_CASE(RmsNorm1p, SwiGlu)
  HLWQ_GEMV_CASE(GatedNorm, Store)
  HLWQ_GEMV_CASE(GatedNorm, AddResidual)
  HLWQ_GEMV_CASE(GatedNorm, SwiGlu)
  HLWQ_GEMV_CASE(RotatedBf16, Store)
  HLWQ_GEMV_CASE(RotatedBf16, AddResidual)
#undef HLWQ_GEMV_CASE
  throw_error(ErrorKind::Internal, "gemv: unknown input/output mode");
}

}  // namespace hlwq::cuda::gemv_detail
