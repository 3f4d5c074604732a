#include <cmath>
#include <string>

#include "attention_head.cuh"
#include "attention_prefill.h"
#include "core/error.h"
#include "cuda_check.h"

namespace hlwq::cuda {
namespace {

constexpr int kD = kHeadDim;
constexpr int kWarps = 8;  // query rows (tokens) per block, one per warp
constexpr int kTok = 4;    // keys per warp iteration, loads issued before use
constexpr float kNegInf = -INFINITY;

// Per-head arithmetic shared with decode (one copy: identical cache bytes).
using attention_head::norm_rope;
using attention_head::store_kv;
using attention_head::wht256_block;

// Grid (row, heads + kv_heads): query heads to q_work, KV heads into the cache.
__global__ void __launch_bounds__(256) prep_kernel(AttentionPrefillArgs a) {
  __shared__ float buf[kD];
  __shared__ float scratch[8];
  const int t = threadIdx.x, row = blockIdx.x, b = blockIdx.y;
  const int pos = a.pos + row;
  const float* pr = a.proj + size_t(row) * a.proj_stride;
  if (b < a.heads) {
    float q = norm_rope(pr[b * 2 * kD + t], a.q_norm_w, a, pos, buf, scratch);
    if (a.cache.k.bits != 16) q = wht256_block(q, buf);  // scores run in the rotated domain
    a.q_work[(size_t(row) * a.heads + b) * kD + t] = q * 0.0625f;  // softmax scale 1/sqrt(256)
    return;
  }
  const int kvh = b - a.heads;
  const float* kp = pr + a.heads * 2 * kD;
  const float k = norm_rope(kp[kvh * kD + t], a.k_norm_w, a, pos, buf, scratch);
  const float v = kp[a.cache.kv_heads * kD + kvh * kD + t];
  const size_t slot = size_t(kvh) * a.cache.capacity + pos;
  store_kv(a.cache.k, a.k_codebook, slot, k, buf, scratch);
  store_kv(a.cache.v, a.v_codebook, slot, v, buf, scratch);
}

// --- causal attention: warp per query row (token) with its G query heads ---

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

// Normalised H_256 of a vector spread over a warp as 8 consecutive values per lane.
__device__ __forceinline__ void wht256_warp(float (&v)[8]) {
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int s = 1; s < 8; s <<= 1)
#pragma unroll
    for (int i = 0; i < 8; ++i)
      if (!(i & s)) {
        const float x = v[i], y = v[i + s];
        v[i] = x + y;
        v[i + s] = x - y;
      }
#pragma unroll
  for (int m = 1; m < 32; m <<= 1) {
    const bool upper = lane & m;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const float o = __shfl_xor_sync(0xffffffffu, v[i], m);
      v[i] = upper ? (o - v[i]) : (v[i] + o);
    }
  }
#pragma unroll
  for (int i = 0; i < 8; ++i) v[i] *= 0.0625f;
}

// Grid (KV head, row tile of kWarps rows). Rows of one block share keys, so the cache lines
// the warps walk over stay in L1/L2 for their neighbours.
template <int KB, int VB, int G>
__global__ void __launch_bounds__(kWarps * 32) causal_kernel(AttentionPrefillArgs a) {
  __shared__ float ktab[32], vtab[32];
  const int kvh = blockIdx.x;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  if (KB != 16 && threadIdx.x < (1 << (KB & 7))) ktab[threadIdx.x] = a.k_codebook[threadIdx.x] * 0.0625f;
  if (VB != 16 && threadIdx.x < (1 << (VB & 7))) vtab[threadIdx.x] = a.v_codebook[threadIdx.x] * 0.0625f;
  __syncthreads();
  const int row = blockIdx.y * kWarps + warp;
  if (row >= a.T) return;
  const int len = a.pos + row + 1;

  float q[G][8], acc[G][8], m[G], l[G];
#pragma unroll
  for (int g = 0; g < G; ++g) {
    m[g] = kNegInf;
    l[g] = 0;
    const float* qp = a.q_work + (size_t(row) * a.heads + kvh * G + g) * kD + lane * 8;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      q[g][i] = qp[i];
      acc[g][i] = 0;
    }
  }
  const size_t base = size_t(kvh) * a.cache.capacity;
  for (int t0 = 0; t0 < len; t0 += kTok) {
    float k[kTok][8], v[kTok][8], kn[kTok], vn[kTok];
#pragma unroll
    for (int u = 0; u < kTok; ++u) {
      const size_t slot = base + min(t0 + u, len - 1);
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
        s[u] = t0 + u < len ? s[u] * kn[u] : kNegInf;
        mx = fmaxf(mx, s[u]);
      }
      const float mn = fmaxf(m[g], mx);  // finite: key t0 is always in range
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
  const float* pr = a.proj + size_t(row) * a.proj_stride;
#pragma unroll
  for (int g = 0; g < G; ++g) {
    const int h = kvh * G + g;
    float o[8];
#pragma unroll
    for (int i = 0; i < 8; ++i) o[i] = acc[g][i] / l[g];
    if (VB != 16) wht256_warp(o);  // back from the rotated domain
    float* dst = a.out + size_t(row) * a.heads * kD + h * kD + lane * 8;
    const float* gate = pr + h * 2 * kD + kD + lane * 8;
#pragma unroll
    for (int i = 0; i < 8; ++i) dst[i] = o[i] / (1.0f + __expf(-gate[i]));
  }
}

