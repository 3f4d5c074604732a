#include <algorithm>
#include <cmath>
#include <string>

#include "attention.h"
#include "attention_head.cuh"
#include "attention_knobs.h"
#include "attention_mma.h"
#include "core/error.h"
#include "cuda_check.h"
#include "pdl.cuh"

namespace hlwq::cuda {

KvSide kv_side_in(void* storage, int bits, int kv_heads, int capacity) {
  KvSide s;
  s.bits = bits;
  s.data = static_cast<uint8_t*>(storage);
  if (bits != 16) s.norms = reinterpret_cast<__half*>(s.data + std::size_t(kv_heads) * capacity * kv_vector_bytes(bits));
  return s;
}

namespace {

constexpr int kD = kHeadDim;
constexpr int kWarps = 4;
constexpr float kNegInf = -INFINITY;

// Per-head arithmetic shared with prefill (one copy: identical cache bytes).
using attention_head::norm_rope;
using attention_head::store_kv;
using attention_head::wht256_block;

// The three kernels are launched as programmatic dependents (attention_decode): each lets
// its successor be scheduled at entry and waits for its predecessor before reading its output.
__device__ __forceinline__ void wait_previous_kernel() { asm volatile("griddepcontrol.wait;" ::: "memory"); }
__device__ __forceinline__ void release_next_kernel() { asm volatile("griddepcontrol.launch_dependents;"); }

__global__ void __launch_bounds__(256) prep_kernel(AttentionArgs a) {
  __shared__ float buf[kD];
  __shared__ float scratch[8];
  const int t = threadIdx.x, b = blockIdx.x;
  release_next_kernel();
  wait_previous_kernel();  // proj comes from the q/k/v GEMV
  const int pos = *a.pos;
  const int kvh_count = a.cache.kv_heads;
  if (b < a.heads) {
    float q = norm_rope(a.proj[b * 2 * kD + t], a.q_norm_w, a, pos, buf, scratch);
    if (a.cache.k.bits != 16) q = wht256_block(q, buf);  // scores run in the rotated domain
    a.q_work[b * kD + t] = q * 0.0625f;                  // softmax scale 1/sqrt(256)
    return;
  }
  // K and V of a KV head in separate blocks: the two quantizations (norm, Hadamard, codes)
  // run side by side instead of one after the other.
  const bool is_v = b >= a.heads + kvh_count;
  const int kvh = b - a.heads - (is_v ? kvh_count : 0);
  const float* kp = a.proj + a.heads * 2 * kD;
  const size_t slot = size_t(kvh) * a.cache.capacity + pos;
  if (!is_v) {
    const float k = norm_rope(kp[kvh * kD + t], a.k_norm_w, a, pos, buf, scratch);
    store_kv(a.cache.k, a.k_codebook, slot, k, buf, scratch);
  } else {
    store_kv(a.cache.v, a.v_codebook, slot, kp[kvh_count * kD + kvh * kD + t], buf, scratch);
  }
}

// The 8 values of lane `lane`'s dims of one cached vector, in the cache's domain (rotated and
// divided by sqrt(256) for codes; the norm is applied by the caller).
template <int BITS>
__device__ __forceinline__ void load_vec(const KvSide& s, size_t slot, int lane, const float* tab, float (&x)[8]) {
  if constexpr (BITS == 16) {
    const uint4 raw = reinterpret_cast<const uint4*>(s.data + slot * (kD * 2))[lane];
    const __half2* h = reinterpret_cast<const __half2*>(&raw);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const float2 f = __half22float2(h[i]);
      x[2 * i] = f.x;
      x[2 * i + 1] = f.y;
    }
  } else {
    uint32_t code[8];
    kv_unpack_lane<BITS>(s.data + slot * (kD * BITS / 8), lane, code);
#pragma unroll
    for (int i = 0; i < 8; ++i) x[i] = tab[code[i]];
  }
}

// Code K (Q5/Q4/Q3/Q2): grid (KV head, split), 4 warps. The split's tokens go in sub-chunks of kSub: (1) scores
// with one thread per token (q of the G query heads in shared memory, no cross-lane sums),
// (2) block-wide softmax update shared by all threads, (3) the weighted V sum with a warp per
// token and a lane per 8 dims. The running max is block-uniform, so the warps' partial sums
// merge by plain addition at the end. (For fp16 K, whose 512-byte rows read one per thread
// are uncoalesced, this measured slower than decode_kernel_warp: 10.98 vs 10.40 ms at 32K.)
constexpr int kSub = 256;
constexpr int kThreads = kWarps * 32;
constexpr int kTok = 4;  // V tokens per warp iteration, loads issued before use

// The 8 K values of chunk c (dims 8c..8c+7) of one cached vector, as load_vec's lane c.
template <int BITS>
__device__ __forceinline__ void load_chunk(const KvSide& s, size_t slot, int c, const float* tab, float (&x)[8]) {
  load_vec<BITS>(s, slot, c, tab, x);
}

__device__ float block_reduce(float v, bool is_max, float* red) {
  for (int o = 16; o; o >>= 1) {
    const float w = __shfl_xor_sync(0xffffffffu, v, o);
    v = is_max ? fmaxf(v, w) : v + w;
  }
  __syncthreads();
  if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = v;
  __syncthreads();
  float r = red[0];
  for (int w = 1; w < kWarps; ++w) r = is_max ? fmaxf(r, red[w]) : r + red[w];
  return r;
}

template <int KB, int VB, int G>
__global__ void __launch_bounds__(kThreads) decode_kernel(AttentionArgs a) {
  __shared__ float ktab[32], vtab[32];
  __shared__ __align__(16) float qs[G][kD];
  __shared__ float sc[G][kSub];
  __shared__ float red[kWarps];
  __shared__ __align__(16) float wacc[kWarps][G][kD];
  const int kvh = blockIdx.x, split = blockIdx.y;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  if (KB != 16 && tid < (1 << (KB & 7))) ktab[tid] = a.k_codebook[tid] * 0.0625f;
  if (VB != 16 && tid < (1 << (VB & 7))) vtab[tid] = a.v_codebook[tid] * 0.0625f;
  wait_previous_kernel();
  release_next_kernel();
  for (int i = tid; i < G * kD; i += kThreads) qs[i / kD][i % kD] = a.q_work[(kvh * G) * kD + i];
  __syncthreads();

  const int len = *a.pos + 1;
  const int chunk = (len + a.max_splits - 1) / a.max_splits;
  const int begin = split * chunk, end = min(len, begin + chunk);

  float m[G], l[G], acc[G][8];
#pragma unroll
  for (int g = 0; g < G; ++g) {
    m[g] = kNegInf;
    l[g] = 0;
#pragma unroll
    for (int i = 0; i < 8; ++i) acc[g][i] = 0;
  }
  for (int sub = begin; sub < end; sub += kSub) {
    const int n = min(kSub, end - sub);
    // (1) scores, one token per thread
    for (int tl = tid; tl < n; tl += kThreads) {
      const size_t slot = size_t(kvh) * a.cache.capacity + sub + tl;
      float s[G];
#pragma unroll
      for (int g = 0; g < G; ++g) s[g] = 0;
#pragma unroll 4
      for (int c = 0; c < kD / 8; ++c) {
        float k[8];
        load_chunk<KB>(a.cache.k, slot, c, ktab, k);
#pragma unroll
        for (int g = 0; g < G; ++g) {
          const float4 q0 = *reinterpret_cast<const float4*>(&qs[g][8 * c]);
          const float4 q1 = *reinterpret_cast<const float4*>(&qs[g][8 * c + 4]);
          s[g] += q0.x * k[0] + q0.y * k[1] + q0.z * k[2] + q0.w * k[3] + q1.x * k[4] + q1.y * k[5] + q1.z * k[6] +
                  q1.w * k[7];
        }
      }
      const float kn = KB == 16 ? 1.0f : __half2float(a.cache.k.norms[slot]);
#pragma unroll
      for (int g = 0; g < G; ++g) sc[g][tl] = s[g] * kn;
    }
    __syncthreads();
    // (2) softmax update, identical in every thread
#pragma unroll
    for (int g = 0; g < G; ++g) {
      float mx = kNegInf;
      for (int tl = tid; tl < n; tl += kThreads) mx = fmaxf(mx, sc[g][tl]);
      mx = block_reduce(mx, true, red);
      const float mn = fmaxf(m[g], mx);
      const float corr = __expf(m[g] - mn);
      float ps = 0;
      for (int tl = tid; tl < n; tl += kThreads) {
        const float p = __expf(sc[g][tl] - mn);
        sc[g][tl] = p;
        ps += p;
      }
      ps = block_reduce(ps, false, red);
      m[g] = mn;
      l[g] = l[g] * corr + ps;
#pragma unroll
      for (int i = 0; i < 8; ++i) acc[g][i] *= corr;
    }
    __syncthreads();
    // (3) weighted V sum, a warp per token, lane = dims 8*lane..8*lane+7
    for (int t0 = warp * kTok; t0 < n; t0 += kWarps * kTok) {
      float v[kTok][8], vn[kTok];
#pragma unroll
      for (int u = 0; u < kTok; ++u) {
        const size_t slot = size_t(kvh) * a.cache.capacity + sub + min(t0 + u, n - 1);
        load_vec<VB>(a.cache.v, slot, lane, vtab, v[u]);
        vn[u] = t0 + u < n ? (VB == 16 ? 1.0f : __half2float(a.cache.v.norms[slot])) : 0.0f;
      }
#pragma unroll
      for (int u = 0; u < kTok; ++u) {
#pragma unroll
        for (int g = 0; g < G; ++g) {
          const float pv = sc[g][min(t0 + u, n - 1)] * vn[u];
#pragma unroll
          for (int i = 0; i < 8; ++i) acc[g][i] = fmaf(pv, v[u][i], acc[g][i]);
        }
      }
    }
    __syncthreads();  // sc is rewritten by the next sub-chunk
  }
#pragma unroll
  for (int g = 0; g < G; ++g)
#pragma unroll
    for (int i = 0; i < 8; ++i) wacc[warp][g][lane * 8 + i] = acc[g][i];
  __syncthreads();
  const int stride = kAttentionPartialStride;
  for (int g = 0; g < G; ++g) {
    float* out = a.partials + (size_t(kvh * G + g) * a.max_splits + split) * stride;
    for (int d = tid; d < kD; d += kThreads) out[2 + d] = wacc[0][g][d] + wacc[1][g][d] + wacc[2][g][d] + wacc[3][g][d];
    if (tid == 0) {
      out[0] = m[g];  // -inf for an empty split: the combine skips it
      out[1] = l[g];
    }
  }
}

// fp16 K: a warp per token (lane = 8 dims, coalesced 512-byte rows), reduced with shuffles.
// Grid (KV head, split); each warp walks its split kTok consecutive tokens at a time, all of
// their loads issued before any is used (one token at a time left the warp waiting on DRAM
// latency per token). G query heads share each K/V load (GQA).

template <int KB, int VB, int G>
__global__ void __launch_bounds__(kWarps * 32) decode_kernel_warp(AttentionArgs a) {
  __shared__ float ktab[32], vtab[32];
  __shared__ float wm[kWarps][G], wl[kWarps][G];
  __shared__ float wacc[kWarps][G][kD];
  const int kvh = blockIdx.x, split = blockIdx.y;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  if (KB != 16 && threadIdx.x < (1 << (KB & 7))) ktab[threadIdx.x] = a.k_codebook[threadIdx.x] * 0.0625f;
  if (VB != 16 && threadIdx.x < (1 << (VB & 7))) vtab[threadIdx.x] = a.v_codebook[threadIdx.x] * 0.0625f;
  wait_previous_kernel();
  release_next_kernel();
  __syncthreads();

  const int len = *a.pos + 1;
  const int chunk = (len + a.max_splits - 1) / a.max_splits;
  const int begin = split * chunk, end = min(len, begin + chunk);

  float q[G][8], acc[G][8], m[G], l[G];
#pragma unroll
  for (int g = 0; g < G; ++g) {
    m[g] = kNegInf;
    l[g] = 0;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      q[g][i] = a.q_work[(kvh * G + g) * kD + lane * 8 + i];
      acc[g][i] = 0;
    }
  }
  for (int t0 = begin + warp * kTok; t0 < end; t0 += kWarps * kTok) {
    float k[kTok][8], v[kTok][8], kn[kTok], vn[kTok];
#pragma unroll
    for (int u = 0; u < kTok; ++u) {
      const size_t slot = size_t(kvh) * a.cache.capacity + min(t0 + u, end - 1);
      load_vec<KB>(a.cache.k, slot, lane, ktab, k[u]);
      load_vec<VB>(a.cache.v, slot, lane, vtab, v[u]);
      kn[u] = KB == 16 ? 1.0f : __half2float(a.cache.k.norms[slot]);
      vn[u] = VB == 16 ? 1.0f : __half2float(a.cache.v.norms[slot]);
    }
#pragma unroll
    for (int g = 0; g < G; ++g) {
      float s[kTok];
#pragma unroll
      for (int u = 0; u < kTok; ++u) {
        float d = 0;
#pragma unroll
        for (int i = 0; i < 8; ++i) d = fmaf(q[g][i], k[u][i], d);
        s[u] = d;
      }
#pragma unroll
      for (int o = 16; o; o >>= 1)
#pragma unroll
        for (int u = 0; u < kTok; ++u) s[u] += __shfl_xor_sync(0xffffffffu, s[u], o);
      float mx = kNegInf;
#pragma unroll
      for (int u = 0; u < kTok; ++u) {
        s[u] = t0 + u < end ? s[u] * kn[u] : kNegInf;
        mx = fmaxf(mx, s[u]);
      }
      const float mn = fmaxf(m[g], mx);  // finite: token t0 is always in range
      const float corr = __expf(m[g] - mn);
      m[g] = mn;
      float ps = 0;
#pragma unroll
      for (int i = 0; i < 8; ++i) acc[g][i] *= corr;
#pragma unroll
      for (int u = 0; u < kTok; ++u) {
        const float p = __expf(s[u] - mn);
        ps += p;
        const float pv = p * vn[u];
#pragma unroll
        for (int i = 0; i < 8; ++i) acc[g][i] = fmaf(pv, v[u][i], acc[g][i]);
      }
      l[g] = l[g] * corr + ps;
    }
  }
#pragma unroll
  for (int g = 0; g < G; ++g) {
    if (lane == 0) {
      wm[warp][g] = m[g];
      wl[warp][g] = l[g];
    }
#pragma unroll
    for (int i = 0; i < 8; ++i) wacc[warp][g][lane * 8 + i] = acc[g][i];
  }
  __syncthreads();
  const int stride = kAttentionPartialStride;
  for (int g = 0; g < G; ++g) {
    float M = kNegInf;
    for (int w = 0; w < kWarps; ++w) M = fmaxf(M, wm[w][g]);
    float* out = a.partials + (size_t(kvh * G + g) * a.max_splits + split) * stride;
    for (int d = threadIdx.x; d < kD; d += blockDim.x) {
      float s = 0;
      if (M != kNegInf)
        for (int w = 0; w < kWarps; ++w) s += wacc[w][g][d] * __expf(wm[w][g] - M);
      out[2 + d] = s;
    }
    if (threadIdx.x == 0) {
      float L = 0;
      if (M != kNegInf)
        for (int w = 0; w < kWarps; ++w) L += wl[w][g] * __expf(wm[w][g] - M);
      out[0] = M;
      out[1] = L;
    }
  }
}

