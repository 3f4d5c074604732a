#pragma once
// From a model directory to what a backend needs: the checkpoint's weights (any format the
// formats library reads), the family's config, and the eos ids of config.json and
// generation_config.json. Shared by the session and the CLI commands that drive a backend
// directly (logits, ppl, run --ids).
#include <filesystem>
#include <vector>

#include "formats/checkpoint.h"
#include "models/backend.h"

namespace hlwq {

struct LoadedModel {
  ModelSource source;
  std::filesystem::path dir;
  std::string format;              // "bf16", "hlwq-q5", ...
  std::vector<int32_t> eos_ids;    // config + generation_config
};

// quantize_bits: 0 keeps a dense checkpoint dense; 2..5 quantizes it once (cached on disk).
// Throws Error (UnsupportedArch for a model type no backend runs).
LoadedModel load_model(const std::filesystem::path& dir_or_file, int quantize_bits, const ProgressFn& progress = {});

}  // namespace hlwq

namespace hlwq {
// "1,2,3" -> ids; throws Error{InvalidArgument} naming the bad entry.
std::vector<int32_t> parse_token_ids(const std::string& csv);
}  // namespace hlwq