using CausalKernel = void (*)(AttentionPrefillArgs);

template <int KB, int G>
CausalKernel pick_v(int vb) {
  switch (vb) {
    case 16: return causal_kernel<KB, 16, G>;
    case 5: return causal_kernel<KB, 5, G>;
    case 4: return causal_kernel<KB, 4, G>;
    case 3: return causal_kernel<KB, 3, G>;
    case 2: return causal_kernel<KB, 2, G>;
  }
  return nullptr;
}

template <int G>
CausalKernel pick_k(int kb, int vb) {
  switch (kb) {
    case 16: return pick_v<16, G>(vb);
    case 5: return pick_v<5, G>(vb);
    case 4: return pick_v<4, G>(vb);
    case 3: return pick_v<3, G>(vb);
    case 2: return pick_v<2, G>(vb);
  }
  return nullptr;
}

// Query heads per KV head: 6 for the 27B, 4 for every other Qwen3.5 size.
CausalKernel pick(int kb, int vb, int group) {
  if (group == 6) return pick_k<6>(kb, vb);
  if (group == 4) return pick_k<4>(kb, vb);
  return nullptr;
}

bool bits_ok(int b) { return b == 16 || b == 5 || b == 4 || b == 3 || b == 2; }

}  // namespace

bool attention_prefill_supports(int k_bits, int v_bits) { return bits_ok(k_bits) && bits_ok(v_bits); }

void attention_prefill(const AttentionPrefillArgs& a, cudaStream_t stream) {
  const int kvh = a.cache.kv_heads;
  if (kvh <= 0 || a.heads % kvh != 0 || (a.heads / kvh != 4 && a.heads / kvh != 6))
    throw_error(ErrorKind::InvalidArgument, "attention_prefill: ", std::to_string(a.heads), " query heads over ",
                std::to_string(kvh), " KV heads (supported: 4 or 6 per KV head, as in every Qwen3.5 size)");
  if (a.rotary_dim % 2 != 0 || a.rotary_dim > kD || a.T <= 0 || a.pos < 0 || a.pos + a.T > a.cache.capacity ||
      a.proj_stride < a.heads * 2 * kD + 2 * kvh * kD)
    throw_error(ErrorKind::InvalidArgument, "attention_prefill: rotary_dim ", std::to_string(a.rotary_dim), ", rows ",
                std::to_string(a.T), " at position ", std::to_string(a.pos), " in a cache of ",
                std::to_string(a.cache.capacity), ", proj stride ", std::to_string(a.proj_stride));
  const CausalKernel causal = pick(a.cache.k.bits, a.cache.v.bits, a.heads / kvh);
  if (!causal)
    throw_error(ErrorKind::InvalidArgument, "attention_prefill: KV bits k=", std::to_string(a.cache.k.bits), " v=",
                std::to_string(a.cache.v.bits), " (supported: 16, 5, 4, 3, 2)");
  prep_kernel<<<dim3(a.T, a.heads + kvh), 256, 0, stream>>>(a);
  check_launch("attention_prefill prep");
  causal<<<dim3(kvh, (a.T + kWarps - 1) / kWarps), kWarps * 32, 0, stream>>>(a);
  check_launch("attention_prefill causal");
}

}  // namespace hlwq::cuda
