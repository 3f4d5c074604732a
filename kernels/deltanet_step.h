#pragma once
// One decode step of a Gated DeltaNet layer (qwen35.md section 4): short causal conv + SiLU
// on the qkv channels, L2-normalised q/k, beta and g, the fp32 delta-rule state update and
// the readout o = S^T q. The gated output norm is fused into the out_proj GEMV's prologue.
#include <cuda_runtime.h>

namespace hlwq::cuda {

struct DeltaNetStepArgs {
  const float* proj = nullptr;     // fused in_proj output: [qkv (conv_channels) | z (Hv*128) | b (Hv) | a (Hv)]
  const float* conv_w = nullptr;   // [conv_channels][4], w[c][3] multiplies the current token
  float* conv_ring = nullptr;      // [4][conv_channels]: pre-conv inputs, slot t % 4 (zeroed at reset)
  const float* a_log = nullptr;    // [Hv]
  const float* dt_bias = nullptr;  // [Hv]
  float* state = nullptr;          // [Hv][128 (k)][128 (v)] fp32
  float* out = nullptr;            // [Hv*128]
  const int* pos = nullptr;        // device: position of this token
  int hk = 0;                      // key heads
  int hv = 0;                      // value heads (a multiple of hk)

  __host__ __device__ int conv_channels() const { return 2 * hk * 128 + hv * 128; }
  __host__ __device__ int z_offset() const { return conv_channels(); }
  __host__ __device__ int b_offset() const { return conv_channels() + hv * 128; }
  __host__ __device__ int a_offset() const { return b_offset() + hv; }
};

void deltanet_step(const DeltaNetStepArgs& args, cudaStream_t stream);

}  // namespace hlwq::cuda
