#pragma once
// Every tensor the text model puts on the device, with its shape, derived from the config
// (qwen35.md sections 1-4, hlwq-format.md 4.4). Vision tower and mtp.* are never loaded.
#include <cstdint>
#include <string>
#include <vector>

#include "models/qwen35/qwen35_config.h"

namespace hlwq::planner {

struct TensorShape {
  std::string name;            // parameter name as in the checkpoint
  int64_t rows = 0;            // Linear: out; dense: numel
  int64_t cols = 1;            // Linear: in; dense: 1
  bool linear = false;         // HLWQ-quantized Linear
};

// In load order: layer by layer, then the final norm and lm_head. Excludes embed_tokens
// (embedding_shape) because its placement is decided separately.
std::vector<TensorShape> weight_inventory(const qwen35::Config& config);
TensorShape embedding_shape(const qwen35::Config& config);

}  // namespace hlwq::planner
