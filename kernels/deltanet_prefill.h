#pragma once
// Gated DeltaNet over a chunk of T tokens (qwen35.md section 4), after conv_prefill: the
// L2 norms of q/k and the gates for every token, then the delta rule over the T tokens,
// starting from and leaving the same [Hv][128][128] fp32 state deltanet_step reads and writes.
//
// Two forms of the delta rule (deltanet_prefill.cu):
// - Chunked (default): the WY / UT form of flash-linear-attention's chunk_gated_delta_rule
//   with 64-token chunks. A parallel pass per (chunk, value head) forms A from K K^T (tensor
//   cores) and solves (I + A)[U | W] = [beta V | beta exp(gamma) K] in fp32; a scan per
//   (value head, 64 state columns) then runs the chunks in order with tf32 tensor-core
//   matmuls (mma.sync) and the state in fp32 registers. 3.8x the recurrent form's speed at
//   4096 tokens on an H200 (docs/PERFORMANCE.md, "Chunked (WY) DeltaNet prefill").
//   Scratch: U is written to `out` (and replaced by the outputs), W over the v part of `qkv`.
// - Recurrent: token by token in one launch, fp32 state in registers (the reference form).
#include <cuda_runtime.h>

namespace hlwq::cuda {

enum class DeltaNetPrefillForm {
  Auto,           // Chunked, unless HLWQ_DELTANET_PREFILL=recurrent|tf32|3xtf32 says otherwise
  Recurrent,      // fp32 token by token
  Chunked,        // WY chunks, tf32 tensor cores (inputs rounded to 10-bit mantissas), fp32 sums
  ChunkedSplit,   // the same with each tensor-core input split hi + lo (3xTF32: ~fp32 products)
};

struct DeltaNetPrefillArgs {
  float* qkv = nullptr;            // [T][conv_channels] conv outputs; q, k normalised in place, v used as scratch
  const float* proj = nullptr;     // in_proj rows (stride proj_stride): b at b_offset, a at a_offset (deltanet_step.h)
  int proj_stride = 0;
  const float* a_log = nullptr;    // [Hv]
  const float* dt_bias = nullptr;  // [Hv]
  float* gates = nullptr;          // scratch [T][Hv][2]: beta, log decay g (cumulated per chunk by the chunked form)
  float* state = nullptr;          // [Hv][128 (k)][128 (v)] fp32, carried in and out
  float* out = nullptr;            // [T][Hv*128]
  int hk = 0, hv = 0;
  int T = 0;
  DeltaNetPrefillForm form = DeltaNetPrefillForm::Auto;

  __host__ __device__ int conv_channels() const { return 2 * hk * 128 + hv * 128; }
  __host__ __device__ int b_offset() const { return conv_channels() + hv * 128; }
  __host__ __device__ int a_offset() const { return b_offset() + hv; }
};

void deltanet_prefill(const DeltaNetPrefillArgs& args, cudaStream_t stream);

}  // namespace hlwq::cuda
