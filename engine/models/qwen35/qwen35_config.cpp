#include "models/qwen35/qwen35_config.h"

#include <algorithm>
#include <optional>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace hlwq::qwen35 {

int Config::num_full_attention_layers() const {
  return int(std::count(layer_types.begin(), layer_types.end(), LayerType::FullAttention));
}

int Config::num_linear_attention_layers() const {
  return int(std::count(layer_types.begin(), layer_types.end(), LayerType::LinearAttention));
}

namespace {

using nlohmann::json;

struct Reader {
  const json& j;
  const std::string& source;

  [[noreturn]] void fail(const std::string& field, const std::string& why) const {
    throw_error(ErrorKind::BadConfig, source, ": field '", field, "' ", why);
  }

  int positive_int(const char* field, std::optional<int> fallback = std::nullopt) const {
    if (!j.contains(field) || j[field].is_null()) {
      if (fallback) return *fallback;
      fail(field, "is missing");
    }
    const json& v = j[field];
    if (!v.is_number_integer()) fail(field, "must be an integer, got " + v.dump());
    const int64_t x = v.get<int64_t>();
    if (x <= 0 || x > (int64_t(1) << 30)) fail(field, "must be a positive integer, got " + v.dump());
    return int(x);
  }

  double positive_number(const json& obj, const char* field, double fallback) const {
    if (!obj.contains(field) || obj[field].is_null()) return fallback;
    const json& v = obj[field];
    if (!v.is_number()) fail(field, "must be a number, got " + v.dump());
    const double x = v.get<double>();
    if (!(x > 0)) fail(field, "must be positive, got " + v.dump());
    return x;
  }
};

void collect_ids(const json& v, std::vector<int>& out) {
  if (v.is_number_integer()) {
    out.push_back(v.get<int>());
  } else if (v.is_array()) {
    for (const auto& e : v)
      if (e.is_number_integer()) out.push_back(e.get<int>());
  }
}

// A model_type that is not a string is a bad config, named as such (json::value would throw a
// bare type_error).
std::string model_type_of(const json& j, const std::string& fallback, const std::string& source_name) {
  if (!j.contains("model_type")) return fallback;
  const json& v = j["model_type"];
  if (!v.is_string()) throw_error(ErrorKind::BadConfig, source_name, ": field 'model_type' must be a string, got ", v.dump());
  return v.get<std::string>();
}

Config parse_config_fields(const nlohmann::json& config_json, const std::string& source_name);

}  // namespace

Config parse_config(const nlohmann::json& config_json, const std::string& source_name) {
  try {
    return parse_config_fields(config_json, source_name);
  } catch (const nlohmann::json::exception& e) {
    // Every field is type-checked above; this is the safety net that keeps a JSON library
    // exception from ever reaching the user as anything but a named config error.
    throw_error(ErrorKind::BadConfig, source_name, ": ", e.what());
  }
}

