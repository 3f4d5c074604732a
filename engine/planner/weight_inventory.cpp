#include "planner/weight_inventory.h"

#include <string>

namespace hlwq::planner {

using qwen35::Config;
using qwen35::LayerType;

namespace {

TensorShape linear(std::string name, int64_t out, int64_t in) { return {std::move(name), out, in, true}; }
TensorShape dense(std::string name, int64_t numel) { return {std::move(name), numel, 1, false}; }

}  // namespace

std::vector<TensorShape> weight_inventory(const Config& c) {
  std::vector<TensorShape> out;
  const int64_t H = c.hidden_size;
  const int64_t I = c.intermediate_size;
  const int64_t hd = c.head_dim;
  const int64_t value_dim = int64_t(c.linear_num_value_heads) * c.linear_value_head_dim;
  const int64_t qkv = c.linear_qkv_dim();
  for (int i = 0; i < int(c.layer_types.size()); ++i) {
    const std::string p = c.weight_prefix + "layers." + std::to_string(i) + ".";
    out.push_back(dense(p + "input_layernorm.weight", H));
    if (c.layer_types[i] == LayerType::FullAttention) {
      const std::string a = p + "self_attn.";
      // q_proj carries the query and its output gate per head: 2 x heads x head_dim rows.
      out.push_back(linear(a + "q_proj.weight", 2 * c.num_attention_heads * hd, H));
      out.push_back(linear(a + "k_proj.weight", c.num_key_value_heads * hd, H));
      out.push_back(linear(a + "v_proj.weight", c.num_key_value_heads * hd, H));
      out.push_back(linear(a + "o_proj.weight", H, c.num_attention_heads * hd));
      out.push_back(dense(a + "q_norm.weight", hd));
      out.push_back(dense(a + "k_norm.weight", hd));
    } else {
      const std::string a = p + "linear_attn.";
      out.push_back(linear(a + "in_proj_qkv.weight", qkv, H));
      out.push_back(linear(a + "in_proj_z.weight", value_dim, H));
      out.push_back(linear(a + "in_proj_b.weight", c.linear_num_value_heads, H));
      out.push_back(linear(a + "in_proj_a.weight", c.linear_num_value_heads, H));
      out.push_back(linear(a + "out_proj.weight", H, value_dim));
      out.push_back(dense(a + "conv1d.weight", qkv * c.linear_conv_kernel_dim));
      out.push_back(dense(a + "A_log", c.linear_num_value_heads));
      out.push_back(dense(a + "dt_bias", c.linear_num_value_heads));
      out.push_back(dense(a + "norm.weight", c.linear_value_head_dim));
    }
    out.push_back(dense(p + "post_attention_layernorm.weight", H));
    out.push_back(linear(p + "mlp.gate_proj.weight", I, H));
    out.push_back(linear(p + "mlp.up_proj.weight", I, H));
    out.push_back(linear(p + "mlp.down_proj.weight", H, I));
  }
  out.push_back(dense(c.weight_prefix + "norm.weight", H));
  // Quantized even when tied to the embedding: decode streams it every token (4.4).
  out.push_back(linear("lm_head.weight", c.vocab_size, H));
  return out;
}

TensorShape embedding_shape(const Config& c) {
  return {c.weight_prefix + "embed_tokens.weight", int64_t(c.vocab_size), int64_t(c.hidden_size), false};
}

}  // namespace hlwq::planner
