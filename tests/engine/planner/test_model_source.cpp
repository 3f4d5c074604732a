// ModelSpec from the files a model directory or Hub repo holds.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "planner/model_source.h"

namespace hlwq::planner {
namespace {

using nlohmann::json;

// The 0.8B of qwen35.md section 1 in the vision-wrapper form real checkpoints use.
json config_08b() {
  return json::parse(R"({"model_type": "qwen3_5", "architectures": ["Qwen3_5ForConditionalGeneration"],
    "tie_word_embeddings": true,
    "text_config": {"model_type": "qwen3_5_text", "hidden_size": 1024, "num_hidden_layers": 24,
      "num_attention_heads": 8, "num_key_value_heads": 2, "head_dim": 256, "linear_num_key_heads": 16,
      "linear_num_value_heads": 16, "linear_key_head_dim": 128, "linear_value_head_dim": 128,
      "linear_conv_kernel_dim": 4, "intermediate_size": 3584, "vocab_size": 248320,
      "full_attention_interval": 4}})");
}

TEST(ModelSource, Bf16SourceUsesTheTargetBits) {
  const ModelSpec m = model_spec_from_json(config_08b(), json(), 4, "x/config.json");
  EXPECT_FALSE(m.prequantized);
  EXPECT_EQ(m.weight_bits, 4);
  EXPECT_EQ(m.config.hidden_size, 1024);
  EXPECT_EQ(m.config.layer_types.size(), 24u);
  EXPECT_EQ(m.config.layer_types[3], qwen35::LayerType::FullAttention);
  EXPECT_EQ(m.config.layer_types[2], qwen35::LayerType::LinearAttention);
}

TEST(ModelSource, HlwqRepoKeepsItsBits) {
  EXPECT_EQ(model_spec_from_json(config_08b(), json{{"format", "hlwq-q3"}, {"block_size", 128}}, 5, "r").weight_bits, 3);
  EXPECT_EQ(model_spec_from_json(config_08b(), json{{"format", "hlwq-q5"}, {"bits", 4}}, 5, "r").weight_bits, 4);
  EXPECT_EQ(model_spec_from_json(config_08b(), json{{"format", "polar_engine_v5"}}, 3, "r").weight_bits, 5);
  const ModelSpec repo = model_spec_from_json(config_08b(), json{{"format", "hlwq-q4"}}, 5, "r");
  EXPECT_TRUE(repo.prequantized);
  json with_qc = config_08b();
  with_qc["quantization_config"] = {{"quant_method", "polarengine"}};
  EXPECT_TRUE(model_spec_from_json(with_qc, json(), 3, "r").prequantized);
  EXPECT_EQ(model_spec_from_json(with_qc, json(), 3, "r").weight_bits, 5);
}

TEST(ModelSource, MixedWidthRepoNamesItsOtherWidths) {
  const std::string up = "model.language_model.layers.0.mlp.up_proj.weight";
  const json hlwq{{"format", "hlwq-q4"}, {"bits", {{up, 3}, {"lm_head.weight", 5}}}};
  const ModelSpec m = model_spec_from_json(config_08b(), hlwq, 5, "r");
  EXPECT_TRUE(m.prequantized);
  EXPECT_EQ(m.weight_bits, 4);
  EXPECT_EQ(m.bits_of(up), 3);
  EXPECT_EQ(m.bits_of("lm_head.weight"), 5);
  EXPECT_EQ(m.bits_of("model.language_model.layers.0.mlp.down_proj.weight"), 4);
  EXPECT_EQ(m.widths(), (std::vector<int>{3, 4, 5}));
  EXPECT_THROW(model_spec_from_json(config_08b(), json{{"format", "hlwq-q4"}, {"bits", {{up, "x"}}}}, 5, "r"), Error);
  EXPECT_THROW(model_spec_from_json(config_08b(), json{{"format", "hlwq-q4"}, {"bits", {{up, 1}}}}, 5, "r"), Error);
}

TEST(ModelSource, ErrorsNameTheFileAndField) {
  try {
    model_spec_from_json(config_08b(), json{{"format", "gguf"}}, 5, "org/name");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::UnsupportedArch);
    EXPECT_NE(std::string(e.what()).find("org/name"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("gguf"), std::string::npos);
  }
  EXPECT_THROW(model_spec_from_json(config_08b(), json{{"bits", "five"}}, 5, "r"), Error);
  EXPECT_THROW(model_spec_from_json(json{{"model_type", "llama"}}, json(), 5, "r"), Error);
}

TEST(ModelSource, ReadsADirectory) {
  const auto dir = std::filesystem::temp_directory_path() / ("hlwq_model_source_" + std::to_string(::getpid())) / "Tiny-0.8B";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "config.json") << config_08b().dump();
  ModelSpec m = load_model_spec(dir, 5);
  EXPECT_EQ(m.name, "Tiny-0.8B");
  EXPECT_FALSE(m.prequantized);
  std::ofstream(dir / "hlwq_config.json") << R"({"format": "hlwq-q4", "block_size": 128})";
  m = load_model_spec(dir / "config.json", 5);
  EXPECT_TRUE(m.prequantized);
  EXPECT_EQ(m.weight_bits, 4);
  std::ofstream(dir / "hlwq_config.json") << "{broken";
  try {
    load_model_spec(dir, 5);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadJson);
    EXPECT_NE(std::string(e.what()).find("hlwq_config.json"), std::string::npos);
  }
  EXPECT_THROW(load_model_spec(dir / "missing", 5), Error);
  std::filesystem::remove_all(dir.parent_path());
}

}  // namespace
}  // namespace hlwq::planner
