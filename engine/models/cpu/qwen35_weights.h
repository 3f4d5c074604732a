#pragma once
// Qwen3.5's tensors bound by name (qwen35.md sections 2-4) for the CPU forward pass: Linears
// stay as stored (BF16 or codes), small vectors (norms, A_log, dt_bias, conv) become floats.
#include <string>
#include <vector>

#include "models/cpu/cpu_linear.h"
#include "models/qwen35/qwen35_config.h"

namespace hlwq::qwen35 {

struct AttentionWeights {
  CpuLinear q, k, v, o;
  std::vector<float> q_norm, k_norm;  // offsets from 1, [head_dim]
};

struct DeltaNetWeights {
  CpuLinear qkv, z, b, a, out;
  std::vector<float> conv;     // [qkv_dim, kernel]
  std::vector<float> neg_A;    // -exp(A_log), [Hv]
  std::vector<float> dt_bias;  // [Hv]
  std::vector<float> norm;     // plain weight, [dv]
};

struct LayerWeights {
  LayerType type = LayerType::LinearAttention;
  std::vector<float> input_norm, post_norm;  // offsets from 1, [hidden]
  CpuLinear gate, up, down;
  AttentionWeights attn;   // FullAttention layers
  DeltaNetWeights delta;   // LinearAttention layers
};

struct ModelWeights {
  CpuLinear embed;    // [vocab, hidden]
  CpuLinear lm_head;  // embed itself when tied
  std::vector<float> final_norm;
  std::vector<LayerWeights> layers;
  uint64_t linear_bytes = 0;  // everything but the embedding
  uint64_t embed_bytes = 0;
};

// Throws Error{MissingTensor} / Error{CorruptFile} naming the tensor and the store.
ModelWeights bind_weights(const Config& config, const WeightStore& store);

}  // namespace hlwq::qwen35
