#pragma once
// The CUDA context's own device memory (driver state, loaded kernels, the cuBLAS handle),
// measured by the backend once per GPU and driver and recorded in the planner's cache
// (planner/cuda_context_cache.h), so later plans without a device use the real figure.
// NVML's per-process count is the only reading that excludes other processes; it is loaded
// at run time (dlopen), so nothing links against the driver's library.
#include <cstdint>
#include <optional>
#include <string>

namespace hlwq::cuda {

// "CUDA driver 13.0": the cache's driver key (cudaDriverGetVersion).
std::string cuda_driver_name();

// Device memory NVML attributes to this process on the current device; nullopt when NVML is
// absent or does not list this process (containers with their own process ids).
std::optional<uint64_t> this_process_device_bytes();

// Called after the context and the cuBLAS handle exist and before anything is allocated:
// stores this_process_device_bytes() for (gpu_name, cuda_driver_name()) unless the cache
// already has it. Never throws: a cache that cannot be read or written is simply skipped.
void record_cuda_context_cost(const std::string& gpu_name);

}  // namespace hlwq::cuda
