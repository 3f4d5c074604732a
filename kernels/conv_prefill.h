#pragma once
// The Gated DeltaNet short causal conv (kernel 4) + SiLU over a chunk of T tokens
// (qwen35.md section 4), continuing from the decode ring: the inputs of the 3 positions
// before the chunk are read from it, and the chunk's last inputs are left in it, slot
// position % 4, exactly as deltanet_step would have.
#include <cuda_runtime.h>

namespace hlwq::cuda {

struct ConvPrefillArgs {
  const float* in = nullptr;     // pre-conv inputs, row t at in + t * in_stride (the qkv part of in_proj)
  int in_stride = 0;
  const float* conv_w = nullptr; // [channels][4], w[c][3] multiplies the current token
  float* ring = nullptr;         // [4][channels]
  float* out = nullptr;          // [T][channels], silu(conv)
  int channels = 0;
  int T = 0;
  int pos = 0;                   // position of row 0
};

void conv_prefill(const ConvPrefillArgs& args, cudaStream_t stream);

}  // namespace hlwq::cuda
