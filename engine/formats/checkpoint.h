#pragma once
// Loads any checkpoint a user brings into one WeightStore (hlwq-format.md section 4):
//  1. hlwq-q5/q4/q3 packed repos (hlwq_config.json, or the older polar_config.json),
//  2. legacy polar_engine_v5 / v4 repos,
//  3. plain BF16/F16/F32 safetensors checkpoints: kept dense (quantize_bits = 0) or quantized
//     once to our format in a cache directory, so the next load maps the cached files.
// A PyTorch pickle (.pt/.pth/.bin/.pkl) is refused with the BF16-base route (spec 4.5).
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "formats/hlwq_codec.h"
#include "formats/tensor_policy.h"
#include "formats/weights.h"

namespace hlwq {

struct CheckpointOptions {
  int quantize_bits = 0;                      // dense sources only: 0 keeps them dense; 2..5 quantizes
  Codebook codebook = Codebook::Converged;
  ScaleKind scale = ScaleKind::Norm;
  std::filesystem::path cache_dir;            // empty: $HLWQ_CACHE_DIR, else $XDG_CACHE_HOME/hlwq-chat/quantized, else ~/.cache/...
  TensorPolicy policy = make_tensor_policy();  // which tensors are Linears (and which to drop)
};

struct Checkpoint {
  std::filesystem::path dir;
  nlohmann::json config;       // config.json
  nlohmann::json hlwq_config;  // hlwq_config.json / polar_config.json, or null
  WeightStore weights;
  std::string format;          // "bf16", "f16", "f32", "hlwq-q5", "hlwq-q4", "hlwq-q3", "polar_engine_v5", ...
  std::filesystem::path quantized_from;  // for a dense source quantized at load: the cache dir it came from
};

using ProgressFn = std::function<void(double fraction, const std::string& what)>;

// dir_or_file: a model directory, or one .safetensors file inside it. Throws Error.
Checkpoint load_checkpoint(const std::filesystem::path& dir_or_file, const CheckpointOptions& opts = {},
                           const ProgressFn& progress = {});

// Where load_checkpoint caches a dense checkpoint quantized with these options.
std::filesystem::path quantized_cache_path(const std::filesystem::path& model_dir, const CheckpointOptions& opts);

// Formats named by hlwq_config.json / polar_config.json that load_checkpoint reads.
const std::vector<std::string>& supported_formats();

}  // namespace hlwq
