#pragma once
// Fused HLWQ matrix-vector product for decode (and prefill chunks of at most 8 tokens):
// y[t] = W x[t] for 1-8 tokens t in one pass over the weights, W with 5-, 4- or 3-bit codes
// (q_matrix.h). The 128-point Hadamard of each activation block is done once in the
// prologue (kept in shared memory as fp16, scaled per block and token by a power of two), the
// codes decoded two at a time through a 2^(2 bits)-entry half2 pair table, the multiply-adds
// on the tensor cores (mma m16n8k16, token t in column t of B, fp32 accumulation) and the
// fp16 block norm applied once per 16-row x 128-column tile-block.
// One 512-thread CTA per SM (the Q5 table alone takes 128 KiB of shared memory).
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>

#include "q_matrix.h"

namespace hlwq::cuda {

// What the prologue makes of each token's input before rotating it (the producer op fused in).
enum class GemvInput {
  Plain,        // x = in
  RmsNorm1p,    // x = in * rsqrt(mean(in^2) + eps) * (1 + w)       (Qwen3.5 RMSNorm)
  GatedNorm,    // per 128-chunk (one DeltaNet value head): x = rmsnorm(in) * w[j] * silu(gate)
  RotatedBf16,  // H(x) per 128-chunk already made (prefill_rotate.h): in_rotated, bf16; Store or AddResidual
};

// What the epilogue does with each token's y.
enum class GemvOutput {
  Store,        // out[r] = y[r]
  AddResidual,  // out[r] += y[r]  (out is the residual stream)
  SwiGlu,       // rows come in (gate, up) pairs: out[r/2] = silu(y[r]) * y[r+1]
};

struct GemvArgs {
  QMatrix w;                       // bits 5, 4 or 3; a whole stored matrix
  const float* in = nullptr;       // [tokens][in_stride], w.cols used
  const float* gate = nullptr;     // GatedNorm: [tokens][gate_stride]
  const float* norm_w = nullptr;   // RmsNorm1p: [w.cols]; GatedNorm: [128]
  float eps = 1e-6f;
  float* out = nullptr;            // [tokens][out_stride]: w.rows (SwiGlu: w.rows / 2) used
  const float* codebook = nullptr; // device, 2^w.bits centroids in the N(0,1) domain
  int tokens = 1;                  // 1..8: one pass over W serves all of them
  const __nv_bfloat16* in_rotated = nullptr;  // RotatedBf16: [tokens][in_stride]
  // Elements from one token's row to the next; 0 = packed (w.cols for in/gate, the output width for out).
  int in_stride = 0, gate_stride = 0, out_stride = 0;
};

constexpr int kGemvMaxTokens = 8;

// Throws Error{InvalidArgument} naming the value for a bad shape, width, token count or stride.
void gemv(const GemvArgs& args, GemvInput input, GemvOutput output, cudaStream_t stream);

// Bytes of shared memory one token's GEMV of a `bits`-wide matrix needs for `cols` inputs held
// at once (the launch checks that it fits and throws Error{InvalidArgument} naming the width
// if not; several tokens whose activations do not fit go through in smaller groups).
std::size_t gemv_smem_bytes(int bits, int cols);

// How gemv launches, process-wide. HLWQ_GEMV_PDL=0 in the environment (read at first use)
// turns programmatic dependent launch off for A/B timing.
struct GemvTuning {
  bool pdl = true;  // the table build and the first weight loads overlap the previous kernel
  // Diagnostics (hlwq-gemv-trace), one-token launches of Q5 matrices only: while trace is set, launch k
  // (k < trace_launches, counted by trace_next) runs a traced copy of the kernel whose CTA c
  // writes gemv_trace_words() globaltimer stamps at trace + (k * trace_ctas + c) * words:
  // entry, table built, wait done, prologue done, loop done, exit, SM id, unused, then each of
  // the 16 warps' loop end. trace_ctas must be >= the SM count. The untraced kernels carry no
  // stamping code.
  unsigned long long* trace = nullptr;
  int trace_launches = 0, trace_ctas = 0, trace_next = 0;
};
GemvTuning& gemv_tuning();
int gemv_trace_words();

}  // namespace hlwq::cuda
