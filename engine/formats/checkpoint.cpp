// Checkpoint loading: decides what a directory holds, then hands it to the right loader.
#include "formats/checkpoint.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "formats/checkpoint_loaders.h"
#include "formats/quantizer.h"
#include "formats/safetensors.h"

namespace hlwq {
namespace {

namespace fs = std::filesystem;

bool is_pickle(const fs::path& p) {
  const std::string ext = p.extension().string();
  return ext == ".pt" || ext == ".pth" || ext == ".bin" || ext == ".pkl" || ext == ".ckpt";
}

[[noreturn]] void refuse_pickle(const fs::path& file) {
  throw_error(ErrorKind::UnsupportedArch, file.string(),
              " is a PyTorch pickle, which HLWQ Chat never loads (unpickling runs arbitrary code, and the published "
              "27B file holds torchao INT4 weights in a GPU-only tiled layout). Download the BF16 base model instead "
              "(for Qwopus3.5-27B-v3-HLWQ-Q5: Jackrong/Qwopus3.5-27B-v3) and quantize it once with "
              "`hlwq quantize SRC DST --bits 5`, or load the BF16 directory directly and let the app quantize it");
}

nlohmann::json read_json(const fs::path& path, ErrorKind missing_kind) {
  std::ifstream in(path);
  if (!in) throw_error(missing_kind, path.string(), ": cannot open");
  auto j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded()) throw_error(ErrorKind::BadJson, path.string(), ": not valid JSON");
  if (!j.is_object()) throw_error(ErrorKind::BadJson, path.string(), ": not a JSON object");
  return j;
}

uint64_t fnv1a(uint64_t h, std::string_view s) {
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

fs::path cache_root(const CheckpointOptions& opts) {
  if (!opts.cache_dir.empty()) return opts.cache_dir;
  if (const char* d = std::getenv("HLWQ_CACHE_DIR"); d && *d) return d;
  if (const char* d = std::getenv("XDG_CACHE_HOME"); d && *d) return fs::path(d) / "hlwq-chat" / "quantized";
  if (const char* d = std::getenv("HOME"); d && *d) return fs::path(d) / ".cache" / "hlwq-chat" / "quantized";
  return fs::temp_directory_path() / "hlwq-chat-quantized";
}

std::string dense_format_name(const SafetensorsSet& set, const TensorPolicy& policy) {
  for (const auto& f : set.files())
    for (const auto& e : f->entries())
      if (policy.is_linear && policy.is_linear(e.name, e.shape)) {
        std::string n = dtype_name(e.dtype);
        std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return char(std::tolower(c)); });
        return n;
      }
  return "dense";
}

// Marks a finished cache entry; its absence means an interrupted quantization.
constexpr const char* kCacheDone = ".hlwq-complete";

}  // namespace

const std::vector<std::string>& supported_formats() {
  static const std::vector<std::string> list = {"hlwq-q5", "hlwq-q4", "hlwq-q3", "hlwq-q2", "polar_engine_v5",
                                                "polar_engine_v4"};
  return list;
}

fs::path quantized_cache_path(const fs::path& model_dir, const CheckpointOptions& opts) {
  std::error_code ec;
  const fs::path dir = fs::weakly_canonical(model_dir, ec);
  uint64_t h = 0xcbf29ce484222325ull;
  h = fnv1a(h, dir.string());
  for (const auto& shard : list_safetensors_shards(dir)) {
    h = fnv1a(h, shard.filename().string());
    h = fnv1a(h, std::to_string(fs::file_size(shard, ec)));
    h = fnv1a(h, std::to_string(fs::last_write_time(shard, ec).time_since_epoch().count()));
    // The tensor policy is code, so its decisions on this checkpoint's tensors go into the key:
    // a policy that quantizes or drops a different set never maps a stale cache.
    const SafetensorsFile file(shard);
    for (const auto& e : file.entries()) {
      const char* decision = opts.policy.drop && opts.policy.drop(e.name)                       ? "drop"
                             : opts.policy.is_linear && opts.policy.is_linear(e.name, e.shape) ? "quantize"
                                                                                                : "keep";
      h = fnv1a(fnv1a(h, e.name), decision);
    }
  }
  h = fnv1a(h, std::to_string(opts.quantize_bits));
  h = fnv1a(h, codebook_name(opts.codebook));
  h = fnv1a(h, opts.scale == ScaleKind::Mse ? "mse" : "norm");
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return cache_root(opts) / (dir.filename().string() + "-hlwq-q" + std::to_string(opts.quantize_bits) + "-" + hex);
}

