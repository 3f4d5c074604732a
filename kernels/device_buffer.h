#pragma once
// A device region: either owned (one cudaMalloc, freed here: the bench's own buffers, tests)
// or a view into an arena of the VRAM plan (device_arenas.h), which owns the memory. The
// backend holds only views, so every byte it uses was counted by the planner; an owned
// buffer's out-of-memory surfaces as Error{OutOfMemory} naming what was being allocated.
#include <cuda_runtime.h>

#include <cstddef>
#include <string>
#include <utility>

#include "cuda_check.h"

namespace hlwq::cuda {

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(std::size_t bytes, const std::string& what) : bytes_(bytes), owned_(true) {
    if (bytes == 0) return;
    const std::string call = "cudaMalloc(" + std::to_string(bytes) + " bytes for " + what + ")";
    check(cudaMalloc(&ptr_, bytes), call.c_str());
  }
  // A region that lives inside memory someone else owns (an arena): never freed here.
  static DeviceBuffer view(void* ptr, std::size_t bytes) {
    DeviceBuffer b;
    b.ptr_ = ptr;
    b.bytes_ = bytes;
    return b;
  }
  ~DeviceBuffer() { release(); }
  DeviceBuffer(DeviceBuffer&& o) noexcept
      : ptr_(std::exchange(o.ptr_, nullptr)), bytes_(std::exchange(o.bytes_, 0)), owned_(std::exchange(o.owned_, false)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      release();
      ptr_ = std::exchange(o.ptr_, nullptr);
      bytes_ = std::exchange(o.bytes_, 0);
      owned_ = std::exchange(o.owned_, false);
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  template <typename T = void>
  T* get() const { return static_cast<T*>(ptr_); }
  std::size_t bytes() const { return bytes_; }
  bool owned() const { return owned_; }

 private:
  void release() {
    if (ptr_ && owned_) cudaFree(ptr_);
    ptr_ = nullptr;
  }
  void* ptr_ = nullptr;
  std::size_t bytes_ = 0;
  bool owned_ = false;
};

}  // namespace hlwq::cuda
