#pragma once
// The per-head arithmetic that decode (attention.cu) and prefill (attention_prefill.cu) share:
// q/k RMSNorm(1+w) + partial RoPE, the normalised 256-point Hadamard, and the write of one K
// or V vector into the cache. One copy on purpose: a prompt written by prefill and the same
// tokens written by decode must leave identical cache bytes (test_attention_prefill checks it),
// so both must run exactly these operations in this order. One value per thread, blockDim.x == 256.
#include <cuda_fp16.h>

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "kv_cache.h"

namespace hlwq::cuda::attention_head {

constexpr int kD = kHeadDim;

// Normalised H_256: stage s pairs thread t with t ^ s, and t takes (partner - own) when bit s
// of t is set, (own + partner) otherwise. Strides below 32 stay in the warp (shuffles); the
// last three (32, 64, 128) need one exchange through shared memory, after which each thread
// replays those stages on the 8 values of its group {t & 31 | 32 i} with the same operations,
// so the result is bit-identical to a stage-by-stage shared-memory butterfly (2 barriers, not 16).
__device__ inline float wht256_block(float v, float* buf) {
  const int t = threadIdx.x;
#pragma unroll
  for (int s = 1; s < 32; s <<= 1) {
    const float o = __shfl_xor_sync(0xffffffffu, v, s);
    v = (t & s) ? (o - v) : (v + o);
  }
  buf[t] = v;
  __syncthreads();
  float x[8];
#pragma unroll
  for (int i = 0; i < 8; ++i) x[i] = buf[(t & 31) | (i << 5)];
#pragma unroll
  for (int s = 1; s < 8; s <<= 1) {
    float y[8];
#pragma unroll
    for (int i = 0; i < 8; ++i) y[i] = (i & s) ? (x[i ^ s] - x[i]) : (x[i] + x[i ^ s]);
#pragma unroll
    for (int i = 0; i < 8; ++i) x[i] = y[i];
  }
  __syncthreads();  // buf is reused by the caller
  float own = x[0];
#pragma unroll
  for (int i = 1; i < 8; ++i) own = (t >> 5) == i ? x[i] : own;  // no local-memory indexing
  return own * 0.0625f;  // 1/sqrt(256)
}

__device__ inline float block_sum256(float v, float* scratch) {
  for (int m = 16; m; m >>= 1) v += __shfl_xor_sync(0xffffffffu, v, m);
  __syncthreads();
  if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = v;
  __syncthreads();
  float s = 0;
  for (int i = 0; i < 8; ++i) s += scratch[i];
  return s;
}

// (1+w) RMSNorm over the head, then rotate-half RoPE on the first rotary_dim dims.
// Args: AttentionArgs or AttentionPrefillArgs (eps, rotary_dim, rope_theta).
template <class Args>
__device__ inline float norm_rope(float x, const float* w, const Args& a, int pos, float* buf, float* scratch) {
  const int t = threadIdx.x;
  const float r = rsqrtf(block_sum256(x * x, scratch) / kD + a.eps);
  x = x * r * (1.0f + w[t]);
  buf[t] = x;
  __syncthreads();
  const int half = a.rotary_dim / 2;
  float y = x;
  if (t < a.rotary_dim) {
    const int i = t < half ? t : t - half;
    const float inv_freq = powf(a.rope_theta, -2.0f * i / a.rotary_dim);
    const float ang = float(pos) * inv_freq;
    float sn, cs;
    sincosf(ang, &sn, &cs);
    y = t < half ? x * cs - buf[t + half] * sn : x * cs + buf[t - half] * sn;
  }
  __syncthreads();
  return y;
}

// Quantizes one vector into the cache slot (hlwq-format.md section 5), or stores it as fp16.
__device__ inline void store_kv(const KvSide& side, const float* codebook, size_t slot, float x, float* buf,
                                float* scratch) {
  const int t = threadIdx.x;
  if (side.bits == 16) {
    reinterpret_cast<__half*>(side.data)[slot * kD + t] = __float2half(x);
    return;
  }
  const float n = fmaxf(sqrtf(block_sum256(x * x, scratch)), 1e-10f);
  const float z = wht256_block(x, buf) * 16.0f / n;  // sqrt(256) * H(x / n)
  const int levels = 1 << side.bits;
  int code = 0;
  for (int k = 0; k + 1 < levels; ++k) code += (codebook[k] + codebook[k + 1]) * 0.5f < z;  // ties go low
  __shared__ uint8_t codes[kD];
  codes[t] = uint8_t(code);
  __syncthreads();
  if (t < 32) {
    kv_pack_lane(side.bits, codes + t * 8, side.data + slot * kv_vector_bytes(side.bits), t);
    if (t == 0) side.norms[slot] = __float2half(n);
  }
  __syncthreads();
}

}  // namespace hlwq::cuda::attention_head
