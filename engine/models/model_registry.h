#pragma once
// Which model family runs a checkpoint, decided from config.json's model_type. The one list of
// architectures the engine supports: error messages and the app's "will it run" check read it.
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace hlwq {

enum class ModelFamily { Qwen35 };

struct ModelTypeInfo {
  const char* model_type;  // config.json spelling
  ModelFamily family;
  const char* family_name;
};

const std::vector<ModelTypeInfo>& supported_model_types();

// Throws Error{UnsupportedArch} naming the type and listing the supported ones.
ModelFamily family_for_model_type(const std::string& model_type, const std::string& source_name);

// Reads model_type (the wrapper's, else text_config's) from a parsed config.json.
// Throws Error{BadConfig} when absent, Error{UnsupportedArch} when unknown.
ModelFamily detect_family(const nlohmann::json& config_json, const std::string& source_name);

}  // namespace hlwq
