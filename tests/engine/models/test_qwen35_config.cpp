#include "models/qwen35/qwen35_config.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/error.h"

using namespace hlwq;
using nlohmann::json;

namespace {

// The 27B's text_config as published (qwen35.md section 1), trimmed to the fields we read.
json wrapper_27b() {
  return json::parse(R"({
    "architectures": ["Qwen3_5ForConditionalGeneration"], "model_type": "qwen3_5",
    "tie_word_embeddings": false,
    "text_config": {
      "model_type": "qwen3_5_text", "hidden_size": 5120, "num_hidden_layers": 64,
      "num_attention_heads": 24, "num_key_value_heads": 4, "head_dim": 256,
      "linear_num_key_heads": 16, "linear_num_value_heads": 48, "linear_key_head_dim": 128,
      "linear_value_head_dim": 128, "linear_conv_kernel_dim": 4, "intermediate_size": 17408,
      "vocab_size": 248320, "rms_norm_eps": 1e-6, "full_attention_interval": 4,
      "rope_parameters": {"rope_theta": 10000000, "partial_rotary_factor": 0.25, "mrope_section": [11, 11, 10]},
      "eos_token_id": 248044
    }})");
}

}  // namespace

TEST(Qwen35Config, Wrapper27B) {
  const auto c = qwen35::parse_config(wrapper_27b(), "config.json");
  EXPECT_EQ(c.hidden_size, 5120);
  EXPECT_EQ(c.num_hidden_layers, 64);
  EXPECT_EQ(c.num_full_attention_layers(), 16);
  EXPECT_EQ(c.num_linear_attention_layers(), 48);
  EXPECT_EQ(c.layer_types[3], qwen35::LayerType::FullAttention);
  EXPECT_EQ(c.layer_types[0], qwen35::LayerType::LinearAttention);
  EXPECT_EQ(c.rotary_dim(), 64);
  EXPECT_EQ(c.linear_qkv_dim(), 10240);  // the conv width in the spec
  EXPECT_DOUBLE_EQ(c.rope_theta, 1e7);
  EXPECT_EQ(c.weight_prefix, "model.language_model.");
  EXPECT_FALSE(c.tie_word_embeddings);
  ASSERT_EQ(c.eos_token_ids.size(), 1u);
  EXPECT_EQ(c.eos_token_ids[0], 248044);
}

TEST(Qwen35Config, FlatTextConfigWithLayerTypesAndOldRope) {
  json j = wrapper_27b()["text_config"];
  j["num_hidden_layers"] = 3;
  j["layer_types"] = {"full_attention", "linear_attention", "full_attention"};
  j.erase("rope_parameters");
  j["rope_theta"] = 5e6;
  j["tie_word_embeddings"] = true;
  const auto c = qwen35::parse_config(j, "flat.json");
  EXPECT_EQ(c.weight_prefix, "model.");
  EXPECT_EQ(c.num_full_attention_layers(), 2);
  EXPECT_DOUBLE_EQ(c.rope_theta, 5e6);
  EXPECT_TRUE(c.tie_word_embeddings);
}

TEST(Qwen35Config, ErrorsNameTheField) {
  json j = wrapper_27b();
  j["text_config"].erase("hidden_size");
  try {
    qwen35::parse_config(j, "m/config.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadConfig);
    EXPECT_NE(std::string(e.what()).find("hidden_size"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("m/config.json"), std::string::npos);
  }
  j = wrapper_27b();
  j["text_config"]["layer_types"] = {"full_attention"};
  EXPECT_THROW(qwen35::parse_config(j, "x"), Error);
  j = wrapper_27b();
  j["text_config"]["num_key_value_heads"] = 5;
  EXPECT_THROW(qwen35::parse_config(j, "x"), Error);
  j = wrapper_27b();
  j["text_config"]["model_type"] = "llama";
  try {
    qwen35::parse_config(j, "x");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::UnsupportedArch);
  }
}

// Found by fuzz.hlwq_config_smoke: a non-string model_type escaped as nlohmann's type_error.
TEST(Qwen35Config, WrongTypedFieldsAreBadConfigNotLibraryExceptions) {
  for (const char* where : {"outer", "text"}) {
    json j = wrapper_27b();
    (std::string(where) == "outer" ? j : j["text_config"])["model_type"] = 7;
    try {
      qwen35::parse_config(j, "m/config.json");
      FAIL() << where;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::BadConfig);
      EXPECT_NE(std::string(e.what()).find("model_type"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("m/config.json"), std::string::npos) << e.what();
    }
  }
  json j = wrapper_27b();
  j["text_config"]["hidden_size"] = "5120";
  EXPECT_THROW(qwen35::parse_config(j, "x"), Error);
}