// One block per query head. Each split's (m, l) is read once, by one thread, and its weight
// exp(m_s - M) shared; then warp w sums splits w, w+8, ... with a lane per 8 dims (four 8-byte
// loads per split, independent and unconditional), and the 8 warps' sums meet in shared
// memory. Only splits up to the last non-empty one are summed: the empty ones (m = -inf) are
// the trailing splits of a history shorter than the grid covers, and the tensor-core kernel
// writes only their (m, l), not their acc. (A thread per dim
// walking all splits serially, with a branch and an exp per split, was latency-bound: 0.3-0.4
// ms of a 32K token on the H200.)
__global__ void __launch_bounds__(256) combine_kernel(AttentionArgs a, int skip_empty) {
  __shared__ float buf[kD];
  __shared__ float w[256];
  __shared__ float red[8];
  __shared__ float part[8][kD];
  const int h = blockIdx.x, t = threadIdx.x, warp = t >> 5, lane = t & 31;
  release_next_kernel();
  wait_previous_kernel();
  const float gate = a.proj[h * 2 * kD + kD + t];
  const int stride = kAttentionPartialStride;
  const int S = a.max_splits;
  const float* p = a.partials + size_t(h) * S * stride;
  // (m, l) of split t, kept for the first chunk of 256 splits; m of the others for the maximum.
  const float2 first = t < S ? *reinterpret_cast<const float2*>(p + t * stride) : make_float2(kNegInf, 0.0f);
  __shared__ int redi[8];
  float M = first.x;
  int last = first.x == kNegInf ? -1 : t;  // the last non-empty split
  for (int s = t + 256; s < S; s += 256) {
    const float m = p[s * stride];
    M = fmaxf(M, m);
    last = m == kNegInf ? last : s;
  }
  for (int o = 16; o; o >>= 1) {
    M = fmaxf(M, __shfl_xor_sync(0xffffffffu, M, o));
    last = max(last, __shfl_xor_sync(0xffffffffu, last, o));
  }
  if (lane == 0) {
    red[warp] = M;
    redi[warp] = last;
  }
  __syncthreads();
  M = red[0];
  last = redi[0];
  for (int i = 1; i < 8; ++i) {
    M = fmaxf(M, red[i]);
    last = max(last, redi[i]);
  }
  const int used = skip_empty ? last + 1 : S;
  float lp = 0;
  float acc8[8] = {0, 0, 0, 0, 0, 0, 0, 0};  // dims 8 lane .. 8 lane + 7
  for (int s0 = 0; s0 < used; s0 += 256) {
    const int n = min(256, used - s0);
    const float2 ml = s0 == 0 ? first
                      : t < n ? *reinterpret_cast<const float2*>(p + (s0 + t) * stride)
                              : make_float2(kNegInf, 0.0f);
    const float ws = ml.x == kNegInf ? 0.0f : __expf(ml.x - M);  // empty split: weight 0
    lp += ws * ml.y;
    __syncthreads();  // red (above) and w of the previous chunk are consumed
    w[t] = ws;
    __syncthreads();
#pragma unroll 4
    for (int i = warp; i < n; i += 8) {
      const float ws_i = w[i];
      // acc starts at float 2 of the split's row: 8-byte aligned (the stride is even)
      const float2* v = reinterpret_cast<const float2*>(p + (s0 + i) * stride + 2) + 4 * lane;
#pragma unroll
      for (int k = 0; k < 4; ++k) {
        const float2 x = v[k];
        acc8[2 * k] = fmaf(x.x, ws_i, acc8[2 * k]);
        acc8[2 * k + 1] = fmaf(x.y, ws_i, acc8[2 * k + 1]);
      }
    }
  }
#pragma unroll
  for (int k = 0; k < 8; ++k) part[warp][8 * lane + k] = acc8[k];
  const float L = attention_head::block_sum256(lp, red);  // its barriers also publish part
  float acc = 0;
  for (int i = 0; i < 8; ++i) acc += part[i][t];
  float o = acc / L;
  if (a.cache.v.bits != 16) o = wht256_block(o, buf);  // back from the rotated domain
  a.out[h * kD + t] = o / (1.0f + __expf(-gate));
}

