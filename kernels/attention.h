#pragma once
// Full-attention decode for one token (qwen35.md section 3): q/k RMSNorm(1+w), partial RoPE,
// K/V appended to the cache (quantized there when the cache holds codes), flash-decoding over
// the sequence split across blocks with the GQA query heads of one KV head in one block, and
// a combine that applies the sigmoid output gate.
#include <cuda_runtime.h>

#include "kv_cache.h"

namespace hlwq::cuda {

struct AttentionArgs {
  const float* proj = nullptr;    // fused q/k/v GEMV output: [heads x (q 256 | gate 256) | k (kv*256) | v (kv*256)]
  const float* q_norm_w = nullptr;  // [256]
  const float* k_norm_w = nullptr;  // [256]
  const float* k_codebook = nullptr;  // device, 2^bits centroids (unused at fp16)
  const float* v_codebook = nullptr;
  KvLayer cache;
  const int* pos = nullptr;       // device: position of this token (the cache holds pos + 1 after)
  int heads = 0;
  float rope_theta = 1e7f;
  int rotary_dim = 64;
  float eps = 1e-6f;
  float* q_work = nullptr;        // [heads][256]
  float* partials = nullptr;      // attention_partials_floats(heads, max_splits)
  int max_splits = 0;
  // Long histories: code K (Q4/Q3/Q2) scores one token per thread (fewer instructions per
  // token); short ones keep the warp-per-token kernel (less serial latency per block).
  bool long_context = false;
  float* out = nullptr;           // [heads * 256], gated attention output (o_proj input)
};

// One split's partial result for one query head: running max m, sum l, then acc[256]
// (unnormalised). The VRAM planner sizes the buffer with the same stride (vram_plan.cpp).
constexpr int kAttentionPartialStride = kHeadDim + 2;
std::size_t attention_partials_floats(int heads, int max_splits);
// Splits that keep the GPU busy for a cache of `capacity` tokens.
int attention_default_splits(int capacity, int kv_heads);

void attention_decode(const AttentionArgs& args, cudaStream_t stream);

}  // namespace hlwq::cuda
