#pragma once
// Scratch of Qwen35Gpu::prefill (qwen35_prefill.cu): every buffer one chunk of up to
// `chunk` rows needs, sized by formula from the chunk and the model's dimensions, so the
// VRAM planner (Scratch arena, "activations of one prefill chunk") can reproduce it.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <string>
#include <vector>

#include "device_buffer.h"

namespace hlwq::cuda {

struct Qwen35Dims;
class Qwen35Gpu;

struct PrefillScratchSizes {
  struct Item {
    std::string name;
    uint64_t bytes;
  };
  std::vector<Item> items;
  uint64_t total() const {
    uint64_t b = 0;
    for (auto& i : items) b += i.bytes;
    return b;
  }
};

// Largest expanded-weight slice (bf16 elements) prefill keeps: bigger matrices go in row slices.
constexpr uint64_t kPrefillWeightSliceElems = uint64_t(1) << 26;  // 128 MiB

PrefillScratchSizes prefill_scratch_sizes(const Qwen35Dims& dims, int chunk);

struct PrefillScratch {
  int chunk = 0;
  cublasHandle_t cublas = nullptr;
  bool owns_cublas = true;  // false: the model's handle (Qwen35Gpu::set_cublas_workspace)
  DeviceBuffer tokens, x, act, proj, mix, out, gates, weights;
  std::vector<std::pair<const char*, cudaEvent_t>>* marks = nullptr;  // stage timing (prefill_stage_ms)
  PrefillScratch(const Qwen35Dims& dims, int chunk);
  // The same buffers as views of the model's VRAM plan (scratch arena "prefill_*"), and the
  // cuBLAS handle on the plan's workspace: nothing allocated while a chat runs.
  PrefillScratch(const Qwen35Gpu& model, int chunk);
  ~PrefillScratch();
  PrefillScratch(const PrefillScratch&) = delete;
  PrefillScratch& operator=(const PrefillScratch&) = delete;
};

}  // namespace hlwq::cuda