using DecodeKernel = void (*)(AttentionArgs);

template <class... P>
void launch(void (*k)(P...), bool pdl, dim3 grid, int threads, cudaStream_t stream, const char* what, P... args) {
  launch_maybe_pdl(pdl, what, k, grid, dim3(unsigned(threads)), 0, stream,
                   args...);
}

template <int KB, int G>
DecodeKernel pick_v(int vb, bool thread_scores) {
  switch (vb) {
    case 16: return KB == 16 || !thread_scores ? decode_kernel_warp<KB, 16, G> : decode_kernel<KB, 16, G>;
    case 5: return KB == 16 || !thread_scores ? decode_kernel_warp<KB, 5, G> : decode_kernel<KB, 5, G>;
    case 4: return KB == 16 || !thread_scores ? decode_kernel_warp<KB, 4, G> : decode_kernel<KB, 4, G>;
    case 3: return KB == 16 || !thread_scores ? decode_kernel_warp<KB, 3, G> : decode_kernel<KB, 3, G>;
    case 2: return KB == 16 || !thread_scores ? decode_kernel_warp<KB, 2, G> : decode_kernel<KB, 2, G>;
  }
  return nullptr;
}

template <int G>
DecodeKernel pick_k(int kb, int vb, bool ts) {
  switch (kb) {
    case 16: return pick_v<16, G>(vb, ts);
    case 5: return pick_v<5, G>(vb, ts);
    case 4: return pick_v<4, G>(vb, ts);
    case 3: return pick_v<3, G>(vb, ts);
    case 2: return pick_v<2, G>(vb, ts);
  }
  return nullptr;
}

