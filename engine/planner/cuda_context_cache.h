#pragma once
// The CUDA context (driver state, loaded kernels, cuBLAS handle) costs device memory no
// allocation of ours accounts for. The backend measures it once per GPU and driver
// (cudaMemGetInfo before and after creating the context and the cuBLAS handle) and records it
// here; plans made later, even without a GPU, use the recorded value. File:
// $XDG_CACHE_HOME/hlwq/cuda_context.json (~/.cache/hlwq/... when unset):
//   {"entries": [{"gpu": "...", "driver": "...", "bytes": N}, ...]}
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace hlwq::planner {

std::filesystem::path default_context_cache_path();

class CudaContextCache {
 public:
  explicit CudaContextCache(std::filesystem::path path = default_context_cache_path());

  // A missing file is empty. A corrupt one reads as empty too (it is a cache, not user data).
  std::optional<uint64_t> lookup(const std::string& gpu, const std::string& driver) const;
  // Latest measurement for this GPU with any driver (planning without a device).
  std::optional<uint64_t> lookup_any_driver(const std::string& gpu) const;
  struct Entry {
    std::string gpu;
    std::string driver;
    uint64_t bytes = 0;
  };
  std::vector<Entry> entries() const;  // in the order stored: the last is the latest
  // Replaces the entry for (gpu, driver) and writes the file atomically (temp + rename).
  // Throws Error{Io} naming the file when it cannot be written.
  void store(const std::string& gpu, const std::string& driver, uint64_t bytes) const;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace hlwq::planner
