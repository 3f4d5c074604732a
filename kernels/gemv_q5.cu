#include "gemv_q5.h"

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <string>

#include "core/error.h"
#include "cuda_check.h"
#include "hadamard.cuh"

// The decode GEMV streams 5.125 bits per weight, so an H200 SM must take in about 25
// weights per clock to keep up with DRAM: the per-weight instruction count is the limit, not
// the arithmetic. Two codes are decoded per shared-memory lookup (a pair table of half2,
// replicated per lane so every lookup is conflict-free), each looked-up half2 is directly one
// register of an mma.sync A fragment, and the tensor cores do the multiply-adds against the
// fp16 activation in column 0 of B (fp32 accumulation). About 2 instructions per weight.
// At global scope so the inline PTX can name it (namespace members get mangled names).
extern __shared__ __align__(16) unsigned char hlwq_gemv_smem[];

namespace hlwq::cuda {
namespace {

constexpr int kWarps = 16, kThreads = kWarps * 32;
constexpr int kMaxSlots = 128;                 // 16-row tile slices accumulated per round
constexpr int kTableBytes = 1024 * 32 * 4;     // 1024 pairs x 32 lane copies x half2
constexpr int kRunBytes = 80;                  // 32 fp16 activations + 16 B pad (conflict-free reads; holds the scale)
constexpr int kBlockXBytes = 4 * kRunBytes;    // one 128-block of activations
// Dynamic shared memory: [pair table][accumulators][block_sum scratch][pool counter][activations].
constexpr int kPoolOffset = kTableBytes + kMaxSlots * 16 * 4 + kWarps * 4;
constexpr int kXsOffset = kPoolOffset + 16;

// How the (16-row tile, 128-block) work units are spread. Units are ordered by K slice, then
// tile, then block inside the slice; each CTA takes a contiguous range of them. Stores and
// SwiGLU need a tile's whole sum in one CTA (one slice, ranges on tile boundaries); the
// residual epilogue adds with atomics, so its ranges split anywhere and K is cut into slices
// that keep each CTA's activations (and its prologue) short.
struct Plan {
  int tiles = 0, nb = 0, sb = 0, slices = 0, units = 0;
  int aligned = 1;
  int nbx = 0;       // most blocks of activations one CTA holds
  int meet = 0;      // Store/SwiGLU ranges split anywhere; the two CTAs of a shared tile meet in g_meet
  int prefetch = 0;  // units per warp prefetched into L2 before griddepcontrol.wait
  int pool = 0;      // percent of each round's units handed out to the warps dynamically
  unsigned long long* trace = nullptr;  // per-CTA timestamps (gemv_q5_tuning().trace)
};

constexpr int kTraceWords = 24;  // per CTA: entry, table, wait, prologue, loop, exit, smid, -, 16 warps

__device__ __forceinline__ unsigned long long global_ns() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t)::"memory");  // not moved across barriers
  return t;
}

__device__ __forceinline__ void stamp(const Plan& p, int word) {
  if (p.trace && threadIdx.x == 0) p.trace[blockIdx.x * kTraceWords + word] = global_ns();
}

// Partial sums of the tiles that two CTAs share (Plan::meet): boundary b between CTA b and
// b + 1 holds 16 row sums and an arrival count. The second CTA to arrive finishes the tile
// and zeroes both for the next launch (which touches them only after griddepcontrol.wait),
// so one GEMV may run on a device at a time, the decode stream's order.
constexpr int kMaxGrid = 1024;
__device__ float g_meet_sum[kMaxGrid][16];
__device__ int g_meet_count[kMaxGrid];

__device__ __forceinline__ float silu(float v) { return v / (1.0f + __expf(-v)); }

__device__ float block_sum(float v, float* scratch) {
  for (int m = 16; m; m >>= 1) v += __shfl_xor_sync(0xffffffffu, v, m);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float s = 0;
  for (int i = 0; i < kWarps; ++i) s += scratch[i];
  return s;
}

// The input and the gate are read from L2 (__ldcg): in a chain they were written by other
// SMs since this SM last read them, and L1 is not coherent.
// Rotated input of blocks [b0, b1) as fp16 scaled per block by a power of two (so any
// activation range fits fp16 with full relative precision); the scale goes in each run's pad.
// Each warp loads kPrologueBatch blocks before working on them: their L2 latencies overlap,
// and a 27B input (at most 48 blocks per CTA) takes one round trip (~1 us under load), not two. When the
// CTA holds the whole input, RMSNorm's 1/rms is found in the same pass and folded into the
// block scales afterwards (the rotation is linear); otherwise a first pass finds it.
constexpr int kPrologueBatch = 3;

