#pragma once
// Sampling on the GPU so only the chosen id crosses to the host.
// - sample_greedy: the arg max of the logits (lowest index on ties), written where the next
//   step's embedding reads it, and the position advanced: the pick inside the captured graph.
// - GpuSampler: the CPU sampler's semantics (engine/models/sampler.h, sample_token) on the
//   device: penalties over the history (the set of seen ids stays on the device and is
//   updated incrementally), vocab_limit, greedy at temperature 0, temperature -> top-k ->
//   softmax -> top-p -> min-p -> the draw from the caller's uniform. Same order of
//   operations and the same double-precision formulas as the CPU; only summation order
//   differs (tree and scan sums instead of one running sum), so ids can differ only when a
//   cumulative sum lands within rounding of top_p or of the draw.
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "device_buffer.h"

namespace hlwq::cuda {

std::size_t argmax_scratch_bytes(int vocab);
// token_out = argmax(logits); if pos != nullptr, ++*pos. One launch (a programmatic dependent
// of the previous kernel); `scratch` must be zeroed once before the first call (the kernel
// leaves it ready for the next).
void sample_greedy(const float* logits, int vocab, void* scratch, int32_t* token_out, int* pos, cudaStream_t stream);

// The fields of hlwq::SamplingParams the draw uses (the .cu files, C++17, cannot include
// models/backend_types.h); checked by hlwq::check_sampling_params (models/sampling_params_check.h).
struct GpuSamplingParams {
  float temperature = 0.7f;
  int top_k = 20;
  float top_p = 0.95f;
  float min_p = 0.0f;
  float repetition_penalty = 1.0f;
  float presence_penalty = 0.0f;
  int32_t vocab_limit = 0;
};

class GpuSampler {
 public:
  // `workspace`: a region of workspace_bytes(vocab) from the VRAM plan (logits arena
  // "sampler"); without one the sampler allocates its own.
  explicit GpuSampler(int vocab, DeviceBuffer workspace = DeviceBuffer());
  // Device bytes the sampler owns for this vocabulary (the planner's Logits arena adds them).
  static std::size_t workspace_bytes(int vocab);

  // Enqueues the pick of one id from logits[vocab] on `stream`; the id lands in token_dev().
  // history: the ids the penalties look at (the session's prompt + generated ids). When it
  // extends the history of the previous call only the new ids are sent to the device.
  void enqueue(const float* logits, const GpuSamplingParams& p, const int32_t* history, std::size_t n_history,
               float uniform, cudaStream_t stream);
  // enqueue + wait for the stream + result().
  int32_t sample(const float* logits, const GpuSamplingParams& p, const int32_t* history, std::size_t n_history,
                 float uniform, cudaStream_t stream);

  // enqueue() in two halves, so the draw can sit inside a captured decode graph:
  // - stage(): host side. Checks the parameters (typed errors), writes them and the history
  //   ids added since the last call to a pinned block. Up to 32 new ids travel in that block
  //   (the draw's first kernel marks them); a longer or replaced history is marked on `stream`
  //   right away (outside any capture). Waits until the previous uncaptured enqueue_staged has
  //   copied the block; a caller replaying a graph must have synchronized its stream.
  // - enqueue_staged(): device side, capturable, the same shapes every call: one copy of the
  //   block to the device, the kernels (programmatic dependents: the first is scheduled during
  //   the previous kernel's tail), one copy of {id, fallback flag} back to pinned memory.
  // - result(): the id, once the stream has passed enqueue_staged.
  void stage(const float* logits, const GpuSamplingParams& p, const int32_t* history, std::size_t n_history,
             float uniform, cudaStream_t stream);
  void enqueue_staged(cudaStream_t stream);  // enqueue_parameters + enqueue_draw
  int32_t result();
  // The halves of enqueue_staged, for a graph that copies the parameters at its start and
  // draws after its last kernel.
  void enqueue_parameters(cudaStream_t stream);
  void enqueue_draw(cudaStream_t stream);
  // The decode step's token and position, carried in the same staged block (so a sampled
  // graph needs one copy in): set before the launch, read on the device at step_*_dev().
  void set_step_input(int32_t token, int pos);
  const int32_t* step_token_dev() const;
  const int* step_pos_dev() const;
  // Forgets which history ids the device has marked (after a staged draw that never ran):
  // the next penalized call re-marks its whole history.
  void reset_history();
  int32_t* token_dev() const { return token_; }
  // Whether the last sample() needed the full-vocabulary path (the candidates did not cover
  // the kept set): for tests and the bench.
  bool last_used_fallback() const;

 private:
  void sync_history(const int32_t* history, std::size_t n, cudaStream_t stream);

  int vocab_ = 0, blocks_ = 0, chunk_ = 0;
  DeviceBuffer work_;
  // Views into work_.
  uint64_t* cand_ = nullptr;      // [blocks][kCandidates] (key << 32 | ~id), unsorted per block
  uint64_t* boundary_ = nullptr;  // [blocks] the worst candidate a truncated block kept, 0 if complete
  double* block_max_ = nullptr;   // [blocks] largest finite logit
  double* block_sum_ = nullptr;   // [blocks] sum of exp((l - max) / T) over finite logits
  int* count_ = nullptr;          // [blocks] candidates written
  uint32_t* seen_ = nullptr;      // [vocab / 32] bit per id present in the history
  int32_t* ids_ = nullptr;        // [kIdBatch] new history ids to mark
  double* top_z_ = nullptr;       // [2] best logit, softmax denominator over the whole vocabulary
  int32_t* token_ = nullptr;      // [1], followed by the flag (one copy back)
  int* flag_ = nullptr;           // [1] 1: the fallback kernel must decide
  void* args_ = nullptr;          // the draw's parameters (sample_token.cu Args), copied from host_args_
  // Host side: pinned staging for ids and the result, and the history already on the device.
  int32_t* host_ids_ = nullptr;
  int32_t* host_out_ = nullptr;  // [0] token, [1] fallback flag
  void* host_args_ = nullptr;     // pinned Args written by stage()
  cudaEvent_t args_copied_ = nullptr;  // after the last uncaptured copy of host_args_
  std::vector<int32_t> synced_;
  bool seen_stale_ = false;  // reset_history(): the next sync clears the set
  bool fallback_ = false;

 public:
  ~GpuSampler();
  GpuSampler(const GpuSampler&) = delete;
  GpuSampler& operator=(const GpuSampler&) = delete;
};

}  // namespace hlwq::cuda