namespace {

Config parse_config_fields(const nlohmann::json& config_json, const std::string& source_name) {
  if (!config_json.is_object()) throw_error(ErrorKind::BadConfig, source_name, ": config is not a JSON object");
  const std::string outer_type = model_type_of(config_json, std::string(), source_name);
  const json* text = &config_json;
  std::string prefix = "model.";
  if (config_json.contains("text_config")) {
    if (!config_json["text_config"].is_object())
      throw_error(ErrorKind::BadConfig, source_name, ": field 'text_config' must be an object");
    text = &config_json["text_config"];
    prefix = "model.language_model.";
  }
  const std::string type = model_type_of(*text, outer_type, source_name);
  if (type != "qwen3_5_text" && type != "qwen3_5")
    throw_error(ErrorKind::UnsupportedArch, source_name, ": model_type '", type,
                "' is not a Qwen3.5 text model (expected qwen3_5 or qwen3_5_text)");

  const Reader r{*text, source_name};
  Config c;
  c.hidden_size = r.positive_int("hidden_size");
  c.num_hidden_layers = r.positive_int("num_hidden_layers");
  c.num_attention_heads = r.positive_int("num_attention_heads");
  c.num_key_value_heads = r.positive_int("num_key_value_heads");
  c.head_dim = r.positive_int("head_dim", c.hidden_size / c.num_attention_heads);
  c.linear_num_key_heads = r.positive_int("linear_num_key_heads");
  c.linear_num_value_heads = r.positive_int("linear_num_value_heads");
  c.linear_key_head_dim = r.positive_int("linear_key_head_dim", 128);
  c.linear_value_head_dim = r.positive_int("linear_value_head_dim", 128);
  c.linear_conv_kernel_dim = r.positive_int("linear_conv_kernel_dim", 4);
  c.intermediate_size = r.positive_int("intermediate_size");
  c.vocab_size = r.positive_int("vocab_size");
  c.max_position_embeddings = r.positive_int("max_position_embeddings", 262144);

  // rope_parameters (transformers 5) wins over the older top-level fields.
  c.rope_theta = r.positive_number(*text, "rope_theta", 1e7);
  c.partial_rotary_factor = r.positive_number(*text, "partial_rotary_factor", 0.25);
  if (text->contains("rope_parameters") && (*text)["rope_parameters"].is_object()) {
    const json& rp = (*text)["rope_parameters"];
    c.rope_theta = r.positive_number(rp, "rope_theta", c.rope_theta);
    c.partial_rotary_factor = r.positive_number(rp, "partial_rotary_factor", c.partial_rotary_factor);
  }
  c.rms_norm_eps = r.positive_number(*text, "rms_norm_eps", 1e-6);

  // The wrapper carries tie_word_embeddings at the top level in some exports.
  const json* tie = nullptr;
  if (text->contains("tie_word_embeddings")) tie = &(*text)["tie_word_embeddings"];
  else if (config_json.contains("tie_word_embeddings")) tie = &config_json["tie_word_embeddings"];
  if (tie) {
    if (!tie->is_boolean()) r.fail("tie_word_embeddings", "must be true or false, got " + tie->dump());
    c.tie_word_embeddings = tie->get<bool>();
  }

  if (c.num_attention_heads % c.num_key_value_heads != 0)
    r.fail("num_key_value_heads", "must divide num_attention_heads (" + std::to_string(c.num_attention_heads) + ")");
  if (c.linear_num_value_heads % c.linear_num_key_heads != 0)
    r.fail("linear_num_key_heads", "must divide linear_num_value_heads (" + std::to_string(c.linear_num_value_heads) + ")");
  const int rot = c.rotary_dim();
  if (rot <= 0 || rot % 2 != 0 || rot > c.head_dim)
    r.fail("partial_rotary_factor", "gives a rotary dimension of " + std::to_string(rot) + " for head_dim " +
                                        std::to_string(c.head_dim));

  if (text->contains("layer_types") && !(*text)["layer_types"].is_null()) {
    const json& lt = (*text)["layer_types"];
    if (!lt.is_array() || int(lt.size()) != c.num_hidden_layers)
      r.fail("layer_types", "must be an array of num_hidden_layers (" + std::to_string(c.num_hidden_layers) + ") entries");
    for (const auto& e : lt) {
      const std::string s = e.is_string() ? e.get<std::string>() : e.dump();
      if (s == "full_attention") c.layer_types.push_back(LayerType::FullAttention);
      else if (s == "linear_attention") c.layer_types.push_back(LayerType::LinearAttention);
      else r.fail("layer_types", "has unknown entry '" + s + "' (expected full_attention or linear_attention)");
    }
  } else {
    const int interval = r.positive_int("full_attention_interval", 4);
    for (int i = 0; i < c.num_hidden_layers; ++i)
      c.layer_types.push_back((i + 1) % interval == 0 ? LayerType::FullAttention : LayerType::LinearAttention);
  }
  c.weight_prefix = prefix;

  collect_ids(text->value("eos_token_id", json()), c.eos_token_ids);
  if (c.eos_token_ids.empty()) collect_ids(config_json.value("eos_token_id", json()), c.eos_token_ids);
  return c;
}

}  // namespace
}  // namespace hlwq::qwen35
