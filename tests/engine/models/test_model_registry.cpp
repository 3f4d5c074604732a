#include "models/model_registry.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/error.h"

using namespace hlwq;

TEST(ModelRegistry, KnownTypes) {
  EXPECT_EQ(family_for_model_type("qwen3_5", "x"), ModelFamily::Qwen35);
  EXPECT_EQ(detect_family(nlohmann::json{{"text_config", {{"model_type", "qwen3_5_text"}}}}, "x"), ModelFamily::Qwen35);
}

TEST(ModelRegistry, UnknownTypeListsSupported) {
  try {
    family_for_model_type("llama", "dir/config.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::UnsupportedArch);
    const std::string m = e.what();
    EXPECT_NE(m.find("llama"), std::string::npos);
    EXPECT_NE(m.find("qwen3_5"), std::string::npos);
    EXPECT_NE(m.find("dir/config.json"), std::string::npos);
  }
  EXPECT_THROW(detect_family(nlohmann::json::object(), "x"), Error);
}
