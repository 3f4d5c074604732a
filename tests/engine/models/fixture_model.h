#pragma once
// Loads a committed reference fixture (tests/fixtures/qwen35/<name>) into a CPU backend.
#include <filesystem>
#include <fstream>
#include <memory>

#include <nlohmann/json.hpp>

#include "formats/checkpoint.h"
#include "models/backend.h"
#include "models/qwen35/qwen35_config.h"

namespace hlwq::test {

inline std::filesystem::path fixture_dir(const std::string& name) {
  return std::filesystem::path(HLWQ_FIXTURE_DIR) / "qwen35" / name;
}

inline ModelSource load_fixture(const std::string& name) {
  Checkpoint ck = load_checkpoint(fixture_dir(name));
  ModelSource src;
  src.config = qwen35::parse_config(ck.config, (ck.dir / "config.json").string());
  src.weights = std::make_shared<WeightStore>(std::move(ck.weights));
  src.name = name;
  return src;
}

inline nlohmann::json fixture_prompts(const std::string& name) {
  std::ifstream in(fixture_dir(name) / "reference" / "prompts.json");
  return nlohmann::json::parse(in);
}

}  // namespace hlwq::test
