#pragma once
// The two quantized-repo loaders behind load_checkpoint (spec 4.1/4.3 and 4.2). Internal to
// hlwq_formats; exposed as a header so tests can drive them on hand-built sets.
#include <filesystem>

#include <nlohmann/json.hpp>

#include "formats/safetensors.h"
#include "formats/tensor_policy.h"
#include "formats/weights.h"

namespace hlwq {

// hlwq-q* files: P__packed / P__norms / P__meta become QuantTensor P; the rest stay dense.
void load_hlwq_packed(const SafetensorsSet& set, const nlohmann::json& hlwq_config,
                      const std::filesystem::path& config_path, const TensorPolicy& policy, WeightStore& store);
// polar_engine_v5 / v4: L.codes / L.norms / L.ct_scaled|L.ct become QuantTensor "L.weight".
void load_polar_legacy(const SafetensorsSet& set, const nlohmann::json& polar_config,
                       const std::filesystem::path& config_path, const TensorPolicy& policy, WeightStore& store);

}  // namespace hlwq