template <GemvInput IN>
__device__ void prologue(const GemvArgs& a, unsigned char* xs, float* scratch, int b0, int b1) {
  const int cols = a.w.cols;
  const bool fused_rms = IN == GemvInput::RmsNorm1p && b0 == 0 && b1 * 128 == cols;
  float scale = 1.0f, ss = 0.0f;
  if (IN == GemvInput::RmsNorm1p && !fused_rms) {
    for (int c = threadIdx.x * 4; c < cols; c += kThreads * 4) {
      const float4 v = __ldcg(reinterpret_cast<const float4*>(a.in + c));
      ss += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
    }
    scale = rsqrtf(block_sum(ss, scratch) / cols + a.eps);
  }
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  float4 gw = make_float4(0, 0, 0, 0);
  if constexpr (IN == GemvInput::GatedNorm) gw = *reinterpret_cast<const float4*>(a.norm_w + lane * 4);
  for (int first = b0 + warp; first < b1; first += kPrologueBatch * kWarps) {
    float4 in4[kPrologueBatch], w4[kPrologueBatch];
#pragma unroll
    for (int h = 0; h < kPrologueBatch; ++h) {
      const int c = (first + h * kWarps) * 128 + lane * 4;
      if (first + h * kWarps >= b1) break;
      in4[h] = __ldcg(reinterpret_cast<const float4*>(a.in + c));
      if constexpr (IN == GemvInput::RmsNorm1p) w4[h] = *reinterpret_cast<const float4*>(a.norm_w + c);
      if constexpr (IN == GemvInput::GatedNorm) w4[h] = __ldcg(reinterpret_cast<const float4*>(a.gate + c));
    }
#pragma unroll
    for (int h = 0; h < kPrologueBatch; ++h) {
      const int blk = first + h * kWarps;
      if (blk >= b1) break;
      float v[4] = {in4[h].x, in4[h].y, in4[h].z, in4[h].w};
      if constexpr (IN == GemvInput::RmsNorm1p) {
        if (fused_rms) ss += v[0] * v[0] + v[1] * v[1] + v[2] * v[2] + v[3] * v[3];
        v[0] *= scale * (1.0f + w4[h].x); v[1] *= scale * (1.0f + w4[h].y);
        v[2] *= scale * (1.0f + w4[h].z); v[3] *= scale * (1.0f + w4[h].w);
      } else if constexpr (IN == GemvInput::GatedNorm) {
        float q = v[0] * v[0] + v[1] * v[1] + v[2] * v[2] + v[3] * v[3];
        for (int m = 16; m; m >>= 1) q += __shfl_xor_sync(0xffffffffu, q, m);
        const float r = rsqrtf(q / 128.0f + a.eps);
        v[0] *= r * gw.x * silu(w4[h].x); v[1] *= r * gw.y * silu(w4[h].y);
        v[2] *= r * gw.z * silu(w4[h].z); v[3] *= r * gw.w * silu(w4[h].w);
      }
      wht128_warp(v);
      float m = fmaxf(fmaxf(fabsf(v[0]), fabsf(v[1])), fmaxf(fabsf(v[2]), fabsf(v[3])));
      for (int k = 16; k; k >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, k));
      const float sc = m > 0.0f ? exp2f(ceilf(log2f(m))) : 1.0f;
      const float inv = 1.0f / sc;  // exact: a power of two
      const __half2 h0 = __floats2half2_rn(v[0] * inv, v[1] * inv), h1 = __floats2half2_rn(v[2] * inv, v[3] * inv);
      uint2 st;
      st.x = *reinterpret_cast<const uint32_t*>(&h0);
      st.y = *reinterpret_cast<const uint32_t*>(&h1);
      *reinterpret_cast<uint2*>(xs + (blk - b0) * kBlockXBytes + (lane >> 3) * kRunBytes + (lane & 7) * 8) = st;
      if (lane < 4) *reinterpret_cast<float*>(xs + (blk - b0) * kBlockXBytes + lane * kRunBytes + 64) = sc;
    }
  }
  if (fused_rms) {
    const float r = rsqrtf(block_sum(ss, scratch) / cols + a.eps);
    for (int blk = b0 + warp; blk < b1; blk += kWarps)
      if (lane < 4) *reinterpret_cast<float*>(xs + (blk - b0) * kBlockXBytes + lane * kRunBytes + 64) *= r;
  }
}

// Table entry (a | b << 5, lane) = half2(c[a], c[b]) / sqrt(128) at byte (pair * 32 + lane) * 4.
// Thread i writes 16-byte chunks i, i + 512, ...: consecutive lanes, consecutive banks. The
// 32 centroids are fetched once into `cb` (128 bytes of the accumulators, zeroed after):
// loaded per store batch they cost four L2 round trips, ~3.5 us under the previous kernel's
// DRAM load (hlwq-gemv-trace), on the critical path of the SM whose CTA starts last.
__device__ void build_table(uint32_t* table, const float* codebook, float* cb) {
  const int i = threadIdx.x;
  if (i < 32) cb[i] = __ldg(codebook + i) * 0.08838834764831845f;
  __syncthreads();
  const float lo = cb[(i >> 3) & 31];
#pragma unroll 4
  for (int k = 0; k < kTableBytes / 16 / kThreads; ++k) {
    const __half2 h = __floats2half2_rn(lo, cb[(i >> 8) + 2 * k]);
    const uint32_t v = *reinterpret_cast<const uint32_t*>(&h);
    reinterpret_cast<uint4*>(table)[i + k * kThreads] = make_uint4(v, v, v, v);
  }
  __syncthreads();
}

// A warp's walk over its contiguous range of units: consecutive blocks of one tile are one
// row-block step apart, so only a tile change re-seats the walk.
struct Walk {
  int left, bi, st, slice, tile, rit, xoff;
  uint32_t rb0, rb1;  // row-block index of rows g and g+8 (clamped into a short last tile)
};

