#include "cuda_context_probe.h"

#include <cuda_runtime.h>
#include <dlfcn.h>
#include <unistd.h>

#include "planner/cuda_context_cache.h"

namespace hlwq::cuda {
namespace {

// nvml.h's nvmlProcessInfo_v1_t: what the unversioned nvmlDeviceGetComputeRunningProcesses
// symbol fills, kept by every driver for binary compatibility.
struct NvmlProcessInfoV1 {
  unsigned int pid;
  unsigned long long used_gpu_memory;
};
using NvmlDevice = void*;
constexpr unsigned long long kNvmlValueNotAvailable = ~0ull;

}  // namespace

std::string cuda_driver_name() {
  int v = 0;
  if (cudaDriverGetVersion(&v) != cudaSuccess) return "CUDA driver unknown";
  return "CUDA driver " + std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10);
}

std::optional<uint64_t> this_process_device_bytes() {
  void* lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) return std::nullopt;
  auto init = reinterpret_cast<int (*)()>(dlsym(lib, "nvmlInit_v2"));
  auto shutdown = reinterpret_cast<int (*)()>(dlsym(lib, "nvmlShutdown"));
  auto by_bus = reinterpret_cast<int (*)(const char*, NvmlDevice*)>(dlsym(lib, "nvmlDeviceGetHandleByPciBusId_v2"));
  auto processes = reinterpret_cast<int (*)(NvmlDevice, unsigned int*, NvmlProcessInfoV1*)>(
      dlsym(lib, "nvmlDeviceGetComputeRunningProcesses"));
  std::optional<uint64_t> found;
  int dev = 0;
  char bus[32] = {};
  if (init && shutdown && by_bus && processes && cudaGetDevice(&dev) == cudaSuccess &&
      cudaDeviceGetPCIBusId(bus, sizeof bus, dev) == cudaSuccess && init() == 0) {
    NvmlDevice handle = nullptr;
    NvmlProcessInfoV1 info[128] = {};
    unsigned int n = 128;
    if (by_bus(bus, &handle) == 0 && processes(handle, &n, info) == 0) {
      const unsigned int self = unsigned(getpid());
      for (unsigned int i = 0; i < n && i < 128; ++i)
        if (info[i].pid == self && info[i].used_gpu_memory != kNvmlValueNotAvailable) found = info[i].used_gpu_memory;
    }
    shutdown();
  }
  dlclose(lib);
  return found;
}

void record_cuda_context_cost(const std::string& gpu_name) {
  try {
    const planner::CudaContextCache cache;
    const std::string driver = cuda_driver_name();
    if (cache.lookup(gpu_name, driver)) return;
    if (const auto bytes = this_process_device_bytes(); bytes && *bytes > 0) cache.store(gpu_name, driver, *bytes);
  } catch (...) {
    // A cache is an optimisation: an unwritable home directory must not stop a model loading.
  }
}

}  // namespace hlwq::cuda
