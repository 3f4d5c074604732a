#pragma once
// Common GPUs for planning without a device (before a download, on a laptop): memory as the
// driver reports it (cudaMemGetInfo total), not the marketing figure, and the compute
// capability that picks the default CUDA context cost.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "planner/vram_plan.h"

namespace hlwq::planner {

struct KnownGpu {
  const char* name;          // "RTX 4090", "H100 80GB"
  uint64_t total_mib;        // as reported by the driver
  int cc_major;
  int cc_minor;
  GpuSpec spec() const;      // free = total (nothing else running), context not yet created
};

const std::vector<KnownGpu>& known_gpus();
// Case-insensitive; ignores "NVIDIA", "GeForce", spaces and dashes, so "rtx4090",
// "NVIDIA GeForce RTX 4090" and "RTX 4090" all match. Throws Error{InvalidArgument} listing
// the known names when nothing matches.
const KnownGpu& find_gpu(std::string_view name);
// True when two spellings name the same card: "NVIDIA GeForce RTX 4090" and "RTX 4090".
bool same_gpu(std::string_view a, std::string_view b);
// The CUDA context cost measured on this card (any driver, the latest), from the cache the
// backend fills (cuda_context_cache.h); nullopt before the first measurement.
std::optional<uint64_t> cached_context_bytes(std::string_view gpu_name);

// A GPU given only by its memory (`--vram-gb 24`): total = free = gb GiB, unknown arch.
GpuSpec gpu_from_gib(double gib);

}  // namespace hlwq::planner