__device__ __forceinline__ void seat(Walk& k, const Plan& p, int rows, int blk0, int g, int t) {
  k.rit = min(16, rows - k.tile * 16);
  const int block = k.slice * p.sb + k.bi;
  const uint32_t base = uint32_t(k.tile) * 16 * p.nb + uint32_t(block) * k.rit;
  // Rows past the end of a short tile read a valid row instead; the epilogue drops them.
  k.rb0 = base + min(g, k.rit - 1);
  k.rb1 = base + min(g + 8, k.rit - 1);
  k.xoff = (block - blk0) * kBlockXBytes + t * kRunBytes;
}

__device__ __forceinline__ Walk walk_from(const Plan& p, int u, int end, int rows, int blk0, int g, int t) {
  Walk k;
  k.left = end - u;
  k.st = u / p.sb;
  k.bi = u - k.st * p.sb;
  k.slice = k.st / p.tiles;
  k.tile = k.st - k.slice * p.tiles;
  if (k.left > 0) seat(k, p, rows, blk0, g, t);
  return k;
}

// Units a warp takes from the round's pool at a time.
constexpr int kPoolChunk = 2;

// Next unit of the walk. When the warp's range is done it takes the next kPoolChunk units of
// the round's pool (a shared-memory counter, *pool, up to pool_end): warps of one CTA finish
// their equal static shares up to 2.5 us apart (hlwq-gemv-trace), so the last part of the
// CTA's units goes to whichever warps are free. A failed take leaves left at 0 (then < 0):
// the walk is over.
__device__ __forceinline__ void step(Walk& k, const Plan& p, int rows, int blk0, int g, int t, int* pool,
                                     int pool_end) {
  if (--k.left <= 0) {
    if (k.left < 0) return;
    int u = 0;
    if ((threadIdx.x & 31) == 0) u = atomicAdd(pool, kPoolChunk);
    u = __shfl_sync(0xffffffffu, u, 0);
    if (u < pool_end) k = walk_from(p, u, min(u + kPoolChunk, pool_end), rows, blk0, g, t);
    return;
  }
  if (++k.bi < p.sb) {
    k.rb0 += k.rit;
    k.rb1 += k.rit;
    k.xoff += kBlockXBytes;
    return;
  }
  k.bi = 0;
  ++k.st;
  if (++k.tile == p.tiles) {
    k.tile = 0;
    ++k.slice;
  }
  seat(k, p, rows, blk0, g, t);
}

// One lane's share of one unit: run t of rows g and g+8 of the tile-block, their norms,
// where its activations are, and the accumulator slot to flush to after it (-1: none; -2:
// no unit, the walk is over).
struct Unit {
  uint4 n0, n1;
  uint32_t h0, h1;
  uint32_t norm0, norm1;  // fp16 bits of rows g and g+8, kept apart: combining them here
                          // would wait for the loads at issue time
  int xoff, flush;
};

__device__ __forceinline__ Unit load_unit(const GemvArgs& a, const Plan& p, const Walk& k, int rs0, int t) {
  Unit d;
  d.xoff = k.xoff;
  d.flush = k.left <= 0 ? -2 : k.bi == p.sb - 1 || k.left == 1 ? k.st - rs0 : -1;
  if (k.left > 0) {
    // Weights are streamed once per token: evict-first, so they do not push out the activations.
    const unsigned short* nrm = reinterpret_cast<const unsigned short*>(a.w.norms);
    d.n0 = __ldcs(a.w.nib + (k.rb0 * 4 + t));
    d.n1 = __ldcs(a.w.nib + (k.rb1 * 4 + t));
    d.h0 = __ldcs(a.w.hi + (k.rb0 * 4 + t));
    d.h1 = __ldcs(a.w.hi + (k.rb1 * 4 + t));
    d.norm0 = __ldcs(nrm + k.rb0);
    d.norm1 = __ldcs(nrm + k.rb1);
  }
  return d;
}

__device__ __forceinline__ void bulk_prefetch_l2(const void* ptr, uint32_t bytes) {
  asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(ptr), "r"(bytes) : "memory");
}

// L2 prefetch of a warp's units [u, end) up to Plan::prefetch of them (lane j takes unit
// u + j): their DRAM reads overlap the wait for the previous kernel and the prologue, so the
// main loop's first refills hit L2 instead of restarting the DRAM pipeline.
__device__ __forceinline__ void prefetch_units(const GemvArgs& a, const Plan& p, int u, int end, int rows, int lane) {
  u += lane;
  if (lane >= p.prefetch || u >= end) return;
  const int st = u / p.sb, bi = u - st * p.sb, slice = st / p.tiles, tile = st - slice * p.tiles;
  const int rit = min(16, rows - tile * 16);
  const uint32_t base = uint32_t(tile) * 16 * p.nb + uint32_t(slice * p.sb + bi) * rit;
  bulk_prefetch_l2(a.w.nib + base * 4, rit * 64);
  bulk_prefetch_l2(a.w.hi + base * 4, rit * 16);
  const uintptr_t n0 = reinterpret_cast<uintptr_t>(a.w.norms + base) & ~uintptr_t(15);
  const uintptr_t n1 = (reinterpret_cast<uintptr_t>(a.w.norms + base + rit) + 15) & ~uintptr_t(15);
  bulk_prefetch_l2(reinterpret_cast<const void*>(n0), uint32_t(n1 - n0));
}

