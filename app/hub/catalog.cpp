#include "hub/catalog.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace hlwq::hub {

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

template <typename T>
T field(const json& j, const char* key, const std::string& where, bool required, T fallback) {
  auto it = j.find(key);
  if (it == j.end()) {
    if (required) throw_error(ErrorKind::BadConfig, where, ": missing field '", key, "'");
    return fallback;
  }
  try {
    return it->get<T>();
  } catch (const json::exception&) {
    throw_error(ErrorKind::BadConfig, where, ": field '", key, "' has the wrong type");
  }
}

}  // namespace

const char* to_string(FitVerdict verdict) {
  switch (verdict) {
    case FitVerdict::Unknown: return "unknown";
    case FitVerdict::Fits: return "fits";
    case FitVerdict::Tight: return "tight";
    case FitVerdict::DoesNotFit: return "does not fit";
  }
  return "unknown";
}

std::vector<CatalogEntry> parse_catalog(const std::string& text, const std::string& source) {
  json root;
  try {
    root = json::parse(text);
  } catch (const json::exception& e) {
    throw_error(ErrorKind::BadJson, source, ": ", e.what());
  }
  if (!root.is_object() || !root.contains("models") || !root["models"].is_array())
    throw_error(ErrorKind::BadConfig, source, ": expected an object with a 'models' array");
  std::vector<CatalogEntry> out;
  for (size_t i = 0; i < root["models"].size(); ++i) {
    const json& m = root["models"][i];
    std::string where = source + ": models[" + std::to_string(i) + "]";
    if (!m.is_object()) throw_error(ErrorKind::BadConfig, where, " is not an object");
    CatalogEntry e;
    e.id = field<std::string>(m, "id", where, true, "");
    where += " (" + e.id + ")";
    e.title = field<std::string>(m, "title", where, false, e.id);
    e.repo = field<std::string>(m, "repo", where, true, "");
    validate_repo_id(e.repo);
    e.revision = field<std::string>(m, "revision", where, false, "main");
    e.format = field<std::string>(m, "format", where, true, "");
    e.quantize_bits = field<int>(m, "quantize_bits", where, false, 0);
    if (e.quantize_bits != 0 && (e.quantize_bits < 2 || e.quantize_bits > 5))
      throw_error(ErrorKind::BadConfig, where, ": quantize_bits ", std::to_string(e.quantize_bits), " is not 2..5");
    e.download_bytes = field<uint64_t>(m, "download_bytes", where, true, 0);
    e.disk_bytes = field<uint64_t>(m, "disk_bytes", where, false, e.download_bytes);
    e.parameters = field<int64_t>(m, "parameters", where, false, 0);
    e.license = field<std::string>(m, "license", where, true, "");
    e.gated = field<std::string>(m, "gated", where, true, "false");
    if (e.gated != "false" && e.gated != "auto" && e.gated != "manual")
      throw_error(ErrorKind::BadConfig, where, ": gated must be \"false\", \"auto\" or \"manual\", not '", e.gated, "'");
    e.files = field<std::vector<std::string>>(m, "files", where, false, {});
    e.notes = field<std::string>(m, "notes", where, false, "");
    e.loadable = field<bool>(m, "loadable", where, false, true);
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<CatalogEntry> load_catalog(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw_error(ErrorKind::Io, "cannot open model catalog ", file.string());
  std::stringstream text;
  text << in.rdbuf();
  return parse_catalog(text.str(), file.string());
}

fs::path default_catalog_path() {
  if (const char* env = std::getenv("HLWQ_CATALOG"); env && *env) return env;
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    fs::path installed = exe.parent_path().parent_path() / "share" / "hlwq" / "catalog.json";
    if (fs::exists(installed, ec)) return installed;
  }
#ifdef HLWQ_SOURCE_CATALOG
  return HLWQ_SOURCE_CATALOG;
#else
  return "catalog.json";
#endif
}

CatalogEntry entry_from_model_info(const ModelInfo& info) {
  CatalogEntry e;
  e.id = info.id;
  e.title = info.id;
  e.repo = info.id;
  e.license = info.license;
  e.gated = info.gated;
  e.curated = false;
  bool hlwq = false, safetensors = false;
  for (const auto& f : info.siblings) {
    e.download_bytes += f.size;
    if (f.path == "hlwq_config.json" || f.path == "polar_config.json") hlwq = true;
    if (f.path.size() > 12 && f.path.ends_with(".safetensors")) safetensors = true;
  }
  e.disk_bytes = e.download_bytes;
  e.format = hlwq ? "hlwq" : safetensors ? "safetensors" : "unknown";
  e.loadable = safetensors;
  return e;
}

std::vector<CatalogRow> browse_models(const std::vector<CatalogEntry>& catalog, const HubClient* client,
                                      const std::string& query, const FitChecker& fit, int search_limit) {
  std::vector<CatalogRow> rows;
  std::string q = lower(query);
  auto verdict = [&](const CatalogEntry& e) { return fit ? fit(e) : FitResult{}; };
  for (const auto& e : catalog)
    if (q.empty() || lower(e.title).find(q) != std::string::npos || lower(e.repo).find(q) != std::string::npos)
      rows.push_back({e, verdict(e)});
  if (client && !query.empty() && !client->settings().offline) {
    try {
      for (const auto& info : client->search(query, search_limit)) {
        bool known = std::any_of(catalog.begin(), catalog.end(), [&](const CatalogEntry& e) { return e.repo == info.id; });
        if (known || info.id.empty()) continue;
        CatalogEntry e = entry_from_model_info(info);
        rows.push_back({e, verdict(e)});
      }
    } catch (const Error&) {
      // No network: the curated rows are still useful; the caller shows them.
    }
  }
  return rows;
}

}  // namespace hlwq::hub
