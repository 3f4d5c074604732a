#pragma once
// What gemv.cu (the host side: checks, plan) and the kernels of each code width
// (gemv_kernel.cuh, instantiated by gemv_q5.cu, gemv_q4.cu, gemv_q3.cu) agree on: the
// shared-memory layout, the work plan and the launch.
#include <cuda_runtime.h>

#include <cstddef>

#include "gemv.h"

namespace hlwq::cuda::gemv_detail {

constexpr int kWarps = 16, kThreads = kWarps * 32;
constexpr int kMaxSlots = 128;  // one token: 16-row tile slices accumulated per round
// One token's 128-block of activations: 4 runs of 32 fp16 with 16 B of pad each (conflict-free
// reads; the pad holds the block's scale). Several tokens: run t of token k at t * RS + k * 64,
// RS = 64 * tokens + 16 (lanes (g, t) and (g+1, t') of a quarter warp then hit 8 distinct bank
// quads), and token k's scale at (k / 2) * RS + 64 * tokens + (k % 2) * 4: run t's pad holds
// the scales of tokens 2t and 2t + 1, the C columns lane t holds.
constexpr int kRunBytes = 80;
constexpr int kBlockXBytes = 4 * kRunBytes;
__host__ __device__ constexpr int run_stride(int tokens) { return 64 * tokens + 16; }

// Dynamic shared memory: [pair table][accumulators][scratch][activations].
__host__ __device__ constexpr int table_bytes(int bits) { return (1 << (2 * bits)) * 32 * 4; }
// Several tokens: [slot][token][16 rows], 32 tile slices per round at 8 tokens (gate/up's
// 17 per CTA in one round); one token: kMaxSlots slices.
__host__ __device__ constexpr int acc_bytes(bool multi) { return multi ? 16384 : kMaxSlots * 16 * 4; }
// block_sum's per-warp partials, then (several tokens) the per-token sums of squares.
__host__ __device__ constexpr int scratch_bytes(bool multi) { return multi ? 128 : kWarps * 4; }
__host__ __device__ constexpr int xs_offset(int bits, bool multi) {
  return table_bytes(bits) + acc_bytes(multi) + scratch_bytes(multi);
}

// How the (16-row tile, 128-block) work units are spread. Units are ordered by K slice, then
// tile, then block inside the slice; each CTA takes a contiguous range of them. Stores and
// SwiGLU need a tile's whole sum in one CTA (one slice, ranges on tile boundaries); the
// residual epilogue adds with atomics, so its ranges split anywhere and K is cut into slices
// that keep each CTA's activations (and its prologue) short.
struct Plan {
  int tiles = 0, nb = 0, sb = 0, slices = 0, units = 0;
  int aligned = 1;
  int nbx = 0;     // most blocks of activations one CTA holds
  int tokens = 1;  // several-token kernels: tokens of this launch
  int slots = kMaxSlots;  // tile slices per accumulation round
  unsigned long long* trace = nullptr;  // traced kernels only: per-CTA stamps (gemv_tuning().trace)
};

constexpr int kTraceWords = 24;  // per CTA: entry, table, wait, prologue, loop, exit, SM id, -, 16 warps

// Host side (gemv.cu): the launch of one width's kernel for a planned call.
struct Launch {
  GemvArgs args;  // strides filled in
  GemvInput input;
  GemvOutput output;
  Plan plan;
  int grid = 0;
  std::size_t smem = 0;
  bool multi = false, traced = false, pdl = true;
};
template <int BITS>
void launch_width(const Launch& l, cudaStream_t stream);

}  // namespace hlwq::cuda::gemv_detail
