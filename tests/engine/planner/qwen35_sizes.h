#pragma once
// The Qwen3.5 sizes of qwen35.md section 1, typed in by hand from the spec (not parsed by our
// code), so the planner's numbers are checked against an independent description.
#include <string>
#include <vector>

#include "models/qwen35/qwen35_config.h"

namespace hlwq::planner::test {

struct Size {
  std::string name;
  int hidden, layers, heads, kv_heads, intermediate, hk, hv;
  bool tied;
};

inline const std::vector<Size>& spec_sizes() {
  static const std::vector<Size> sizes = {
      {"27B", 5120, 64, 24, 4, 17408, 16, 48, false},
      {"9B", 4096, 32, 16, 4, 12288, 16, 32, false},
      {"4B", 2560, 32, 16, 4, 9216, 16, 32, true},
      {"2B", 2048, 24, 8, 2, 6144, 16, 16, true},
      {"0.8B", 1024, 24, 8, 2, 3584, 16, 16, true},
  };
  return sizes;
}

inline const Size& spec_size(const std::string& name) {
  for (const Size& s : spec_sizes())
    if (s.name == name) return s;
  throw std::runtime_error("no size " + name);
}

// head_dim 256, dk = dv = 128, conv kernel 4, vocab 248320; every 4th layer is full attention.
inline qwen35::Config make_config(const Size& s) {
  qwen35::Config c;
  c.hidden_size = s.hidden;
  c.num_hidden_layers = s.layers;
  c.num_attention_heads = s.heads;
  c.num_key_value_heads = s.kv_heads;
  c.head_dim = 256;
  c.linear_num_key_heads = s.hk;
  c.linear_num_value_heads = s.hv;
  c.linear_key_head_dim = 128;
  c.linear_value_head_dim = 128;
  c.linear_conv_kernel_dim = 4;
  c.intermediate_size = s.intermediate;
  c.vocab_size = 248320;
  c.tie_word_embeddings = s.tied;
  c.max_position_embeddings = 262144;
  c.weight_prefix = "model.language_model.";
  for (int i = 0; i < s.layers; ++i)
    c.layer_types.push_back((i + 1) % 4 == 0 ? qwen35::LayerType::FullAttention : qwen35::LayerType::LinearAttention);
  return c;
}

}  // namespace hlwq::planner::test
