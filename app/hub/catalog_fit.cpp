#include "hub/catalog_fit.h"

#include <nlohmann/json.hpp>

#include <fstream>

#include "core/error.h"
#include "planner/model_source.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace hlwq::hub {

namespace {

json read_json(const fs::path& file) {
  std::ifstream in(file);
  json j = json::parse(in, nullptr, false);
  if (j.is_discarded()) throw_error(ErrorKind::BadJson, file.string(), ": not valid JSON");
  return j;
}

std::string gib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f GiB", double(bytes) / double(uint64_t(1) << 30));
  return buf;
}

}  // namespace

FitVerdict to_fit_verdict(planner::Verdict verdict) {
  switch (verdict) {
    case planner::Verdict::Fits: return FitVerdict::Fits;
    case planner::Verdict::FitsReducedContext: return FitVerdict::Tight;
    case planner::Verdict::DoesNotFit: return FitVerdict::DoesNotFit;
  }
  return FitVerdict::Unknown;
}

FitChecker make_planner_fit_checker(Downloader& downloader, planner::GpuSpec gpu, planner::PlanOptions options) {
  return [&downloader, gpu, options](const CatalogEntry& entry) -> FitResult {
    FitResult result;
    result.available_bytes = gpu.free_bytes;
    if (!entry.loadable) {
      result.detail = "not loadable: " + entry.notes;
      return result;
    }
    try {
      const std::string revision = entry.revision.empty() ? "main" : entry.revision;
      // One listing tells which small JSON files exist; only those are fetched.
      DownloadRequest request{entry.repo, revision, {"config.json", "hlwq_config.json", "polar_config.json"}, {}};
      fs::path snapshot = downloader.download(request);
      json config = read_json(snapshot / "config.json");
      json hlwq_config = nullptr;
      for (const char* name : {"hlwq_config.json", "polar_config.json"})
        if (fs::exists(snapshot / name)) {
          hlwq_config = read_json(snapshot / name);
          break;
        }
      int bits = entry.quantize_bits > 0 ? entry.quantize_bits : 5;
      planner::ModelSpec spec = planner::model_spec_from_json(config, hlwq_config, bits, entry.repo);
      planner::FitReport report = planner::check_fit(spec, gpu, options);
      result.verdict = to_fit_verdict(report.verdict);
      result.needed_bytes = report.plan.required_bytes();
      result.detail = std::string(planner::to_string(report.verdict)) + ": needs " + gib(result.needed_bytes) + " of " +
                      gib(gpu.free_bytes) + " at " + std::to_string(options.context_length) + " tokens; longest context " +
                      std::to_string(report.max_context);
    } catch (const std::exception& e) {
      result.verdict = FitVerdict::Unknown;
      result.detail = e.what();
    }
    return result;
  };
}

}  // namespace hlwq::hub