// Byte offset of pair p's table entry for this lane (q5_matrix.h): pairs 0-14 take a rotate
// and a LOP3, pair 15 is gathered from the five spare fields.
template <int P>
__device__ __forceinline__ uint32_t pair_offset(const uint4& n, uint32_t h, uint32_t lane4) {
  if constexpr (P == 15) {
    return (n.x & 0x180u) | (n.y & 0x600u) | (n.z & 0x1800u) | (n.w & 0x6000u) | (h & 0x18000u) | lane4;
  } else {
    constexpr int q = P / 3;
    const uint32_t w = q == 0 ? n.x : q == 1 ? n.y : q == 2 ? n.z : q == 3 ? n.w : h;
    return (__funnelshift_l(w, w, (7 - q5_pair_bit(P)) & 31) & 0x1FF80u) | lane4;
  }
}

// Shared-memory reads at shared-window address kSmemBase + offset with the base as the
// instruction's immediate: with it in a register, ptxas adds it per lookup (one more
// instruction per pair). The kernel uses no static shared memory, so dynamic shared memory
// starts right after the 1 KiB the system reserves; the kernel checks that on entry.
constexpr uint32_t kSmemBase = 1024;
constexpr int kXsAddr = int(kSmemBase) + kXsOffset;

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

__device__ __forceinline__ void mma16816(float (&c)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0,
                                         uint32_t b1) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

template <int S>
__device__ __forceinline__ void kstep(float (&c)[4], const Unit& d, uint32_t lane4,
                                      const uint4 (&x)[4]) {
  const uint32_t a0 = lut(pair_offset<2 * S>(d.n0, d.h0, lane4));
  const uint32_t a1 = lut(pair_offset<2 * S>(d.n1, d.h1, lane4));
  const uint32_t a2 = lut(pair_offset<2 * S + 1>(d.n0, d.h0, lane4));
  const uint32_t a3 = lut(pair_offset<2 * S + 1>(d.n1, d.h1, lane4));
  const uint4& xv = x[S / 2];
  if constexpr (S % 2 == 0) mma16816(c, a0, a1, a2, a3, xv.x, xv.y);
  else mma16816(c, a0, a1, a2, a3, xv.z, xv.w);
}

