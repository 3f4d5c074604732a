#include "models/model_registry.h"

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace hlwq {

const std::vector<ModelTypeInfo>& supported_model_types() {
  static const std::vector<ModelTypeInfo> types = {
      {"qwen3_5", ModelFamily::Qwen35, "Qwen3.5"},
      {"qwen3_5_text", ModelFamily::Qwen35, "Qwen3.5"},
  };
  return types;
}

ModelFamily family_for_model_type(const std::string& model_type, const std::string& source_name) {
  std::string list;
  for (const auto& t : supported_model_types()) {
    if (model_type == t.model_type) return t.family;
    list += list.empty() ? "" : ", ";
    list += t.model_type;
  }
  throw_error(ErrorKind::UnsupportedArch, source_name, ": model_type '", model_type,
              "' is not supported (supported: ", list, ")");
}

ModelFamily detect_family(const nlohmann::json& config_json, const std::string& source_name) {
  std::string type;
  if (config_json.is_object()) {
    if (config_json.contains("model_type") && config_json["model_type"].is_string())
      type = config_json["model_type"].get<std::string>();
    else if (config_json.contains("text_config") && config_json["text_config"].is_object() &&
             config_json["text_config"].contains("model_type") && config_json["text_config"]["model_type"].is_string())
      type = config_json["text_config"]["model_type"].get<std::string>();
  }
  if (type.empty()) throw_error(ErrorKind::BadConfig, source_name, ": field 'model_type' is missing");
  return family_for_model_type(type, source_name);
}

}  // namespace hlwq
