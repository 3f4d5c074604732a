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

// A synthetic model's ModelSpec: every Linear at dims.weight_bits.
planner::ModelSpec model_spec_for(const Qwen35Dims& dims, const std::string& name);
// A checkpoint's: each Linear at the width of its tensor in `store` (lm_head: the embedding's
// codes when tied), the most common width as weight_bits and the rest in linear_bits.
// Tensors the store lacks are planned at weight_bits (the loader names them when it binds).
planner::ModelSpec model_spec_for(const qwen35::Config& config, const WeightStore& store, const std::string& name);

// make_plan for `model` on the current device as detect_gpu() sees it (free memory read after
// the context exists).
planner::Plan plan_for_device(const planner::ModelSpec& model, const planner::PlanOptions& options);

}  // namespace hlwq::cuda