// Row g and g+8 sums of one unit, scaled by the block norms and the activation scale, added
// to the lane's running sums (every lane of a quad holds the same column-0 values).
__device__ __forceinline__ void compute_unit(const Unit& d, uint32_t lane4, float& acc0, float& acc1) {
  const uint32_t xa = uint32_t(d.xoff);
  const uint4 x[4] = {lds128<kXsAddr>(xa), lds128<kXsAddr + 16>(xa), lds128<kXsAddr + 32>(xa), lds128<kXsAddr + 48>(xa)};
  // Two independent mma chains of four: half the dependent latency per unit.
  float c[4] = {0.0f, 0.0f, 0.0f, 0.0f}, e[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  kstep<0>(c, d, lane4, x);
  kstep<1>(e, d, lane4, x);
  kstep<2>(c, d, lane4, x);
  kstep<3>(e, d, lane4, x);
  kstep<4>(c, d, lane4, x);
  kstep<5>(e, d, lane4, x);
  kstep<6>(c, d, lane4, x);
  kstep<7>(e, d, lane4, x);
  c[0] += e[0];
  c[2] += e[2];
  const float sc = lds_f32<kXsAddr + 64>(xa);  // the block's scale, in the run's pad
  const float2 n = __half22float2(__halves2half2(__ushort_as_half((unsigned short)d.norm0),
                                                 __ushort_as_half((unsigned short)d.norm1)));
  acc0 = fmaf(c[0], n.x * sc, acc0);
  acc1 = fmaf(c[2], n.y * sc, acc1);
}

// One CTA's partial sums of a tile it shares with a neighbour (Plan::meet), done by warp 0:
// add them to the boundary's slot; the second CTA to arrive applies the epilogue.
__device__ void meet(const GemvArgs& a, bool swiglu, float* part, int tile, int b) {
  if (threadIdx.x >= 32) return;
  const int lane = threadIdx.x;
  if (lane < 16) {
    atomicAdd(&g_meet_sum[b][lane], part[lane]);
    __threadfence();
  }
  __syncwarp();
  int second = 0;
  if (lane == 0) {
    second = atomicAdd(&g_meet_count[b], 1);
    __threadfence();
  }
  second = __shfl_sync(0xffffffffu, second, 0);
  if (lane < 16) part[lane] = 0.0f;
  if (!second) return;
  const float v = lane < 16 ? __ldcg(&g_meet_sum[b][lane]) : 0.0f;
  const float up = __shfl_down_sync(0xffffffffu, v, 1);
  if (lane < 16) g_meet_sum[b][lane] = 0.0f;
  if (lane == 0) g_meet_count[b] = 0;
  const int row = tile * 16 + lane;
  if (lane >= 16 || row >= a.w.rows) return;
  if (swiglu) {
    if (lane % 2 == 0) a.out[row / 2] = silu(v) * up;
  } else {
    a.out[row] = v;
  }
}

// Units of weights in flight per lane while one is computed (registers: 11 per unit).
constexpr int kDepth = 4;

// This CTA's range of units [u0, u1).
__device__ __forceinline__ void cta_units(const Plan& p, int& u0, int& u1) {
  if (p.aligned) {
    u0 = int((long long)blockIdx.x * p.tiles / gridDim.x) * p.nb;
    u1 = int((long long)(blockIdx.x + 1) * p.tiles / gridDim.x) * p.nb;
  } else {
    u0 = int((long long)blockIdx.x * p.units / gridDim.x);
    u1 = int((long long)(blockIdx.x + 1) * p.units / gridDim.x);
  }
}

// One GEMV by this CTA. The first pass of a launch builds the table and waits for the
// previous kernel (griddepcontrol.wait); a later pass of a chain (gemv_q5_chain) finds the
// table built and runs after the grid barrier.
// The input and output modes of a pass: fixed at compile time for the single GEMV (every
// test folds away), read from the launch for a chain's passes (one copy of the main loop).
template <GemvInput IN, GemvOutput OUT>
struct StaticMode {
  __device__ static constexpr GemvInput in() { return IN; }
  __device__ static constexpr GemvOutput out() { return OUT; }
};
struct RuntimeMode {
  GemvInput i;
  GemvOutput o;
  __device__ GemvInput in() const { return i; }
  __device__ GemvOutput out() const { return o; }
};

template <class Mode>
__device__ __forceinline__ void gemv_pass(const GemvArgs& a, const Plan& p, bool first, Mode m) {
  unsigned char* smem = hlwq_gemv_smem;
  float* acc = reinterpret_cast<float*>(smem + kTableBytes);
  float* scratch = acc + kMaxSlots * 16;
  int* pool = reinterpret_cast<int*>(smem + kPoolOffset);
  unsigned char* xs = smem + kXsOffset;

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const uint32_t lane4 = uint32_t(lane) * 4;
  int u0, u1;
  if (p.trace && threadIdx.x == 0) {
    unsigned smid;
    asm("mov.u32 %0, %%smid;" : "=r"(smid));
    p.trace[blockIdx.x * kTraceWords + 6] = smid;
  }
  cta_units(p, u0, u1);
  if (u0 >= u1) {
    if (first) {  // a chain's later passes may have work for this CTA
      build_table(reinterpret_cast<uint32_t*>(smem), a.codebook, acc);
      for (int i = threadIdx.x; i < kMaxSlots * 16; i += kThreads) acc[i] = 0.0f;
      asm volatile("griddepcontrol.wait;" ::: "memory");
    }
    return;
  }
  const int st_lo = u0 / p.sb, st_hi = (u1 - 1) / p.sb;
  const int blk0 = (st_lo / p.tiles) * p.sb, blk1 = min(p.nb, (st_hi / p.tiles + 1) * p.sb);

  const int rows = a.w.rows;
  int rs0 = st_lo, rs1 = min(st_hi + 1, st_lo + kMaxSlots);
  for (;;) {  // rounds of at most kMaxSlots tile slices
    // This warp's contiguous share of the round's units [ru0, rmid); [rmid, ru1) is the pool.
    // Every share holds more than kDepth units (the pool counter is set after the preload).
    const int ru0 = max(u0, rs0 * p.sb), ru1 = min(u1, rs1 * p.sb);
    const int rmid = ru1 - ru0 >= 8 * kWarps ? ru1 - (ru1 - ru0) * p.pool / 100 : ru1, len = rmid - ru0;
    const int wu0 = ru0 + int((long long)len * warp / kWarps), wu1 = ru0 + int((long long)len * (warp + 1) / kWarps);
    const int pool_end = rmid < ru1 ? ru1 : INT_MIN;  // without a pool no take succeeds
    Walk lw = walk_from(p, wu0, wu1, rows, blk0, g, t);
    // The first units' weights do not depend on the previous kernel: they are requested
    // before the table build and the prologue so their latency overlaps both.
    Unit buf[kDepth];
#pragma unroll
    for (int i = 0; i < kDepth; ++i) {
      buf[i] = load_unit(a, p, lw, rs0, t);
      step(lw, p, rows, blk0, g, t, pool, pool_end);
    }
    if (rs0 == st_lo) {
      if (first) {
        if (p.prefetch) prefetch_units(a, p, wu0 + kDepth, wu1, rows, lane);
        build_table(reinterpret_cast<uint32_t*>(smem), a.codebook, acc);
        for (int i = threadIdx.x; i < kMaxSlots * 16; i += kThreads) acc[i] = 0.0f;
        stamp(p, 1);
        // Launched as a programmatic dependent, everything above overlaps the previous kernel;
        // from here on its outputs (our input, the residual) are read. A no-op otherwise.
        asm volatile("griddepcontrol.wait;" ::: "memory");
      }
      stamp(p, 2);
      if (m.in() == GemvInput::Plain) prologue<GemvInput::Plain>(a, xs, scratch, blk0, blk1);
      else if (m.in() == GemvInput::RmsNorm1p) prologue<GemvInput::RmsNorm1p>(a, xs, scratch, blk0, blk1);
      else prologue<GemvInput::GatedNorm>(a, xs, scratch, blk0, blk1);
    }
    if (threadIdx.x == 0) *pool = rmid;
    __syncthreads();
    stamp(p, 3);

    float acc0 = 0.0f, acc1 = 0.0f;
    for (bool more = true; more;) {
#pragma unroll
      for (int i = 0; i < kDepth; ++i) {
        if (buf[i].flush == -2) {
          more = false;
          break;
        }
        compute_unit(buf[i], lane4, acc0, acc1);
        if (buf[i].flush >= 0) {  // tile slice done: add it to the CTA's sums
          if (t == 0) {
            atomicAdd(acc + buf[i].flush * 16 + g, acc0);
            atomicAdd(acc + buf[i].flush * 16 + g + 8, acc1);
          }
          acc0 = acc1 = 0.0f;
        }
        // Refilled after use (not before): no register copies, kDepth - 1 units stay in flight.
        buf[i] = load_unit(a, p, lw, rs0, t);
        step(lw, p, rows, blk0, g, t, pool, pool_end);
      }
    }
    if (p.trace && lane == 0) p.trace[blockIdx.x * kTraceWords + 8 + warp] = global_ns();
    __syncthreads();
    stamp(p, 4);
    // Tiles shared with the previous / next CTA (Plan::meet) are finished in meet().
    const bool part_lo = p.meet && rs0 == st_lo && u0 % p.sb != 0;
    const bool part_hi = p.meet && rs1 > st_hi && u1 % p.sb != 0;
    for (int i = threadIdx.x; i < (rs1 - rs0) * 16; i += kThreads) {
      const int st = rs0 + i / 16, r = i % 16;
      const int row = (st % p.tiles) * 16 + r;
      if ((part_lo && st == st_lo) || (part_hi && st == st_hi)) continue;
      if (row >= rows) {
        acc[i] = 0.0f;
        continue;
      }
      const float v = acc[i];
      if (m.out() == GemvOutput::SwiGlu) {
        if (r % 2 == 0) {  // rows come as (gate, up) pairs inside a tile
          a.out[row / 2] = silu(v) * acc[i + 1];
          acc[i] = acc[i + 1] = 0.0f;
        }
      } else {
        if (m.out() == GemvOutput::AddResidual) {
          if (p.aligned) a.out[row] += v;
          else atomicAdd(a.out + row, v);
        } else {
          a.out[row] = v;
        }
        acc[i] = 0.0f;
      }
    }
    if (m.out() != GemvOutput::AddResidual) {
      if (part_lo) meet(a, m.out() == GemvOutput::SwiGlu, acc, st_lo % p.tiles, blockIdx.x - 1);
      if (part_hi) meet(a, m.out() == GemvOutput::SwiGlu, acc + (st_hi - rs0) * 16, st_hi % p.tiles, blockIdx.x);
    }
    stamp(p, 5);
    if (rs1 > st_hi) break;
    __syncthreads();
    rs0 = rs1;
    rs1 = min(st_hi + 1, rs0 + kMaxSlots);
  }
}

__device__ __forceinline__ void check_smem_base() {
  uint32_t smem_addr;
  asm("mov.u32 %0, hlwq_gemv_smem;" : "=r"(smem_addr));
  if (smem_addr != kSmemBase) __trap();  // the lookups' immediate base would be wrong
}

template <GemvInput IN, GemvOutput OUT>
__global__ void __launch_bounds__(kThreads, 1) gemv_q5_kernel(GemvArgs a, Plan p) {
  check_smem_base();
  // Let a programmatic dependent (the next GEMV) be scheduled now: its CTAs take each SM as
  // ours leave it and build their table and fetch their first weights during our tail; its
  // griddepcontrol.wait still waits for all of this grid's writes.
  asm volatile("griddepcontrol.launch_dependents;");
  stamp(p, 0);
  gemv_pass(a, p, true, StaticMode<IN, OUT>{});
}

// Grid-wide barrier of a chain (every CTA resident: one per SM, grid <= SMs). The count is
// back at zero when the barrier opens; the generation only grows.
__device__ unsigned g_chain_count, g_chain_generation;

__device__ __forceinline__ void grid_barrier() {
  __syncthreads();
  if (threadIdx.x == 0) {
    volatile unsigned* gen = &g_chain_generation;
    const unsigned seen = *gen;
    __threadfence();  // our writes (the outputs of the pass) before our arrival
    if (atomicAdd(&g_chain_count, 1) == gridDim.x - 1) {
      g_chain_count = 0;
      __threadfence();
      atomicAdd(&g_chain_generation, 1);
    } else {
      while (*gen == seen) __nanosleep(64);
    }
    __threadfence();
  }
  __syncthreads();
}

// L2 prefetch of each warp's first units of the next pass, issued before the barrier so
// the DRAM stream does not stop while the grid waits for its slowest CTA.
__device__ __forceinline__ void prefetch_pass(const GemvArgs& a, const Plan& p) {
  int u0, u1;
  cta_units(p, u0, u1);
  if (u0 >= u1 || p.prefetch == 0) return;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int st_lo = u0 / p.sb, st_hi = (u1 - 1) / p.sb;
  const int rs1 = min(st_hi + 1, st_lo + kMaxSlots);
  const int ru1 = min(u1, rs1 * p.sb), len = ru1 - u0;
  const int wu0 = u0 + int((long long)len * warp / kWarps), wu1 = u0 + int((long long)len * (warp + 1) / kWarps);
  prefetch_units(a, p, wu0, wu1, a.w.rows, lane);
}

// The GEMVs of one decode layer after its mixer, in one launch: out_proj (+= residual),
// gate/up (SwiGLU), down (+= residual) and optionally the next layer's in_proj; the table is
// built once and each pass waits for the previous one at a grid barrier instead of a kernel
// boundary.
struct Chain {
  GemvArgs a[4];
  Plan p[4];
  GemvInput in[4];
  GemvOutput out[4];
  int n;
};

__global__ void __launch_bounds__(kThreads, 1) gemv_q5_chain_kernel(Chain c) {
  check_smem_base();
  asm volatile("griddepcontrol.launch_dependents;");
  for (int i = 0; i < c.n; ++i) {
    stamp(c.p[i], 0);
    if (i > 0) {
      prefetch_pass(c.a[i], c.p[i]);
      grid_barrier();
      stamp(c.p[i], 1);
    }
    gemv_pass(c.a[i], c.p[i], i == 0, RuntimeMode{c.in[i], c.out[i]});
  }
}

std::size_t smem_bytes(int nbx) {
  return std::size_t(kXsOffset) + std::size_t(nbx) * kBlockXBytes;
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

int device_smem_optin() {
  static const int bytes = [] {
    int dev = 0, n = 0;
    check(cudaGetDevice(&dev), "cudaGetDevice");
    check(cudaDeviceGetAttribute(&n, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev),
          "cudaDeviceGetAttribute(shared memory per block)");
    return n;
  }();
  return bytes;
}

Plan make_plan(const Q5Matrix& w, bool split_k, bool meet, int grid) {
  Plan p;
  p.tiles = (w.rows + 15) / 16;
  p.nb = w.cols / 128;
  p.sb = p.nb;
  if (split_k) {  // smallest slice of at least 16 blocks that divides the row evenly
    for (int d = 16; d < p.nb; ++d)
      if (p.nb % d == 0) {
        p.sb = d;
        break;
      }
  }
  p.slices = p.nb / p.sb;
  p.units = p.slices * p.tiles * p.sb;
  // Whole tiles per CTA leave up to one tile of imbalance (gate/up: 2176 tiles on 132 SMs,
  // 17 against 16.5 on average); with meet, ranges split anywhere and a tile cut between two
  // CTAs is summed in g_meet. Every CTA then holds at least one tile's units (grid <= tiles),
  // so a tile is never cut twice.
  p.meet = !split_k && meet && grid > 1 && grid <= kMaxGrid && p.tiles >= grid ? 1 : 0;
  p.aligned = split_k || p.meet ? 0 : 1;
  if (p.aligned || p.meet) {
    p.nbx = p.nb;
  } else {  // a CTA's units span at most this many tile slices, so this many K slices
    const int per_cta = (p.units + grid - 1) / grid;
    const int spans = per_cta / p.sb + 2;
    p.nbx = std::min(p.nb, (spans / p.tiles + 2) * p.sb);
  }
  return p;
}

// Programmatic dependent launch lets the table build and the first weight loads run while
// the previous kernel drains (HLWQ_GEMV_PDL=0 turns it off for A/B timing).
GemvTuning tuning_from_env() {
  GemvTuning t;
  auto env = [](const char* name, int fallback) {
    const char* e = std::getenv(name);
    return e && *e ? std::atoi(e) : fallback;
  };
  t.pdl = env("HLWQ_GEMV_PDL", 1) != 0;
  t.meet = env("HLWQ_GEMV_MEET", t.meet ? 1 : 0) != 0;
  t.prefetch_units = std::clamp(env("HLWQ_GEMV_PREFETCH", t.prefetch_units), 0, 32);
  t.chain = env("HLWQ_GEMV_CHAIN", t.chain ? 1 : 0) != 0;
  t.pool_percent = std::clamp(env("HLWQ_GEMV_POOL", t.pool_percent), 0, 30);
  return t;
}

// The plan of one GEMV on `grid` CTAs with the process's launch options.
Plan plan_for(const GemvArgs& a, GemvOutput out, int grid) {
  GemvTuning& tune = gemv_q5_tuning();
  Plan p = make_plan(a.w, out == GemvOutput::AddResidual, tune.meet, grid);
  p.prefetch = tune.prefetch_units;
  p.pool = std::clamp(tune.pool_percent, 0, 30);
  if (tune.trace && tune.trace_next < tune.trace_launches)
    p.trace = tune.trace + std::size_t(tune.trace_next++) * tune.trace_ctas * kTraceWords;
  return p;
}

// Opts the kernel in to `smem` bytes of dynamic shared memory (once per kernel and size).
template <class Kernel>
void set_smem(Kernel kernel, std::size_t smem, std::size_t& configured, int cols) {
  if (smem > std::size_t(device_smem_optin()))
    throw_error(ErrorKind::InvalidArgument, "gemv_q5: ", std::to_string(cols), " input columns need ",
                std::to_string(smem), " bytes of shared memory, the device allows ",
                std::to_string(device_smem_optin()));
  if (configured < smem) {
    check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)),
          "cudaFuncSetAttribute(gemv_q5 shared memory)");
    configured = smem;
  }
}

