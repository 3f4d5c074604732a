#include "planner/model_source.h"

#include <fstream>

#include "core/error.h"

namespace hlwq::planner {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

int bits_of_hlwq_repo(const json& hlwq, const std::string& source) {
  if (hlwq.contains("bits") && !hlwq["bits"].is_object()) {  // an object: per tensor (linear_bits_of_repo)
    if (!hlwq["bits"].is_number_integer())
      throw_error(ErrorKind::BadConfig, source, ": field 'bits' must be an integer or an object, got ", hlwq["bits"].dump());
    return hlwq["bits"].get<int>();
  }
  const std::string format = hlwq.value("format", std::string());
  if (format.rfind("hlwq-q", 0) == 0 && format.size() == 7 && format[6] >= '2' && format[6] <= '8') return format[6] - '0';
  // Legacy repos may vary bits per layer; planning at 5 is their common (and largest) case.
  if (format.rfind("polar_engine_v", 0) == 0) return 5;
  throw_error(ErrorKind::UnsupportedArch, source, ": field 'format' is '", format,
              "', not an HLWQ format (hlwq-q5/q4/q3 or polar_engine_v5)");
}

// A mixed-width repo (hlwq-format.md 4.3): "bits": {"<parameter name>": bits, ...}; the
// Linears it does not name are at the format's width.
std::map<std::string, int, std::less<>> linear_bits_of_repo(const json& hlwq, const std::string& source) {
  std::map<std::string, int, std::less<>> out;
  if (!hlwq.contains("bits") || !hlwq["bits"].is_object()) return out;
  for (const auto& [name, bits] : hlwq["bits"].items()) {
    if (!bits.is_number_integer() || bits.get<int>() < 2 || bits.get<int>() > 8)
      throw_error(ErrorKind::BadConfig, source, ": field 'bits' of ", name, " must be an integer 2..8, got ", bits.dump());
    out[name] = bits.get<int>();
  }
  return out;
}

json read_json(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw_error(ErrorKind::Io, path.string(), ": cannot open");
  json j = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw_error(ErrorKind::BadJson, path.string(), ": not valid JSON");
  return j;
}

}  // namespace

ModelSpec model_spec_from_json(const json& config, const json& hlwq_config, int target_bits, const std::string& source) {
  ModelSpec spec;
  spec.config = qwen35::parse_config(config, source);
  spec.name = source;
  if (!hlwq_config.is_null()) {
    spec.prequantized = true;
    spec.weight_bits = bits_of_hlwq_repo(hlwq_config, source);
    spec.linear_bits = linear_bits_of_repo(hlwq_config, source);
  } else if (config.contains("quantization_config") && config["quantization_config"].is_object() &&
             config["quantization_config"].value("quant_method", std::string()).rfind("polar", 0) == 0) {
    // quantization_config without hlwq_config.json: the public 5-bit repos.
    spec.prequantized = true;
    const json& qc = config["quantization_config"];
    spec.weight_bits = qc.contains("bits") ? bits_of_hlwq_repo(qc, source) : 5;
  } else {
    spec.weight_bits = target_bits;
  }
  if (spec.weight_bits < 2 || spec.weight_bits > 8)
    throw_error(ErrorKind::BadConfig, source, ": weight bits must be 2..8, got ", std::to_string(spec.weight_bits));
  return spec;
}

ModelSpec load_model_spec(const fs::path& dir_or_config, int target_bits) {
  std::error_code ec;
  const bool is_dir = fs::is_directory(dir_or_config, ec);
  const fs::path dir = is_dir ? dir_or_config : dir_or_config.parent_path();
  const fs::path config_path = is_dir ? dir / "config.json" : dir_or_config;
  if (!fs::exists(config_path, ec)) throw_error(ErrorKind::Io, config_path.string(), ": no such file");
  json hlwq;
  for (const char* name : {"hlwq_config.json", "polar_config.json"})
    if (fs::exists(dir / name, ec)) {
      hlwq = read_json(dir / name);
      break;
    }
  ModelSpec spec = model_spec_from_json(read_json(config_path), hlwq, target_bits, config_path.string());
  const fs::path folder = fs::absolute(dir, ec).lexically_normal();
  if (!folder.filename().empty()) spec.name = folder.filename().string();  // "Qwopus3.5-27B-v3"
  return spec;
}

}  // namespace hlwq::planner
