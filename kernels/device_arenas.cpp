#include "device_arenas.h"

#include <cuda_runtime.h>

#include <utility>

#include "core/error.h"
#include "cuda_check.h"

namespace hlwq::cuda {

using planner::Arena;
using planner::ArenaId;
using planner::kBufferAlignment;
using planner::Plan;

namespace {

uint64_t round_up(uint64_t x, uint64_t to) { return (x + to - 1) / to * to; }

std::string mib(uint64_t bytes) {
  std::string s = std::to_string((bytes + planner::kMiB / 2) / planner::kMiB);
  for (int i = int(s.size()) - 3; i > 0; i -= 3) s.insert(size_t(i), ",");
  return s + " MiB";
}

}  // namespace

ArenaCarver::ArenaCarver(Arena layout, void* base, uint64_t capacity)
    : layout_(std::move(layout)), base_(static_cast<std::byte*>(base)), capacity_(capacity) {
  if (layout_.bytes > capacity_)
    throw_error(ErrorKind::Internal, "VRAM arena '", planner::to_string(layout_.id), "': the plan needs ",
                std::to_string(layout_.bytes), " bytes but the allocation holds ", std::to_string(capacity_));
  if (layout_.bytes > 0 && !base_)
    throw_error(ErrorKind::Internal, "VRAM arena '", planner::to_string(layout_.id), "' was not allocated");
}

DeviceBuffer ArenaCarver::named(std::string_view name, uint64_t bytes) const {
  const planner::Buffer& b = layout_.at(name);  // Internal naming arena and buffer when absent
  if (bytes > b.bytes)
    throw_error(ErrorKind::Internal, "VRAM arena '", planner::to_string(layout_.id), "': buffer '", std::string(name),
                "' is planned at ", std::to_string(b.bytes), " bytes but the backend needs ", std::to_string(bytes));
  return DeviceBuffer::view(base_ + b.offset, bytes);
}

DeviceBuffer ArenaCarver::named(std::string_view name) const { return named(name, layout_.at(name).bytes); }

DeviceBuffer ArenaCarver::bump(std::string_view what, uint64_t bytes) {
  const uint64_t offset = round_up(cursor_, kBufferAlignment);
  if (offset + bytes > layout_.bytes)
    throw_error(ErrorKind::Internal, "VRAM arena '", planner::to_string(layout_.id), "' is full: '", std::string(what),
                "' needs ", std::to_string(bytes), " bytes at offset ", std::to_string(offset), " but the plan made the arena ",
                std::to_string(layout_.bytes), " bytes");
  cursor_ = offset + bytes;
  return DeviceBuffer::view(base_ + offset, bytes);
}

DeviceArenas::DeviceArenas(const Plan& plan) {
  try {
    for (const Arena& a : plan.arenas) allocate(slots_[size_t(a.id)], a, plan);
  } catch (...) {
    release();
    throw;
  }
}

void DeviceArenas::allocate(Slot& slot, const Arena& arena, const Plan& plan) {
  const uint64_t bytes = arena.device_bytes();
  void* ptr = nullptr;
  if (bytes > 0) {
    const cudaError_t err = cudaMalloc(&ptr, bytes);
    if (err != cudaSuccess) {
      cudaGetLastError();  // clear the sticky-free error so later calls are not blamed
      size_t free_b = 0, total = 0;
      cudaMemGetInfo(&free_b, &total);
      throw_error(err == cudaErrorMemoryAllocation ? ErrorKind::OutOfMemory : ErrorKind::Device,
                  "cannot allocate the VRAM arena '", planner::to_string(arena.id), "' of ", std::to_string(bytes),
                  " bytes (", mib(bytes), "; ", mib(free_b), " free of ", mib(total), "): ", cudaGetErrorString(err),
                  ". The plan: ", describe_plan(plan));
    }
  }
  slot.ptr = ptr;
  slot.bytes = bytes;
  slot.carver = ArenaCarver(arena, ptr, bytes);
}

bool DeviceArenas::relayout(const Plan& plan, ArenaId id) {
  const Arena& arena = plan.arena(id);
  Slot& slot = slots_[size_t(id)];
  if (arena.device_bytes() == slot.bytes) {
    slot.carver = ArenaCarver(arena, slot.ptr, slot.bytes);
    return false;
  }
  // A new size. Growing, the new arena must fit in what is free plus what this one gives back.
  size_t free_b = 0, total = 0;
  check(cudaMemGetInfo(&free_b, &total), "cudaMemGetInfo");
  if (arena.device_bytes() > slot.bytes && arena.device_bytes() > free_b + slot.bytes)
    throw_error(ErrorKind::OutOfMemory, "the VRAM arena '", planner::to_string(id), "' must grow to ", mib(arena.device_bytes()),
                " but only ", mib(free_b + slot.bytes), " are free (with its current ", mib(slot.bytes),
                "). The plan: ", describe_plan(plan));
  if (slot.ptr) cudaFree(slot.ptr);
  slot = Slot{};
  allocate(slot, arena, plan);
  return true;
}

void DeviceArenas::release() {
  for (Slot& s : slots_) {
    if (s.ptr) cudaFree(s.ptr);
    s = Slot{};
  }
}

DeviceArenas::~DeviceArenas() { release(); }

DeviceArenas::DeviceArenas(DeviceArenas&& o) noexcept : slots_(std::exchange(o.slots_, {})) {}

DeviceArenas& DeviceArenas::operator=(DeviceArenas&& o) noexcept {
  if (this != &o) {
    release();
    slots_ = std::exchange(o.slots_, {});
  }
  return *this;
}

uint64_t DeviceArenas::allocated_bytes() const {
  uint64_t sum = 0;
  for (const Slot& s : slots_) sum += s.bytes;
  return sum;
}

int DeviceArenas::allocations() const {
  int n = 0;
  for (const Slot& s : slots_) n += s.ptr != nullptr;
  return n;
}

std::string describe_plan(const Plan& plan) {
  std::string out;
  for (const planner::PlanItem& item : plan.items()) {
    if (!out.empty()) out += "; ";
    out += item.name + " " + mib(item.bytes);
    if (!item.detail.empty()) out += " (" + item.detail + ")";
  }
  return out + "; required " + mib(plan.required_bytes()) + " of " + mib(plan.gpu.free_bytes) + " free";
}

planner::GpuSpec detect_gpu() {
  require_device();
  int dev = 0;
  check(cudaGetDevice(&dev), "cudaGetDevice");
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, dev), "cudaGetDeviceProperties");
  size_t free_b = 0, total = 0;
  check(cudaMemGetInfo(&free_b, &total), "cudaMemGetInfo");
  planner::GpuSpec g;
  g.name = prop.name;
  g.total_bytes = total;
  g.free_bytes = free_b;
  g.cc_major = prop.major;
  g.cc_minor = prop.minor;
  g.free_excludes_context = true;
  return g;
}

}  // namespace hlwq::cuda
