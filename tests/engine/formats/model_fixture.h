#pragma once
// A tiny random BF16 checkpoint with Qwen-style names, two shards and an index.
#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/half.h"
#include "formats/safetensors.h"
#include "temp_dir.h"

namespace hlwq::test {

struct FixtureTensor {
  std::string name;
  std::vector<int64_t> shape;
  bool linear;  // what spec 4.4 quantizes
  std::vector<float> values;  // exact bf16 values
};

inline std::vector<FixtureTensor> fixture_tensors() {
  std::vector<FixtureTensor> ts = {
      {"model.embed_tokens.weight", {64, 256}, false, {}},
      {"model.layers.0.input_layernorm.weight", {256}, false, {}},
      {"model.layers.0.mlp.up_proj.weight", {96, 256}, true, {}},
      {"model.layers.0.mlp.down_proj.weight", {256, 200}, true, {}},
      {"model.layers.0.linear_attn.conv1d.weight", {32, 1, 4}, false, {}},
      {"model.layers.0.linear_attn.A_log", {8}, false, {}},
      {"model.layers.0.linear_attn.dt_bias", {8}, false, {}},
      {"model.layers.0.self_attn.q_norm.weight", {16}, false, {}},
      {"model.layers.0.self_attn.k_norm.weight", {16}, false, {}},
      {"lm_head.weight", {64, 256}, true, {}},
      {"model.visual.blocks.0.attn.qkv.weight", {32, 128}, true, {}},
  };
  std::mt19937 rng(42);
  std::normal_distribution<float> nd(0.0f, 0.05f);
  for (auto& t : ts) {
    int64_t n = 1;
    for (auto d : t.shape) n *= d;
    t.values.resize(std::size_t(n));
    for (auto& v : t.values) v = bf16_to_f32(f32_to_bf16(nd(rng)));
  }
  return ts;
}

inline std::vector<std::byte> to_bf16_bytes(const std::vector<float>& v) {
  std::vector<std::byte> out(v.size() * 2);
  for (std::size_t i = 0; i < v.size(); ++i) {
    const uint16_t h = f32_to_bf16(v[i]);
    std::memcpy(&out[2 * i], &h, 2);
  }
  return out;
}

// Writes the fixture into dir: two shards + index + config.json + tokenizer side files.
inline void write_fixture(const std::filesystem::path& dir, const std::vector<FixtureTensor>& ts) {
  std::filesystem::create_directories(dir);
  std::vector<std::vector<std::byte>> keep;
  std::vector<DenseTensor> s1, s2;
  std::map<std::string, std::string> index;
  for (std::size_t i = 0; i < ts.size(); ++i) {
    keep.push_back(to_bf16_bytes(ts[i].values));
    auto& shard = i % 2 ? s2 : s1;
    shard.push_back({ts[i].name, DType::BF16, ts[i].shape, keep.back()});
    index[ts[i].name] = i % 2 ? "model-00002-of-00002.safetensors" : "model-00001-of-00002.safetensors";
  }
  write_safetensors(dir / "model-00001-of-00002.safetensors", s1);
  write_safetensors(dir / "model-00002-of-00002.safetensors", s2);
  write_safetensors_index(dir, index, 0);
  write_text(dir / "config.json", R"({"model_type": "qwen3_5_text", "hidden_size": 256})");
  write_text(dir / "tokenizer.json", R"({"model": {}})");
  write_text(dir / "chat_template.jinja", "{{ messages }}");
}

}  // namespace hlwq::test