template <class Kernel, class... Args>
void launch_kernel(Kernel kernel, int grid, std::size_t smem, cudaStream_t stream, const char* what, Args... args) {
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(unsigned(grid));
  cfg.blockDim = dim3(kThreads);
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = gemv_q5_tuning().pdl ? 1 : 0;
  check(cudaLaunchKernelEx(&cfg, kernel, args...), what);
  check_launch(what);
}

template <GemvInput IN, GemvOutput OUT>
void launch(const GemvArgs& a, cudaStream_t stream) {
  auto kernel = gemv_q5_kernel<IN, OUT>;
  const bool split_k = OUT == GemvOutput::AddResidual;
  const int tiles = (a.w.rows + 15) / 16;
  const long long units = (long long)tiles * (a.w.cols / 128);
  const int grid = int(std::min<long long>(device_sms(), split_k ? units : tiles));
  const Plan p = plan_for(a, OUT, grid);
  const std::size_t smem = smem_bytes(p.nbx);
  static std::size_t configured_smem = 0;
  set_smem(kernel, smem, configured_smem, a.w.cols);
  launch_kernel(kernel, grid, smem, stream, "cudaLaunchKernelEx(gemv_q5)", a, p);
}

void launch_chain(const GemvArgs (&a)[4], GemvInput in0, int n, cudaStream_t stream) {
  auto kernel = gemv_q5_chain_kernel;
  const GemvInput ins[4] = {in0, GemvInput::RmsNorm1p, GemvInput::Plain, GemvInput::RmsNorm1p};
  const GemvOutput outs[4] = {GemvOutput::AddResidual, GemvOutput::SwiGlu, GemvOutput::AddResidual, GemvOutput::Store};
  const int grid = device_sms();  // one CTA per SM, all resident: the grid barrier relies on it
  Chain c{};
  c.n = n;
  std::size_t smem = 0;
  int widest = 0;
  for (int i = 0; i < n; ++i) {
    c.a[i] = a[i];
    c.p[i] = plan_for(a[i], outs[i], grid);
    c.in[i] = ins[i];
    c.out[i] = outs[i];
    smem = std::max(smem, smem_bytes(c.p[i].nbx));
    widest = std::max(widest, a[i].w.cols);
  }
  static std::size_t configured_smem = 0;
  set_smem(kernel, smem, configured_smem, widest);
  launch_kernel(kernel, grid, smem, stream, "cudaLaunchKernelEx(gemv_q5_chain)", c);
}