Checkpoint load_checkpoint(const fs::path& dir_or_file, const CheckpointOptions& opts, const ProgressFn& progress) {
  Checkpoint ck;
  fs::path single_file;
  if (!fs::exists(dir_or_file)) throw_error(ErrorKind::Io, dir_or_file.string(), ": no such file or directory");
  if (fs::is_directory(dir_or_file)) {
    ck.dir = dir_or_file;
  } else {
    if (is_pickle(dir_or_file)) refuse_pickle(dir_or_file);
    if (dir_or_file.extension() != ".safetensors")
      throw_error(ErrorKind::UnsupportedArch, dir_or_file.string(),
                  ": not a model directory or .safetensors file");
    ck.dir = dir_or_file.parent_path().empty() ? fs::path(".") : dir_or_file.parent_path();
    single_file = dir_or_file;
  }
  const fs::path config_path = ck.dir / "config.json";
  if (!fs::exists(config_path)) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(ck.dir, ec))
      if (is_pickle(entry.path()) && single_file.empty()) refuse_pickle(entry.path());
    throw_error(ErrorKind::BadConfig, ck.dir.string(), ": config.json missing");
  }
  ck.config = read_json(config_path, ErrorKind::BadConfig);
  if (single_file.empty() && list_safetensors_shards(ck.dir).empty()) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(ck.dir, ec))
      if (is_pickle(entry.path())) refuse_pickle(entry.path());
    throw_error(ErrorKind::MissingTensor, ck.dir.string(), ": no .safetensors weights");
  }

  fs::path qcfg_path = ck.dir / "hlwq_config.json";
  if (!fs::exists(qcfg_path)) qcfg_path = ck.dir / "polar_config.json";
  if (fs::exists(qcfg_path)) {
    ck.hlwq_config = read_json(qcfg_path, ErrorKind::BadConfig);
    const auto f = ck.hlwq_config.find("format");
    if (f == ck.hlwq_config.end() || !f->is_string())
      throw_error(ErrorKind::BadConfig, qcfg_path.string(), ": missing string field \"format\"");
    ck.format = f->get<std::string>();
    if (std::find(supported_formats().begin(), supported_formats().end(), ck.format) == supported_formats().end()) {
      std::string list;
      for (const auto& s : supported_formats()) list += (list.empty() ? "" : ", ") + s;
      throw_error(ErrorKind::UnsupportedArch, qcfg_path.string(), ": format \"", ck.format,
                  "\" is not supported (supported: ", list, ")");
    }
    const SafetensorsSet set = SafetensorsSet::open(single_file.empty() ? ck.dir : single_file);
    if (progress) progress(0.0, "mapping " + ck.dir.string());
    if (ck.format.rfind("hlwq-q", 0) == 0)
      load_hlwq_packed(set, ck.hlwq_config, qcfg_path, opts.policy, ck.weights);
    else
      load_polar_legacy(set, ck.hlwq_config, qcfg_path, opts.policy, ck.weights);
    ck.weights.set_source(ck.dir.string() + " (" + ck.format + ")");
    if (progress) progress(1.0, "loaded " + ck.dir.string());
    return ck;
  }
  if (const auto qc = ck.config.find("quantization_config"); qc != ck.config.end() && qc->is_object()) {
    const auto m = qc->find("quant_method");
    const std::string method = m != qc->end() && m->is_string() ? m->get<std::string>() : "";
    if (method == "polarengine" || method == "polar")
      throw_error(ErrorKind::BadConfig, config_path.string(), ": quantization_config says quant_method \"", method,
                  "\" but the directory has neither hlwq_config.json nor polar_config.json");
  }

  // A dense checkpoint.
  if (opts.quantize_bits == 0) {
    const SafetensorsSet set = SafetensorsSet::open(single_file.empty() ? ck.dir : single_file);
    ck.format = dense_format_name(set, opts.policy);
    for (const auto& f : set.files()) {
      ck.weights.keep_alive(f->mapping());
      for (const auto& e : f->entries())
        if (!(opts.policy.drop && opts.policy.drop(e.name))) ck.weights.add_dense(f->tensor(e));
    }
    ck.weights.set_source(ck.dir.string() + " (" + ck.format + ")");
    if (progress) progress(1.0, "loaded " + ck.dir.string());
    return ck;
  }
  if (!single_file.empty())
    throw_error(ErrorKind::InvalidArgument, single_file.string(),
                ": quantizing at load needs the model directory, not one shard");
  codebook_table(opts.codebook, opts.quantize_bits);  // rejects a bad width before any work
  const fs::path cache = quantized_cache_path(ck.dir, opts);
  if (!fs::exists(cache / kCacheDone)) {
    std::error_code ec;
    fs::path partial = cache;
    partial += ".partial";
    fs::remove_all(partial, ec);
    QuantizeOptions q;
    q.bits = opts.quantize_bits;
    q.codebook = opts.codebook;
    q.scale = opts.scale;
    q.policy = opts.policy;
    if (progress) q.progress = [&](double f, const std::string& what) { progress(0.99 * f, "quantizing " + what); };
    quantize_checkpoint(ck.dir, partial, q);
    std::ofstream(partial / kCacheDone) << "done\n";
    fs::remove_all(cache, ec);
    fs::rename(partial, cache, ec);
    if (ec) throw_error(ErrorKind::Io, "cannot move ", partial.string(), " to ", cache.string(), ": ", ec.message());
  }
  ck.hlwq_config = read_json(cache / "hlwq_config.json", ErrorKind::BadConfig);
  ck.format = "hlwq-q" + std::to_string(opts.quantize_bits);
  load_hlwq_packed(SafetensorsSet::open(cache), ck.hlwq_config, cache / "hlwq_config.json", opts.policy, ck.weights);
  ck.quantized_from = cache;
  ck.weights.set_source(ck.dir.string() + " (" + ck.format + " via " + cache.string() + ")");
  if (progress) progress(1.0, "loaded " + ck.dir.string());
  return ck;
}

}  // namespace hlwq
