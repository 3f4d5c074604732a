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
// token_out = argmax(logits); if pos != nullptr, ++*pos.
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
  // enqueue + copy the id to the host + wait for the stream.
  int32_t sample(const float* logits, const GpuSamplingParams& p, const int32_t* history, std::size_t n_history,
                 float uniform, cudaStream_t stream);
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
  int* flag_ = nullptr;           // [1] 1: the fallback kernel must decide
  int32_t* token_ = nullptr;      // [1]
  // Host side: pinned staging for ids and the result, and the history already on the device.
  int32_t* host_ids_ = nullptr;
  int32_t* host_out_ = nullptr;  // [0] token, [1] fallback flag
  std::vector<int32_t> synced_;
  bool fallback_ = false;

 public:
  ~GpuSampler();
  GpuSampler(const GpuSampler&) = delete;
  GpuSampler& operator=(const GpuSampler&) = delete;
};

}  // namespace hlwq::cuda
