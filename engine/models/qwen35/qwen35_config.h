#pragma once
// Qwen3.5 text-model hyper-parameters (qwen35.md section 1). The only place these fields
// are named; everything else reads them from here.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace hlwq::qwen35 {

enum class LayerType : uint8_t { LinearAttention, FullAttention };

struct Config {
  int hidden_size = 0;
  int num_hidden_layers = 0;
  int num_attention_heads = 0;
  int num_key_value_heads = 0;
  int head_dim = 256;
  int linear_num_key_heads = 0;    // Hk
  int linear_num_value_heads = 0;  // Hv
  int linear_key_head_dim = 128;   // dk
  int linear_value_head_dim = 128; // dv
  int linear_conv_kernel_dim = 4;
  int intermediate_size = 0;
  int vocab_size = 0;
  double rope_theta = 1e7;
  double partial_rotary_factor = 0.25;
  double rms_norm_eps = 1e-6;
  bool tie_word_embeddings = false;
  int64_t max_position_embeddings = 262144;
  std::vector<LayerType> layer_types;      // size num_hidden_layers
  std::string weight_prefix;               // "model.language_model." or "model."
  std::vector<int> eos_token_ids;          // from config / generation_config

  int rotary_dim() const { return int(head_dim * partial_rotary_factor); }
  int num_full_attention_layers() const;
  int num_linear_attention_layers() const;
  int linear_qkv_dim() const { return 2 * linear_num_key_heads * linear_key_head_dim + linear_num_value_heads * linear_value_head_dim; }
};

// Accepts the vision wrapper (model_type "qwen3_5" with text_config) and the flat
// "qwen3_5_text" form. Throws Error{BadConfig} naming the file and field.
Config parse_config(const nlohmann::json& config_json, const std::string& source_name);

}  // namespace hlwq::qwen35
