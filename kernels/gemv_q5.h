#pragma once
// Fused HLWQ Q5 matrix-vector product for batch-1 decode: y = W x with the 128-point
// Hadamard of the activation done once per block in the prologue (kept in shared memory as
// fp16, scaled per block by a power of two), the codes decoded two at a time through a
// 1024-entry half2 pair table, the multiply-adds on the tensor cores (mma m16n8k16, fp32
// accumulation) and the fp16 block norm applied once per 16-row x 128-column tile-block.
// One 512-thread CTA per SM (the table takes 128 KiB of shared memory).
#include <cuda_runtime.h>

#include "q5_matrix.h"

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
  Q5Matrix w;
  const float* in = nullptr;       // [w.cols]
  const float* gate = nullptr;     // GatedNorm: [w.cols]
  const float* norm_w = nullptr;   // RmsNorm1p: [w.cols]; GatedNorm: [128]
  float eps = 1e-6f;
  float* out = nullptr;
  const float* codebook = nullptr; // device, 32 centroids in the N(0,1) domain
};

void gemv_q5(const GemvArgs& args, GemvInput input, GemvOutput output, cudaStream_t stream);

// The GEMVs of one decode layer after its mixer in ONE launch, a grid barrier between them
// instead of a kernel boundary (the table is built once, the next matrix's first weights are
// prefetched while the grid waits for its slowest CTA): out_proj (input Plain or GatedNorm,
// AddResidual), gate_up (RmsNorm1p, SwiGlu), down (Plain, AddResidual) and, when given, the
// next layer's in_proj (RmsNorm1p, Store). Same results as the four gemv_q5 calls. One CTA per
// SM, all resident at once: the device must not be shared with another process's kernels.
struct GemvLayerChain {
  GemvArgs out_proj;
  GemvInput out_input = GemvInput::Plain;
  GemvArgs gate_up, down;
  const GemvArgs* next_in_proj = nullptr;
};
void gemv_q5_layer_chain(const GemvLayerChain& chain, cudaStream_t stream);

// Bytes of shared memory the GEMV needs for `cols` inputs held at once (the launch checks
// that it fits and throws Error{InvalidArgument} naming the width if not).
std::size_t gemv_q5_smem_bytes(int cols);

// How gemv_q5 launches, process-wide; the defaults are the measured best. The environment
// overrides them once at first use (HLWQ_GEMV_PDL=0|1, HLWQ_GEMV_MEET=0|1,
// HLWQ_GEMV_PREFETCH=units, HLWQ_GEMV_CHAIN=0|1,
// HLWQ_GEMV_POOL=percent) for A/B timing; tests and the trace tool set the fields directly.
struct GemvTuning {
  bool pdl = true;         // programmatic dependent launch: table build + first loads overlap the previous kernel
  bool meet = false;       // Store/SwiGLU: split rows between CTAs anywhere, shared tiles summed in a side buffer
  int prefetch_units = 0;  // 16x128 tile-blocks per warp prefetched into L2 before waiting on the previous kernel
  bool chain = false;      // decode callers: a layer's GEMVs after its mixer as one gemv_q5_layer_chain launch
  int pool_percent = 0;    // the last part (<= 30 %) of each CTA's units goes to whichever warp is free first
  // Diagnostics: while trace is set, launch k (k < trace_launches, counted by trace_next) has
  // each CTA c write gemv_q5_trace_words() globaltimer stamps at trace + (k * trace_ctas + c)
  // * words: entry, table built, wait done, prologue done, loop done, exit, SM id, unused,
  // then each of the 16 warps' loop end. trace_ctas must be >= the SM count.
  unsigned long long* trace = nullptr;
  int trace_launches = 0, trace_ctas = 0, trace_next = 0;
};
GemvTuning& gemv_q5_tuning();
int gemv_q5_trace_words();

}  // namespace hlwq::cuda
