#pragma once
// The VRAM plan made real (planner/vram_plan.h is the contract): one cudaMalloc per non-empty
// arena of a planner::Plan, and every device buffer of the backend carved out of those. A
// buffer the plan has no room for is Error{Internal} at load, naming the arena and buffer;
// an arena the device cannot hold is Error{OutOfMemory} at load, with the plan's breakdown.
// After load nothing is allocated, so a chat cannot run out of memory half way.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "device_buffer.h"
#include "planner/vram_plan.h"

namespace hlwq::cuda {

// Hands out regions of one arena. Pure address arithmetic (no CUDA call), so the rules are
// unit-tested without a GPU. Two ways to ask, one per arena:
// - named(): the plan's Buffer of that name, at its offset (KV cache, state, scratch, logits);
// - bump(): the next kBufferAlignment-aligned region, for an arena whose backend layout groups
//   tensors differently from the plan's per-file-tensor names (fused weight matrices) but, by
//   the planner's formulas, adds up to no more than the plan's bytes.
class ArenaCarver {
 public:
  ArenaCarver() = default;
  // `capacity`: bytes really allocated at `base` (>= layout.bytes; an arena re-laid out in
  // place may have more). Error{Internal} when the layout does not fit it.
  ArenaCarver(planner::Arena layout, void* base, uint64_t capacity);

  // The plan's buffer `name`; Error{Internal} if the plan has none or it is smaller than `bytes`.
  DeviceBuffer named(std::string_view name, uint64_t bytes) const;
  DeviceBuffer named(std::string_view name) const;  // the whole buffer
  // The next aligned region; Error{Internal} naming `what` when it would pass layout.bytes.
  DeviceBuffer bump(std::string_view what, uint64_t bytes);

  const planner::Arena& layout() const { return layout_; }
  void* base() const { return base_; }
  uint64_t capacity() const { return capacity_; }
  uint64_t bumped() const { return cursor_; }  // end of the last bump region

 private:
  planner::Arena layout_;
  std::byte* base_ = nullptr;
  uint64_t capacity_ = 0;
  uint64_t cursor_ = 0;
};

// The plan's arenas on the device. Move-only; frees them on destruction.
class DeviceArenas {
 public:
  DeviceArenas() = default;
  // One cudaMalloc of Arena::device_bytes() per non-empty arena (cudaMalloc rounds to that
  // page anyway; an arena re-laid out later may use it all). Error{OutOfMemory} names the
  // arena and its bytes and lists the plan's breakdown.
  explicit DeviceArenas(const planner::Plan& plan);
  ~DeviceArenas();
  DeviceArenas(DeviceArenas&& o) noexcept;
  DeviceArenas& operator=(DeviceArenas&& o) noexcept;
  DeviceArenas(const DeviceArenas&) = delete;
  DeviceArenas& operator=(const DeviceArenas&) = delete;

  ArenaCarver& operator[](planner::ArenaId id) { return slots_[size_t(id)].carver; }
  const ArenaCarver& operator[](planner::ArenaId id) const { return slots_[size_t(id)].carver; }

  // Lays arena `id` out as `plan` says (a KV cache for a new context or KV width): in place
  // when the new layout needs the same device bytes (no CUDA call); smaller, the old allocation
  // is freed and the smaller one made, so the VRAM goes back to the system (the user switched
  // to a narrower KV mode to free it); larger, the same after checking the device has room
  // (Error{OutOfMemory} then leaves the old one untouched). Returns true when it allocated.
  // Regions carved before are invalid afterwards: carve again.
  bool relayout(const planner::Plan& plan, planner::ArenaId id);

  // Sum of the allocations: what the plan predicts as Plan::allocated_bytes().
  uint64_t allocated_bytes() const;
  int allocations() const;  // cudaMalloc'd arenas

 private:
  struct Slot {
    void* ptr = nullptr;
    uint64_t bytes = 0;
    ArenaCarver carver;
  };
  void allocate(Slot& slot, const planner::Arena& arena, const planner::Plan& plan);
  void release();
  std::array<Slot, planner::kArenaCount> slots_;
};

// The plan's breakdown as one line per item ("weights 15,664 MiB (497 Linears at Q5 ...)"),
// for out-of-memory messages.
std::string describe_plan(const planner::Plan& plan);

// The current device as the planner sees it from inside this process: name, compute
// capability, cudaMemGetInfo's total and free (free_excludes_context = true).
planner::GpuSpec detect_gpu();

}  // namespace hlwq::cuda
