#pragma once
// Expansion of a Q5, Q4 or Q3 GPU matrix to bf16 in the rotated domain, for the
// compute-bound (many-token) paths: the codes become codebook[code] * block norm / sqrt(128),
// and the caller multiplies them by Hadamard-rotated activations. It reads the GPU layout of
// q_matrix.h, so it lives beside it and changes with it.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "q_matrix.h"

namespace hlwq::cuda {

// out[r][c] = norm[r][c/128] * codebook[code[r][c]] / sqrt(128), bf16 [rows][cols];
// `codebook` (device) holds 2^w.bits centroids. Error{InvalidArgument} naming the width for
// one the layout does not define.
void dequantize_rotated(const QMatrix& w, const float* codebook, __nv_bfloat16* out, cudaStream_t stream);

}  // namespace hlwq::cuda
