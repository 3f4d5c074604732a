#pragma once
// Builds the planner's ModelSpec from what a model directory (or a Hub repo, before download)
// holds: config.json, and hlwq_config.json / polar_config.json for an HLWQ repo. Reads only
// these small JSON files, never the weights, so it answers in milliseconds.
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "planner/vram_plan.h"

namespace hlwq::planner {

// hlwq_config: the parsed hlwq_config.json / polar_config.json, or null for a BF16 source.
// For an HLWQ repo the bits come from its "bits" field, else from "format" ("hlwq-q4" -> 4;
// polar_engine_v5 -> 5) and target_bits is ignored; a "bits" object ({tensor: bits}, a
// mixed-width repo) fills ModelSpec::linear_bits over the format's width. A BF16 source is
// planned at target_bits.
// Throws Error{BadConfig} / Error{UnsupportedArch} naming `source` and the field.
ModelSpec model_spec_from_json(const nlohmann::json& config, const nlohmann::json& hlwq_config, int target_bits,
                               const std::string& source);

// A model directory, or its config.json. Throws Error{Io} / Error{BadJson} naming the file.
ModelSpec load_model_spec(const std::filesystem::path& dir_or_config, int target_bits);

}  // namespace hlwq::planner
