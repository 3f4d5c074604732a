#pragma once
// Gated DeltaNet over a chunk of T tokens (qwen35.md section 4), after conv_prefill: the
// L2 norms of q/k and the gates for every token, then the delta-rule recurrence token by
// token inside ONE launch with the fp32 state held in registers, starting from and leaving
// the same [Hv][128][128] state deltanet_step reads and writes.
#include <cuda_runtime.h>

namespace hlwq::cuda {

struct DeltaNetPrefillArgs {
  float* qkv = nullptr;            // [T][conv_channels] conv outputs; q and k are normalised in place
  const float* proj = nullptr;     // in_proj rows (stride proj_stride): b at b_offset, a at a_offset (deltanet_step.h)
  int proj_stride = 0;
  const float* a_log = nullptr;    // [Hv]
  const float* dt_bias = nullptr;  // [Hv]
  float* gates = nullptr;          // scratch [T][Hv][2]: beta, decay
  float* state = nullptr;          // [Hv][128 (k)][128 (v)] fp32, carried in and out
  float* out = nullptr;            // [T][Hv*128]
  int hk = 0, hv = 0;
  int T = 0;

  __host__ __device__ int conv_channels() const { return 2 * hk * 128 + hv * 128; }
  __host__ __device__ int b_offset() const { return conv_channels() + hv * 128; }
  __host__ __device__ int a_offset() const { return b_offset() + hv; }
};

void deltanet_prefill(const DeltaNetPrefillArgs& args, cudaStream_t stream);

}  // namespace hlwq::cuda
