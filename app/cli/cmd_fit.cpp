// `hlwq fit`: will this model fit this GPU, at what context, in which KV mode? Answers from
// the same plan the CUDA backend allocates (engine/planner), for a local model or a Hub repo
// before anything is downloaded.
#if HLWQ_HAVE_PLANNER

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "args.h"
#include "kv_flag.h"
#include "command.h"
#include "core/error.h"
#include "planner/fit.h"
#include "planner/fit_json.h"
#include "planner/gpu_table.h"
#include "planner/model_source.h"

#if HLWQ_HAVE_HUB
#include "hub/http.h"
#include "hub/hub_client.h"
#endif

namespace hlwq::cli {
namespace {

using planner::kGiB;
using planner::kMiB;

const char* kUsage =
    "usage: hlwq fit (-m MODEL_DIR | -m CONFIG.json | --repo ORG/NAME) (--gpu NAME | --vram-gb N)\n"
    "                [--ctx TOKENS] [--kv fp16|q4|q3|q2|kXvY] [--bits 5|4|3] [--embedding auto|host|device]\n"
    "                [--free-gb N] [--margin-mib N] [--chunk ROWS] [--revision REV] [--json] [--list-gpus]\n"
    "\n"
    "Predicts the device memory of a model: an itemised breakdown, a verdict, the largest context\n"
    "for each KV mode and the best weight width that fits. --bits is the target for BF16 sources\n"
    "(HLWQ repos keep their own). --free-gb: memory already used by others (default: all free).\n";

std::string mib(uint64_t bytes) {
  // Thousands separators: the numbers are read side by side in a column.
  std::string digits = std::to_string((bytes + kMiB / 2) / kMiB);
  for (int i = int(digits.size()) - 3; i > 0; i -= 3) digits.insert(size_t(i), ",");
  return digits;
}

std::string tokens(int64_t n) {
  std::string digits = std::to_string(n);
  for (int i = int(digits.size()) - 3; i > 0; i -= 3) digits.insert(size_t(i), ",");
  return digits;
}

#if HLWQ_HAVE_HUB
// The Hub client lists files and sizes; the two small JSON files are fetched here. Relative
// redirects (renamed repos) are followed; the token only goes to the endpoint's origin.
std::string fetch_small_file(const hub::HubClient& client, const std::string& repo, const std::string& path,
                             const std::string& revision) {
  std::string url = client.resolve_url(repo, path, revision);
  for (int hop = 0; hop < 5; ++hop) {
    hub::HttpRequest request;
    request.url = url;
    request.with_token = true;
    const hub::HttpResponse response = hub::http_perform(client.settings(), request);
    if (response.ok()) return response.body;
    const std::string location = response.header("location");
    if (response.status >= 300 && response.status < 400 && !location.empty()) {
      url = hub::resolve_location(url, location);
      continue;
    }
    hub::throw_http_error(client.settings(), response, url, repo, "file " + path + " of " + repo);
  }
  throw_error(ErrorKind::Network, repo, ": too many redirects fetching ", path);
}

nlohmann::json parse_remote_json(const std::string& text, const std::string& repo, const std::string& path) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw_error(ErrorKind::BadJson, repo, "/", path, ": not valid JSON");
  return j;
}

struct RemoteModel {
  planner::ModelSpec spec;
  uint64_t download_bytes = 0;
};

RemoteModel remote_model_spec(const std::string& repo, const std::string& revision, int target_bits) {
  hub::validate_repo_id(repo);
  const hub::HubClient client(hub::HubSettings::from_environment());
  const hub::ModelInfo info = client.model_info(repo, revision == "main" ? std::nullopt : std::optional(revision));
  bool has_config = false;
  std::string hlwq_config_path;
  RemoteModel out;
  for (const hub::RepoFile& f : info.siblings) {
    if (f.path == "config.json") has_config = true;
    if (f.path == "hlwq_config.json" || (f.path == "polar_config.json" && hlwq_config_path.empty())) hlwq_config_path = f.path;
    // What a text-chat download fetches: weights and the small files, no pickles or images.
    if (f.path.ends_with(".safetensors") || f.path.ends_with(".json") || f.path.ends_with(".jinja") ||
        f.path.ends_with(".txt"))
      out.download_bytes += f.size;
  }
  if (!has_config) throw_error(ErrorKind::BadConfig, repo, ": the repository has no config.json");
  const std::string rev = info.sha.empty() ? revision : info.sha;  // pin both files to one commit
  const nlohmann::json config = parse_remote_json(fetch_small_file(client, repo, "config.json", rev), repo, "config.json");
  nlohmann::json hlwq;
  if (!hlwq_config_path.empty())
    hlwq = parse_remote_json(fetch_small_file(client, repo, hlwq_config_path, rev), repo, hlwq_config_path);
  out.spec = planner::model_spec_from_json(config, hlwq, target_bits, repo);
  return out;
}
#endif

// alternative: the same check at the best width when that is not the requested one.
void print_text(const planner::FitReport& r, const planner::FitReport* alternative, uint64_t download_bytes) {
  const planner::Plan& p = r.plan;
  std::printf("model     %s\n", p.model.name.c_str());
  std::printf("weights   Q%d, %s\n", p.model.weight_bits,
              p.model.prequantized ? "HLWQ repo" : "BF16 source quantized once at load");
  if (download_bytes) std::printf("download  %s MiB\n", mib(download_bytes).c_str());
  std::printf("gpu       %s: %s MiB total, %s MiB free\n", p.gpu.name.c_str(), mib(p.gpu.total_bytes).c_str(),
              mib(p.gpu.free_bytes).c_str());
  std::printf("request   %s tokens, KV %s, embedding %s -> %s\n\n", tokens(p.options.context_length).c_str(),
              kv_name(p.options.kv).c_str(), planner::to_string(p.options.embedding), planner::to_string(p.embedding));
  std::printf("  %-18s %10s  %s\n", "item", "MiB", "detail");
  for (const planner::PlanItem& item : p.items())
    std::printf("  %-18s %10s  %s\n", item.name.c_str(), mib(item.bytes).c_str(), item.detail.c_str());
  std::printf("  %-18s %10s  of %s MiB free\n\n", "required", mib(p.required_bytes()).c_str(), mib(p.gpu.free_bytes).c_str());

  std::printf("verdict   %s", planner::to_string(r.verdict));
  if (r.verdict == planner::Verdict::FitsReducedContext) std::printf(": up to %s tokens", tokens(r.max_context).c_str());
  std::printf("\n\nlargest context per KV mode (same GPU, weights and embedding setting):\n");
  for (const planner::ModeFit& m : r.per_mode)
    std::printf("  %-8s %12s tokens  (%s bytes/token)\n", kv_name(m.kv).c_str(), tokens(m.max_context).c_str(),
                tokens(int64_t(planner::kv_bytes_per_token(p.model.config, m.kv))).c_str());
  if (r.best_weight_bits)
    std::printf("\nbest weight width at %s tokens, KV %s: Q%d\n", tokens(p.options.context_length).c_str(),
                kv_name(p.options.kv).c_str(), *r.best_weight_bits);
  if (alternative) {
    std::printf("at Q%d:", alternative->plan.model.weight_bits);
    for (const planner::ModeFit& m : alternative->per_mode)
      std::printf("  %s %s", kv_name(m.kv).c_str(), tokens(m.max_context).c_str());
    std::printf(" tokens\n");
  }
  else
    std::printf("\nno weight width fits at %s tokens, KV %s%s\n", tokens(p.options.context_length).c_str(),
                kv_name(p.options.kv).c_str(), p.model.prequantized ? " (an HLWQ repo keeps its own bits)" : "");
}

planner::EmbeddingPlacement parse_embedding(const std::string& text) {
  if (text == "auto") return planner::EmbeddingPlacement::Auto;
  if (text == "host") return planner::EmbeddingPlacement::Host;
  if (text == "device") return planner::EmbeddingPlacement::Device;
  throw_error(ErrorKind::InvalidArgument, "option --embedding: '", text, "' is not auto, host or device");
}

int run_fit(const std::vector<std::string>& argv) {
  Args args(argv,
            {"m", "model", "repo", "revision", "gpu", "vram-gb", "free-gb", "ctx", "kv", "bits", "embedding",
             "margin-mib", "chunk"},
            {"json", "help", "list-gpus"});
  if (args.flag("help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (args.flag("list-gpus")) {
    for (const planner::KnownGpu& g : planner::known_gpus())
      std::printf("%-24s %8s MiB  compute %d.%d\n", g.name, mib(g.total_mib * kMiB).c_str(), g.cc_major, g.cc_minor);
    return 0;
  }
  const auto model_path = args.value("m") ? args.value("m") : args.value("model");
  const auto repo = args.value("repo");
  if (!model_path == !repo || !args.positionals().empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }

  const int bits = args.int_or("bits", 5);
  if (bits < 2 || bits > 8) throw_error(ErrorKind::InvalidArgument, "option --bits: ", std::to_string(bits), " is not 2..8");
  planner::ModelSpec model;
  uint64_t download_bytes = 0;
  if (model_path) {
    model = planner::load_model_spec(*model_path, bits);
  } else {
#if HLWQ_HAVE_HUB
    RemoteModel remote = remote_model_spec(*repo, args.value_or("revision", "main"), bits);
    model = std::move(remote.spec);
    download_bytes = remote.download_bytes;
#else
    throw_error(ErrorKind::InvalidArgument, "--repo needs the Hub client (built without libcurl/OpenSSL)");
#endif
  }

  planner::GpuSpec gpu;
  if (auto name = args.value("gpu")) {
    if (args.value("vram-gb")) throw_error(ErrorKind::InvalidArgument, "give --gpu or --vram-gb, not both");
    gpu = planner::find_gpu(*name).spec();
  } else if (args.value("vram-gb")) {
    gpu = planner::gpu_from_gib(args.double_or("vram-gb", 0));
  } else {
    throw_error(ErrorKind::InvalidArgument, "say which GPU: --gpu NAME (hlwq fit --list-gpus) or --vram-gb N");
  }
  // A context cost measured on this card earlier (by the CUDA backend) beats the default.
  if (auto measured = planner::cached_context_bytes(gpu.name)) gpu.cuda_context_bytes = *measured;
  if (args.value("free-gb")) {
    const double free_gib = args.double_or("free-gb", 0);
    if (!(free_gib > 0) || uint64_t(free_gib * double(kGiB)) > gpu.total_bytes)
      throw_error(ErrorKind::InvalidArgument, "option --free-gb: ", *args.value("free-gb"), " is not within the GPU's ",
                  mib(gpu.total_bytes), " MiB");
    gpu.free_bytes = uint64_t(free_gib * double(kGiB));
  }

  planner::PlanOptions options;
  options.context_length = args.int_or("ctx", 8192);
  options.kv = kv_option(args, options.kv);
  options.embedding = parse_embedding(args.value_or("embedding", "auto"));
  const int margin = args.int_or("margin-mib", 512);
  if (margin < 0) throw_error(ErrorKind::InvalidArgument, "option --margin-mib: must not be negative");
  options.safety_margin = uint64_t(margin) * kMiB;
  options.prefill_chunk = args.int_or("chunk", options.prefill_chunk);

  const planner::FitReport report = planner::check_fit(model, gpu, options);
  if (args.flag("json")) {
    nlohmann::json j = planner::fit_report_json(report);
    if (download_bytes) j["download_bytes"] = download_bytes;
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::optional<planner::FitReport> alternative;
    if (report.best_weight_bits && *report.best_weight_bits != model.weight_bits) {
      planner::ModelSpec at_best = model;
      at_best.weight_bits = *report.best_weight_bits;
      alternative = planner::check_fit(at_best, gpu, options);
    }
    print_text(report, alternative ? &*alternative : nullptr, download_bytes);
  }
  return 0;
}

}  // namespace

HLWQ_COMMAND("fit", "will a model fit a GPU: VRAM breakdown, largest context per KV mode", run_fit);

}  // namespace hlwq::cli

#endif  // HLWQ_HAVE_PLANNER
