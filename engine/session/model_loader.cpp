#include "session/model_loader.h"

#include <algorithm>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "models/model_registry.h"
#include "models/qwen35/qwen35_config.h"

namespace hlwq {

namespace {

void add_ids(const nlohmann::json& v, std::vector<int32_t>& out) {
  const auto add = [&](const nlohmann::json& e) {
    if (e.is_number_integer() && std::find(out.begin(), out.end(), e.get<int32_t>()) == out.end())
      out.push_back(e.get<int32_t>());
  };
  if (v.is_array())
    for (const auto& e : v) add(e);
  else
    add(v);
}

}  // namespace

LoadedModel load_model(const std::filesystem::path& dir_or_file, int quantize_bits, const ProgressFn& progress) {
  CheckpointOptions opts;
  opts.quantize_bits = quantize_bits;
  Checkpoint ck = load_checkpoint(dir_or_file, opts, progress);
  const std::string source = (ck.dir / "config.json").string();
  LoadedModel m;
  switch (detect_family(ck.config, source)) {
    case ModelFamily::Qwen35: m.source.config = qwen35::parse_config(ck.config, source); break;
  }
  m.dir = ck.dir;
  m.format = ck.format;
  m.source.name = ck.dir.filename().string();
  if (m.source.name.empty()) m.source.name = ck.dir.parent_path().filename().string();
  m.source.weights = std::make_shared<WeightStore>(std::move(ck.weights));
  for (int id : m.source.config.eos_token_ids) add_ids(id, m.eos_ids);
  std::ifstream gen(ck.dir / "generation_config.json");
  if (gen) {
    try {
      const auto j = nlohmann::json::parse(gen);
      if (j.contains("eos_token_id")) add_ids(j["eos_token_id"], m.eos_ids);
    } catch (const nlohmann::json::exception& e) {
      throw_error(ErrorKind::BadJson, (ck.dir / "generation_config.json").string(), ": ", e.what());
    }
  }
  return m;
}

}  // namespace hlwq

#include <charconv>

namespace hlwq {

std::vector<int32_t> parse_token_ids(const std::string& csv) {
  std::vector<int32_t> ids;
  size_t p = 0;
  while (p <= csv.size()) {
    const size_t comma = std::min(csv.find(',', p), csv.size());
    const std::string item = csv.substr(p, comma - p);
    int32_t v = 0;
    const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (item.empty() || ec != std::errc() || end != item.data() + item.size() || v < 0)
      throw_error(ErrorKind::InvalidArgument, "token id list: '", item, "' is not a token id");
    ids.push_back(v);
    p = comma + 1;
  }
  return ids;
}

}  // namespace hlwq