void validate(const GemvArgs& a, GemvOutput output) {
  if (a.w.cols % 128 != 0 || a.w.cols <= 0 || a.w.rows <= 0)
    throw_error(ErrorKind::InvalidArgument, "gemv_q5: matrix ", std::to_string(a.w.rows), "x",
                std::to_string(a.w.cols), " is not a positive multiple of 128 columns");
  if (a.w.row0 != 0 || a.w.stored_rows != a.w.rows)
    throw_error(ErrorKind::InvalidArgument, "gemv_q5: takes a whole stored matrix, got rows ",
                std::to_string(a.w.row0), "+", std::to_string(a.w.rows), " of ", std::to_string(a.w.stored_rows));
  if ((long long)((a.w.rows + 15) / 16) * (a.w.cols / 128) >= (1ll << 31))
    throw_error(ErrorKind::InvalidArgument, "gemv_q5: matrix ", std::to_string(a.w.rows), "x",
                std::to_string(a.w.cols), " has too many 16x128 tiles");
  if (output == GemvOutput::SwiGlu && a.w.rows % 2 != 0)
    throw_error(ErrorKind::InvalidArgument, "gemv_q5: SwiGLU needs (gate, up) row pairs, got ",
                std::to_string(a.w.rows), " rows");
  if (output == GemvOutput::AddResidual && a.in == a.out)
    throw_error(ErrorKind::InvalidArgument, "gemv_q5: the residual output must not alias the input");
}

}  // namespace

