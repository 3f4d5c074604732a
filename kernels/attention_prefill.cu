#include <cmath>
#include <string>

#include "attention_head.cuh"
#include "attention_prefill.h"
#include "core/error.h"
#include "cuda_check.h"
#include "flash_attention_prefill.h"

namespace hlwq::cuda {
namespace {

constexpr int kD = kHeadDim;

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

bool bits_ok(int b) { return b == 16 || b == 5 || b == 4 || b == 3 || b == 2; }

}  // namespace

bool attention_prefill_supports(int k_bits, int v_bits) { return bits_ok(k_bits) && bits_ok(v_bits); }

void attention_prefill(const AttentionPrefillArgs& a, cudaStream_t stream) {
  const int kvh = a.cache.kv_heads;
  if (kvh <= 0 || a.heads % kvh != 0 || !flash_attention_supports_group(a.heads / kvh))
    throw_error(ErrorKind::InvalidArgument, "attention_prefill: ", std::to_string(a.heads), " query heads over ",
                std::to_string(kvh), " KV heads (supported: 4 or 6 per KV head, as in every Qwen3.5 size)");
  if (a.rotary_dim % 2 != 0 || a.rotary_dim > kD || a.T <= 0 || a.pos < 0 || a.pos + a.T > a.cache.capacity ||
      a.proj_stride < a.heads * 2 * kD + 2 * kvh * kD)
    throw_error(ErrorKind::InvalidArgument, "attention_prefill: rotary_dim ", std::to_string(a.rotary_dim), ", rows ",
                std::to_string(a.T), " at position ", std::to_string(a.pos), " in a cache of ",
                std::to_string(a.cache.capacity), ", proj stride ", std::to_string(a.proj_stride));
  if (!bits_ok(a.cache.k.bits) || !bits_ok(a.cache.v.bits))
    throw_error(ErrorKind::InvalidArgument, "attention_prefill: KV bits k=", std::to_string(a.cache.k.bits), " v=",
                std::to_string(a.cache.v.bits), " (supported: 16, 5, 4, 3, 2)");
  prep_kernel<<<dim3(a.T, a.heads + kvh), 256, 0, stream>>>(a);
  check_launch("attention_prefill prep");
  flash_attention_causal(a, stream);
}

}  // namespace hlwq::cuda
