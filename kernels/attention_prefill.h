#pragma once
// Full attention over a chunk of T tokens (qwen35.md section 3): q/k RMSNorm(1+w) + partial
// RoPE for every row, the chunk's K/V written into the cache first (fp16 or Q5/Q4/Q3/Q2 codes,
// the layout of kv_cache.h, quantized by the same arithmetic as attention_decode), then a
// causal flash-style pass over cache + chunk read back from the cache, so each row sees
// exactly the values a decode step at its position would, and the sigmoid output gate.
#include <cuda_runtime.h>

#include "kv_cache.h"

namespace hlwq::cuda {

struct AttentionPrefillArgs {
  const float* proj = nullptr;        // rows (stride proj_stride): [heads x (q 256 | gate 256) | k (kv*256) | v (kv*256)]
  int proj_stride = 0;
  const float* q_norm_w = nullptr;    // [256]
  const float* k_norm_w = nullptr;    // [256]
  const float* k_codebook = nullptr;  // device, 2^bits centroids (unused at fp16)
  const float* v_codebook = nullptr;
  KvLayer cache;
  int pos = 0;                        // position of row 0; the cache holds pos + T after
  int T = 0;
  int heads = 0;
  float rope_theta = 1e7f;
  int rotary_dim = 64;
  float eps = 1e-6f;
  float* q_work = nullptr;            // scratch [T][heads][256]
  float* out = nullptr;               // [T][heads * 256], gated (o_proj input)
};

// KV widths the prefill kernels are built for (others run token by token through decode).
bool attention_prefill_supports(int k_bits, int v_bits);

void attention_prefill(const AttentionPrefillArgs& args, cudaStream_t stream);

}  // namespace hlwq::cuda
