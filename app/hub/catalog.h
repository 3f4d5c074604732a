#pragma once
// The curated model list shipped with the app (app/hub/catalog.json), merged with Hub search
// results, each with a fit verdict from the VRAM planner before anything is downloaded.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "hub/hub_client.h"

namespace hlwq::hub {

struct CatalogEntry {
  std::string id;                  // stable key, e.g. "qwopus3.5-27b-v3"
  std::string title;
  std::string repo;                // "org/name" to download
  std::string revision = "main";
  std::string format;              // "bf16" (quantized while downloading), "hlwq-q5", ...
  int quantize_bits = 0;           // >0: download_and_quantize with these bits
  uint64_t download_bytes = 0;     // bytes fetched from the Hub
  uint64_t disk_bytes = 0;         // bytes kept on disk afterwards
  int64_t parameters = 0;
  std::string license;
  std::string gated = "false";     // "false", "auto", "manual"
  std::vector<std::string> files;  // globs passed as DownloadRequest::include
  std::string notes;
  bool loadable = true;            // false: listed so users know why not (e.g. a torchao pickle)
  bool curated = true;             // false: came from Hub search
};

// Parses catalog JSON; throws Error{BadJson}/{BadConfig} naming the file and the field.
std::vector<CatalogEntry> load_catalog(const std::filesystem::path& file);
std::vector<CatalogEntry> parse_catalog(const std::string& json_text, const std::string& source_name);
// The catalog installed next to the binary or in the source tree (HLWQ_CATALOG overrides).
std::filesystem::path default_catalog_path();

enum class FitVerdict { Unknown, Fits, Tight, DoesNotFit };
const char* to_string(FitVerdict verdict);

struct FitResult {
  FitVerdict verdict = FitVerdict::Unknown;
  uint64_t needed_bytes = 0;       // VRAM the planner predicts
  uint64_t available_bytes = 0;
  std::string detail;              // one line for the badge tooltip
};

// Hook to engine/planner: given an entry, predict whether it fits the user's GPU. The desktop
// app passes the planner's function; without one every verdict is Unknown.
using FitChecker = std::function<FitResult(const CatalogEntry&)>;

struct CatalogRow {
  CatalogEntry entry;
  FitResult fit;
};

// Curated entries first (filtered by `query` when not empty), then Hub search results not
// already curated. Search failures (offline, no network) leave only the curated rows.
std::vector<CatalogRow> browse_models(const std::vector<CatalogEntry>& catalog, const HubClient* client,
                                      const std::string& query, const FitChecker& fit, int search_limit = 20);

CatalogEntry entry_from_model_info(const ModelInfo& info);

}  // namespace hlwq::hub
