#include "models/cpu/qwen35_weights.h"

#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/half.h"

namespace hlwq::qwen35 {

namespace {

std::vector<float> load_vector(const WeightStore& store, const std::string& name, int64_t numel) {
  const DenseTensor& t = store.require_dense(name);
  if (t.numel() != numel)
    throw_error(ErrorKind::CorruptFile, store.source(), ": tensor ", name, " has ", std::to_string(t.numel()),
                " elements, the config needs ", std::to_string(numel));
  std::vector<float> out(static_cast<size_t>(numel));
  const auto* p = t.bytes.data();
  for (int64_t i = 0; i < numel; ++i) {
    switch (t.dtype) {
      case DType::BF16: { uint16_t h; std::memcpy(&h, p + 2 * i, 2); out[size_t(i)] = bf16_to_f32(h); break; }
      case DType::F16: { uint16_t h; std::memcpy(&h, p + 2 * i, 2); out[size_t(i)] = f16_to_f32(h); break; }
      case DType::F32: std::memcpy(&out[size_t(i)], p + 4 * i, 4); break;
      default:
        throw_error(ErrorKind::CorruptFile, store.source(), ": tensor ", name, " has dtype ", dtype_name(t.dtype),
                    ", expected BF16, F16 or F32");
    }
  }
  return out;
}

}  // namespace

ModelWeights bind_weights(const Config& c, const WeightStore& store) {
  ModelWeights w;
  const std::string& P = c.weight_prefix;
  w.embed = CpuLinear(store, P + "embed_tokens.weight", c.vocab_size, c.hidden_size);
  w.embed_bytes = w.embed.bytes();
  if (c.tie_word_embeddings) {
    w.lm_head = w.embed;
  } else {
    w.lm_head = CpuLinear(store, "lm_head.weight", c.vocab_size, c.hidden_size);
    w.linear_bytes += w.lm_head.bytes();
  }
  w.final_norm = load_vector(store, P + "norm.weight", c.hidden_size);
  const int H = c.num_attention_heads, KV = c.num_key_value_heads, D = c.head_dim;
  const int hk = c.linear_num_key_heads, hv = c.linear_num_value_heads;
  const int dv = c.linear_value_head_dim;
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    const std::string L = P + "layers." + std::to_string(i) + ".";
    LayerWeights l;
    l.type = c.layer_types[size_t(i)];
    l.input_norm = load_vector(store, L + "input_layernorm.weight", c.hidden_size);
    l.post_norm = load_vector(store, L + "post_attention_layernorm.weight", c.hidden_size);
    l.gate = CpuLinear(store, L + "mlp.gate_proj.weight", c.intermediate_size, c.hidden_size);
    l.up = CpuLinear(store, L + "mlp.up_proj.weight", c.intermediate_size, c.hidden_size);
    l.down = CpuLinear(store, L + "mlp.down_proj.weight", c.hidden_size, c.intermediate_size);
    w.linear_bytes += l.gate.bytes() + l.up.bytes() + l.down.bytes();
    if (l.type == LayerType::FullAttention) {
      const std::string A = L + "self_attn.";
      auto& a = l.attn;
      a.q = CpuLinear(store, A + "q_proj.weight", int64_t(2) * H * D, c.hidden_size);
      a.k = CpuLinear(store, A + "k_proj.weight", int64_t(KV) * D, c.hidden_size);
      a.v = CpuLinear(store, A + "v_proj.weight", int64_t(KV) * D, c.hidden_size);
      a.o = CpuLinear(store, A + "o_proj.weight", c.hidden_size, int64_t(H) * D);
      a.q_norm = load_vector(store, A + "q_norm.weight", D);
      a.k_norm = load_vector(store, A + "k_norm.weight", D);
      w.linear_bytes += a.q.bytes() + a.k.bytes() + a.v.bytes() + a.o.bytes();
    } else {
      const std::string A = L + "linear_attn.";
      auto& d = l.delta;
      d.qkv = CpuLinear(store, A + "in_proj_qkv.weight", c.linear_qkv_dim(), c.hidden_size);
      d.z = CpuLinear(store, A + "in_proj_z.weight", int64_t(hv) * dv, c.hidden_size);
      d.b = CpuLinear(store, A + "in_proj_b.weight", hv, c.hidden_size);
      d.a = CpuLinear(store, A + "in_proj_a.weight", hv, c.hidden_size);
      d.out = CpuLinear(store, A + "out_proj.weight", c.hidden_size, int64_t(hv) * dv);
      d.conv = load_vector(store, A + "conv1d.weight", int64_t(c.linear_qkv_dim()) * c.linear_conv_kernel_dim);
      d.neg_A = load_vector(store, A + "A_log", hv);
      for (float& x : d.neg_A) x = -std::exp(x);
      d.dt_bias = load_vector(store, A + "dt_bias", hv);
      d.norm = load_vector(store, A + "norm.weight", dv);
      w.linear_bytes += d.qkv.bytes() + d.z.bytes() + d.b.bytes() + d.a.bytes() + d.out.bytes();
      (void)hk;
    }
    w.layers.push_back(std::move(l));
  }
  return w;
}

}  // namespace hlwq::qwen35
