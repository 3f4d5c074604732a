#pragma once
// Prefill linear layers: many tokens at once are compute-bound, so the codes are expanded to
// bf16 in the rotated domain (a pure table lookup times the block norm) into a scratch
// buffer and multiplied by the Hadamard-rotated activations with cuBLAS on tensor cores.
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "q_dequant.h"

namespace hlwq::cuda {

// Each 128-chunk of each of the `rows` rows of x [rows][cols] replaced by its normalised WHT.
void rotate_rows_bf16(const __nv_bfloat16* x, __nv_bfloat16* out, int rows, int cols, cudaStream_t stream);
// y[t][n] = sum_k x[t][k] * w[n][k] (bf16 in and out, fp32 accumulation).
void gemm_bf16_xwt(cublasHandle_t handle, const __nv_bfloat16* x, const __nv_bfloat16* w, __nv_bfloat16* y, int tokens,
                   int n, int k);

}  // namespace hlwq::cuda
