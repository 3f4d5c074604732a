#include "gemv_q5.h"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "core/error.h"
#include "cuda_check.h"
#include "hadamard.cuh"
#include "pdl.cuh"
#include "q5_pair_table.cuh"

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
// Dynamic shared memory: [pair table][accumulators][block_sum scratch][activations].
constexpr int kXsOffset = kTableBytes + kMaxSlots * 16 * 4 + kWarps * 4;

// How the (16-row tile, 128-block) work units are spread. Units are ordered by K slice, then
// tile, then block inside the slice; each CTA takes a contiguous range of them. Stores and
// SwiGLU need a tile's whole sum in one CTA (one slice, ranges on tile boundaries); the
// residual epilogue adds with atomics, so its ranges split anywhere and K is cut into slices
// that keep each CTA's activations (and its prologue) short.
struct Plan {
  int tiles = 0, nb = 0, sb = 0, slices = 0, units = 0;
  int aligned = 1;
  int nbx = 0;  // most blocks of activations one CTA holds
  unsigned long long* trace = nullptr;  // traced kernels only: per-CTA stamps (gemv_q5_tuning().trace)
};

constexpr int kTraceWords = 24;  // per CTA: entry, table, wait, prologue, loop, exit, SM id, -, 16 warps

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

// Rotated input of blocks [b0, b1) as fp16 scaled per block by a power of two (so any
// activation range fits fp16 with full relative precision); the scale goes in each run's pad.
// Each warp loads two blocks before working on them (their L2 latencies overlap). When the
// CTA holds the whole input, RMSNorm's 1/rms is found in the same pass and folded into the
// block scales afterwards (the rotation is linear); otherwise a first pass finds it.
template <GemvInput IN>
__device__ void prologue(const GemvArgs& a, unsigned char* xs, float* scratch, int b0, int b1) {
  const int cols = a.w.cols;
  const bool fused_rms = IN == GemvInput::RmsNorm1p && b0 == 0 && b1 * 128 == cols;
  float scale = 1.0f, ss = 0.0f;
  if (IN == GemvInput::RmsNorm1p && !fused_rms) {
    for (int c = threadIdx.x * 4; c < cols; c += kThreads * 4) {
      const float4 v = *reinterpret_cast<const float4*>(a.in + c);
      ss += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
    }
    scale = rsqrtf(block_sum(ss, scratch) / cols + a.eps);
  }
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  float4 gw = make_float4(0, 0, 0, 0);
  if constexpr (IN == GemvInput::GatedNorm) gw = *reinterpret_cast<const float4*>(a.norm_w + lane * 4);
  for (int first = b0 + warp; first < b1; first += 2 * kWarps) {
    float4 in4[2], w4[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int c = (first + h * kWarps) * 128 + lane * 4;
      if (first + h * kWarps >= b1) break;
      in4[h] = *reinterpret_cast<const float4*>(a.in + c);
      if constexpr (IN == GemvInput::RmsNorm1p) w4[h] = *reinterpret_cast<const float4*>(a.norm_w + c);
      if constexpr (IN == GemvInput::GatedNorm) w4[h] = *reinterpret_cast<const float4*>(a.gate + c);
    }
#pragma unroll
    for (int h = 0; h < 2; ++h) {
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
// Thread i writes 16-byte chunks i, i + 512, ...: consecutive lanes, consecutive banks.
__device__ void build_table(uint32_t* table, const float* codebook) {
  const int i = threadIdx.x;
  const float s = 0.08838834764831845f;
  const float lo = codebook[(i >> 3) & 31] * s;
#pragma unroll 4
  for (int k = 0; k < kTableBytes / 16 / kThreads; ++k) {
    const __half2 h = __floats2half2_rn(lo, codebook[(i >> 8) + 2 * k] * s);
    const uint32_t v = *reinterpret_cast<const uint32_t*>(&h);
    reinterpret_cast<uint4*>(table)[i + k * kThreads] = make_uint4(v, v, v, v);
  }
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

__device__ __forceinline__ void step(Walk& k, const Plan& p, int rows, int blk0, int g, int t) {
  --k.left;
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
  if (k.left > 0) seat(k, p, rows, blk0, g, t);
}

// One lane's share of one unit: run t of rows g and g+8 of the tile-block, their norms,
// where its activations are, and the accumulator slot to flush to after it (or -1).
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
  d.flush = k.bi == p.sb - 1 || k.left == 1 ? k.st - rs0 : -1;
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
  const uint32_t a0 = lut(q5_pair_offset<2 * S>(d.n0, d.h0, lane4));
  const uint32_t a1 = lut(q5_pair_offset<2 * S>(d.n1, d.h1, lane4));
  const uint32_t a2 = lut(q5_pair_offset<2 * S + 1>(d.n0, d.h0, lane4));
  const uint32_t a3 = lut(q5_pair_offset<2 * S + 1>(d.n1, d.h1, lane4));
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

// Units of weights in flight per lane while one is computed (registers: 11 per unit).
constexpr int kDepth = 4;

template <GemvInput IN, GemvOutput OUT, bool kTrace>
__global__ void __launch_bounds__(kThreads, 1) gemv_q5_kernel(GemvArgs a, Plan p) {
  unsigned char* smem = hlwq_gemv_smem;
  uint32_t smem_addr;
  asm("mov.u32 %0, hlwq_gemv_smem;" : "=r"(smem_addr));
  if (smem_addr != kSmemBase) __trap();  // the lookups' immediate base would be wrong
  // Let a programmatic dependent (the next GEMV) be scheduled now: its CTAs take each SM as
  // ours leave it and build their table and fetch their first weights during our tail; its
  // griddepcontrol.wait still waits for all of this grid's writes.
  asm volatile("griddepcontrol.launch_dependents;");
  stamp<kTrace>(p, 0, threadIdx.x == 0);
  float* acc = reinterpret_cast<float*>(smem + kTableBytes);
  float* scratch = acc + kMaxSlots * 16;
  unsigned char* xs = smem + kXsOffset;

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const uint32_t lane4 = uint32_t(lane) * 4;
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
  int rs0 = st_lo, rs1 = min(st_hi + 1, st_lo + kMaxSlots);
  for (;;) {  // rounds of at most kMaxSlots tile slices
    // This warp's contiguous share of the round's units.
    const int ru0 = max(u0, rs0 * p.sb), ru1 = min(u1, rs1 * p.sb), len = ru1 - ru0;
    const int wu0 = ru0 + int((long long)len * warp / kWarps), wu1 = ru0 + int((long long)len * (warp + 1) / kWarps);
    Walk lw = walk_from(p, wu0, wu1, rows, blk0, g, t);
    // The first units' weights do not depend on the previous kernel: they are requested
    // before the table build and the prologue so their latency overlaps both.
    Unit buf[kDepth];
#pragma unroll
    for (int i = 0; i < kDepth; ++i) {
      buf[i] = load_unit(a, p, lw, rs0, t);
      step(lw, p, rows, blk0, g, t);
    }
    if (rs0 == st_lo) {
      build_table(reinterpret_cast<uint32_t*>(smem), a.codebook);
      for (int i = threadIdx.x; i < kMaxSlots * 16; i += kThreads) acc[i] = 0.0f;
      stamp<kTrace>(p, 1, threadIdx.x == 0);
      // Launched as a programmatic dependent, everything above overlaps the previous kernel;
      // from here on its outputs (our input, the residual) are read. A no-op otherwise.
      asm volatile("griddepcontrol.wait;" ::: "memory");
      stamp<kTrace>(p, 2, threadIdx.x == 0);
      prologue<IN>(a, xs, scratch, blk0, blk1);
    }
    __syncthreads();
    stamp<kTrace>(p, 3, threadIdx.x == 0);

    float acc0 = 0.0f, acc1 = 0.0f;
    for (int n = wu1 - wu0; n > 0; n -= kDepth) {
#pragma unroll
      for (int i = 0; i < kDepth; ++i) {
        if (i >= n) break;
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
        step(lw, p, rows, blk0, g, t);
      }
    }
    stamp<kTrace>(p, 8 + warp, lane == 0);
    __syncthreads();
    stamp<kTrace>(p, 4, threadIdx.x == 0);
    for (int i = threadIdx.x; i < (rs1 - rs0) * 16; i += kThreads) {
      const int st = rs0 + i / 16, r = i % 16;
      const int row = (st % p.tiles) * 16 + r;
      if (row >= rows) {
        acc[i] = 0.0f;
        continue;
      }
      const float v = acc[i];
      if constexpr (OUT == GemvOutput::SwiGlu) {
        if (r % 2 == 0) {  // rows come as (gate, up) pairs inside a tile
          a.out[row / 2] = silu(v) * acc[i + 1];
          acc[i] = acc[i + 1] = 0.0f;
        }
      } else {
        if constexpr (OUT == GemvOutput::AddResidual) {
          if (p.aligned) a.out[row] += v;
          else atomicAdd(a.out + row, v);
        } else {
          a.out[row] = v;
        }
        acc[i] = 0.0f;
      }
    }
    stamp<kTrace>(p, 5, threadIdx.x == 0);
    if (rs1 > st_hi) break;
    __syncthreads();
    rs0 = rs1;
    rs1 = min(st_hi + 1, rs0 + kMaxSlots);
  }
}

std::size_t smem_bytes(int nbx) {
  return std::size_t(kXsOffset) + std::size_t(nbx) * kBlockXBytes;
}

Plan make_plan(const QMatrix& w, bool split_k, int grid) {
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
  p.aligned = split_k ? 0 : 1;
  if (p.aligned) {
    p.nbx = p.nb;
  } else {  // a CTA's units span at most this many tile slices, so this many K slices
    const int per_cta = (p.units + grid - 1) / grid;
    const int spans = per_cta / p.sb + 2;
    p.nbx = std::min(p.nb, (spans / p.tiles + 2) * p.sb);
  }
  return p;
}

// Programmatic dependent launch lets the table build and the first weight loads run while
// the previous kernel drains; HLWQ_GEMV_PDL=0 turns it off for A/B timing.
GemvTuning tuning_from_env() {
  GemvTuning t;
  const char* e = std::getenv("HLWQ_GEMV_PDL");
  t.pdl = !(e && std::string(e) == "0");
  return t;
}

template <GemvInput IN, GemvOutput OUT, bool kTrace>
void launch(const GemvArgs& a, cudaStream_t stream) {
  auto kernel = gemv_q5_kernel<IN, OUT, kTrace>;
  const bool split_k = OUT == GemvOutput::AddResidual;
  const int tiles = (a.w.rows + 15) / 16;
  const long long units = (long long)tiles * (a.w.cols / 128);
  const int grid = int(std::min<long long>(device_sms(), split_k ? units : tiles));
  GemvTuning& tune = gemv_q5_tuning();
  Plan p = make_plan(a.w, split_k, grid);
  if (kTrace) p.trace = tune.trace + std::size_t(tune.trace_next++) * tune.trace_ctas * kTraceWords;
  const std::size_t smem = smem_bytes(p.nbx);
  if (smem > std::size_t(device_smem_optin()))
    throw_error(ErrorKind::InvalidArgument, "gemv_q5: ", std::to_string(a.w.cols), " input columns need ",
                std::to_string(smem), " bytes of shared memory, the device allows ",
                std::to_string(device_smem_optin()));
  static std::size_t configured_smem = 0;
  if (configured_smem < smem) {  // opt in to more than 48 KiB once per instantiation and size
    check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)),
          "cudaFuncSetAttribute(gemv_q5 shared memory)");
    configured_smem = smem;
  }
  launch_maybe_pdl(tune.pdl, "gemv_q5", kernel, dim3(unsigned(grid)), dim3(kThreads), smem, stream, a, p);
}

}  // namespace

void gemv_q5(const GemvArgs& a, GemvInput input, GemvOutput output, cudaStream_t stream) {
  if (a.w.bits != 5)
    throw_error(ErrorKind::InvalidArgument, "gemv_q5: takes 5-bit codes, got ", std::to_string(a.w.bits), "-bit");
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
  const GemvTuning& tune = gemv_q5_tuning();
  const bool traced = tune.trace && tune.trace_next < tune.trace_launches;
#define HLWQ_GEMV_CASE(I, O)                                                                   \
  if (input == GemvInput::I && output == GemvOutput::O)                                        \
    return traced ? launch<GemvInput::I, GemvOutput::O, true>(a, stream)                        \
                  : launch<GemvInput::I, GemvOutput::O, false>(a, stream);
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

std::size_t gemv_q5_smem_bytes(int cols) { return smem_bytes(cols / 128); }

GemvTuning& gemv_q5_tuning() {
  static GemvTuning t = tuning_from_env();
  return t;
}

int gemv_q5_trace_words() { return kTraceWords; }

}  // namespace hlwq::cuda