// Query heads per KV head: 6 for the 27B, 4 for every other Qwen3.5 size.
DecodeKernel pick(int kb, int vb, int group, bool thread_scores) {
  if (group == 6) return pick_k<6>(kb, vb, thread_scores);
  if (group == 4) return pick_k<4>(kb, vb, thread_scores);
  return nullptr;
}

}  // namespace

std::size_t attention_partials_floats(int heads, int max_splits) {
  return std::size_t(heads) * max_splits * kAttentionPartialStride;
}

int attention_default_splits(int capacity, int kv_heads) {
  // Enough blocks to cover every SM twice at long context, without thousands of empty ones.
  int splits = (capacity + 255) / 256;
  const int target = 512 / std::max(1, kv_heads);
  return std::max(1, std::min(splits, target));
}

void attention_decode(const AttentionArgs& a, cudaStream_t stream) {
  const int kvh = a.cache.kv_heads;
  if (kvh <= 0 || a.heads % kvh != 0 || (a.heads / kvh != 4 && a.heads / kvh != 6))
    throw_error(ErrorKind::InvalidArgument, "attention_decode: ", std::to_string(a.heads), " query heads over ",
                std::to_string(kvh), " KV heads (supported: 4 or 6 per KV head, as in every Qwen3.5 size)");
  if (a.rotary_dim % 2 != 0 || a.rotary_dim > kD || a.max_splits <= 0)
    throw_error(ErrorKind::InvalidArgument, "attention_decode: bad rotary_dim ", std::to_string(a.rotary_dim),
                " or max_splits ", std::to_string(a.max_splits));
  const DecodeKernel decode = pick(a.cache.k.bits, a.cache.v.bits, a.heads / kvh, a.long_context);
  if (!decode)
    throw_error(ErrorKind::InvalidArgument, "attention_decode: KV bits k=", std::to_string(a.cache.k.bits),
                " v=", std::to_string(a.cache.v.bits), " (supported: 16, 5, 4, 3, 2)");
  using namespace attention_knobs;
  const int pdl = pdl_mask(a.long_context);
  launch(prep_kernel, (pdl & kPdlPrep) != 0, dim3(a.heads + 2 * kvh), 256, stream, "attention prep", a);
  // Long histories: the tensor-core split kernel where it covers the widths (not Q5).
  if (a.long_context && use_mma() && attention_mma_supports(a.cache.k.bits, a.cache.v.bits, a.heads / kvh))
    attention_mma_split(a, (pdl & kPdlSplit) != 0, stream);
  else
    launch(decode, (pdl & kPdlSplit) != 0, dim3(kvh, a.max_splits), kWarps * 32, stream, "attention decode", a);
  launch(combine_kernel, (pdl & kPdlCombine) != 0, dim3(a.heads), 256, stream, "attention combine", a, int(skip_empty()));
}

}  // namespace hlwq::cuda
