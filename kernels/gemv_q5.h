#pragma once
// Fused HLWQ Q5 matrix-vector product for batch-1 decode: y = W x with the 128-point
// Hadamard of the activation done once per block in the prologue (kept in shared memory as
// fp16, scaled per block by a power of two), the codes decoded two at a time through a
// 1024-entry half2 pair table, the multiply-adds on the tensor cores (mma m16n8k16, fp32
// accumulation) and the fp16 block norm applied once per 16-row x 128-column tile-block.
// One 512-thread CTA per SM (the table takes 128 KiB of shared memory).
#include <cuda_runtime.h>

#include "q_matrix.h"

namespace hlwq::cuda {

// What the prologue makes of the input before rotating it (the producer op fused in).
enum class GemvInput {
  Plain,      // x = in
  RmsNorm1p,  // x = in * rsqrt(mean(in^2) + eps) * (1 + w)       (Qwen3.5 RMSNorm)
  GatedNorm,  // per 128-chunk (one DeltaNet value head): x = rmsnorm(in) * w[j] * silu(gate)
};

// What the epilogue does with y.
enum class GemvOutput {
  Store,        // out[r] = y[r]
  AddResidual,  // out[r] += y[r]  (out is the residual stream)
  SwiGlu,       // rows come in (gate, up) pairs: out[r/2] = silu(y[r]) * y[r+1]
};

struct GemvArgs {
  QMatrix w;
  const float* in = nullptr;       // [w.cols]
  const float* gate = nullptr;     // GatedNorm: [w.cols]
  const float* norm_w = nullptr;   // RmsNorm1p: [w.cols]; GatedNorm: [128]
  float eps = 1e-6f;
  float* out = nullptr;
  const float* codebook = nullptr; // device, 32 centroids in the N(0,1) domain
};

void gemv_q5(const GemvArgs& args, GemvInput input, GemvOutput output, cudaStream_t stream);

// Bytes of shared memory the GEMV needs for `cols` inputs held at once (the launch checks
// that it fits and throws Error{InvalidArgument} naming the width if not).
std::size_t gemv_q5_smem_bytes(int cols);

// How gemv_q5 launches, process-wide. HLWQ_GEMV_PDL=0 in the environment (read at first use)
// turns programmatic dependent launch off for A/B timing.
struct GemvTuning {
  bool pdl = true;  // the table build and the first weight loads overlap the previous kernel
  // Diagnostics (hlwq-gemv-trace): while trace is set, launch k (k < trace_launches, counted
  // by trace_next) runs a traced copy of the kernel whose CTA c writes gemv_q5_trace_words()
  // globaltimer stamps at trace + (k * trace_ctas + c) * words: entry, table built, wait
  // done, prologue done, loop done, exit, SM id, unused, then each of the 16 warps' loop end.
  // trace_ctas must be >= the SM count. The untraced kernels carry no stamping code.
  unsigned long long* trace = nullptr;
  int trace_launches = 0, trace_ctas = 0, trace_next = 0;
};
GemvTuning& gemv_q5_tuning();
int gemv_q5_trace_words();

}  // namespace hlwq::cuda
