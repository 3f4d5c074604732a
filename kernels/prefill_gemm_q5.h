#pragma once
// Prefill Linear with the Q5 codes decoded on chip: Y[t][n] (+)= sum_k X[t][k] W[n][k] for
// the rotated bf16 activations X and the Q5 matrix W in its GPU layout (q_matrix.h), on the
// tensor cores (mma.sync m16n8k16 bf16, fp32 accumulation). Each CTA decodes its 128 rows x
// 128 columns of codes per K step into shared memory as bf16 (codebook value / sqrt(128)
// times the block norm, rounded once: the same values dequantize_rotated writes), so the
// weights cross DRAM as 5.125 bits and never exist in bf16 in global memory.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "q_matrix.h"

namespace hlwq::cuda {

struct PrefillGemmQ5Args {
  QMatrix w;                          // [n][k], any row view
  const float* codebook = nullptr;     // device, 32 centroids
  const __nv_bfloat16* in = nullptr;   // [tokens][k], rotated per 128-chunk
  int tokens = 0;
  float* out = nullptr;                // [tokens][ldo], columns 0..n-1 written
  int ldo = 0;
  bool accumulate = false;             // out += y instead of out = y
};

// Throws Error{InvalidArgument} naming the value for a bad shape.
void prefill_gemm_q5(const PrefillGemmQ5Args& args, cudaStream_t stream);

}  // namespace hlwq::cuda
