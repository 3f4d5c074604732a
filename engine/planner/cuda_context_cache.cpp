#include "planner/cuda_context_cache.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <system_error>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace hlwq::planner {

namespace fs = std::filesystem;
using nlohmann::json;

fs::path default_context_cache_path() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  fs::path base;
  if (xdg && *xdg && fs::path(xdg).is_absolute()) {
    base = xdg;
  } else {
    const char* home = std::getenv("HOME");
    base = fs::path(home && *home ? home : "/tmp") / ".cache";
  }
  return base / "hlwq" / "cuda_context.json";
}

CudaContextCache::CudaContextCache(fs::path path) : path_(std::move(path)) {}

namespace {

json read_entries(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return json::array();
  json doc = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || !doc.contains("entries") || !doc["entries"].is_array()) return json::array();
  json valid = json::array();
  for (const json& e : doc["entries"])
    if (e.is_object() && e.value("gpu", json()).is_string() && e.value("driver", json()).is_string() &&
        e.value("bytes", json()).is_number_unsigned())
      valid.push_back(e);
  return valid;
}

}  // namespace

std::optional<uint64_t> CudaContextCache::lookup(const std::string& gpu, const std::string& driver) const {
  for (const json& e : read_entries(path_))
    if (e["gpu"] == gpu && e["driver"] == driver) return e["bytes"].get<uint64_t>();
  return std::nullopt;
}

std::optional<uint64_t> CudaContextCache::lookup_any_driver(const std::string& gpu) const {
  std::optional<uint64_t> found;
  for (const json& e : read_entries(path_))  // entries are appended: the last one is the latest
    if (e["gpu"] == gpu) found = e["bytes"].get<uint64_t>();
  return found;
}

std::vector<CudaContextCache::Entry> CudaContextCache::entries() const {
  std::vector<Entry> out;
  for (const json& e : read_entries(path_))
    out.push_back({e["gpu"].get<std::string>(), e["driver"].get<std::string>(), e["bytes"].get<uint64_t>()});
  return out;
}

void CudaContextCache::store(const std::string& gpu, const std::string& driver, uint64_t bytes) const {
  json entries = json::array();
  for (const json& e : read_entries(path_))
    if (!(e["gpu"] == gpu && e["driver"] == driver)) entries.push_back(e);
  entries.push_back({{"gpu", gpu}, {"driver", driver}, {"bytes", bytes}});

  std::error_code ec;
  fs::create_directories(path_.parent_path(), ec);
  if (ec) throw_error(ErrorKind::Io, path_.parent_path().string(), ": cannot create the cache folder: ", ec.message());
  const fs::path temp = path_.string() + ".tmp";
  {
    std::ofstream out(temp, std::ios::trunc);
    out << json{{"entries", entries}}.dump(2) << "\n";
    if (!out.flush()) throw_error(ErrorKind::Io, temp.string(), ": cannot write the CUDA context cache");
  }
  fs::rename(temp, path_, ec);
  if (ec) throw_error(ErrorKind::Io, path_.string(), ": cannot replace the CUDA context cache: ", ec.message());
}

}  // namespace hlwq::planner