void gemv_q5(const GemvArgs& a, GemvInput input, GemvOutput output, cudaStream_t stream) {
  validate(a, output);
#define HLWQ_GEMV_CASE(I, O) \
  if (input == GemvInput::I && output == GemvOutput::O) return launch<GemvInput::I, GemvOutput::O>(a, stream);
  HLWQ_GEMV_CASE(Plain, Store)
  HLWQ_GEMV_CASE(Plain, AddResidual)
  HLWQ_GEMV_CASE(Plain, SwiGlu)
  HLWQ_GEMV_CASE(RmsNorm1p, Store)
  HLWQ_GEMV_CASE(RmsNorm1p, AddResidual)
  HLWQ_GEMV_CASE(RmsNorm1p, SwiGlu)
  HLWQ_GEMV_CASE(GatedNorm, Store)
  HLWQ_GEMV_CASE(GatedNorm, AddResidual)
  HLWQ_GEMV_CASE(GatedNorm, SwiGlu)
#undef HLWQ_GEMV_CASE
  throw_error(ErrorKind::Internal, "gemv_q5: unknown input/output mode");
}

void gemv_q5_layer_chain(const GemvLayerChain& c, cudaStream_t stream) {
  if (c.out_input == GemvInput::RmsNorm1p)
    throw_error(ErrorKind::InvalidArgument, "gemv_q5_layer_chain: out_proj takes a Plain or GatedNorm input");
  const GemvArgs a[4] = {c.out_proj, c.gate_up, c.down, c.next_in_proj ? *c.next_in_proj : GemvArgs{}};
  const int n = c.next_in_proj ? 4 : 3;
  const GemvOutput outs[4] = {GemvOutput::AddResidual, GemvOutput::SwiGlu, GemvOutput::AddResidual, GemvOutput::Store};
  for (int i = 0; i < n; ++i) validate(a[i], outs[i]);
  if (device_sms() > kMaxGrid)
    throw_error(ErrorKind::InvalidArgument, "gemv_q5_layer_chain: ", std::to_string(device_sms()), " SMs, at most ",
                std::to_string(kMaxGrid));
  launch_chain(a, c.out_input, n, stream);
}

std::size_t gemv_q5_smem_bytes(int cols) { return smem_bytes(cols / 128); }

GemvTuning& gemv_q5_tuning() {
  static GemvTuning t = tuning_from_env();
  return t;
}

int gemv_q5_trace_words() { return kTraceWords; }

}  // namespace hlwq::cuda
