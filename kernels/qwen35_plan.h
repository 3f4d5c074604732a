#pragma once
// VRAM plans for the CUDA backend's Qwen3.5 models (planner/vram_plan.h is the contract):
// the same make_plan that `hlwq fit` runs, for the device in hand. Host C++20 only.
#include <string>

#include "models/qwen35/qwen35_config.h"
#include "planner/vram_plan.h"
#include "qwen35_gpu.h"

namespace hlwq::cuda {

// The qwen35::Config of a synthetic model's sizes (weight prefix "model.language_model.").
qwen35::Config config_for(const Qwen35Dims& dims);

// make_plan for `config` at 5-bit HLWQ weights (the only width the kernels take) on the
// current device as detect_gpu() sees it (free memory read after the context exists).
planner::Plan plan_for_device(const qwen35::Config& config, const planner::PlanOptions& options, const std::string& name);

}  // namespace hlwq::cuda
