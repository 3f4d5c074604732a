#pragma once
// The inputs of the prefill GEMMs (prefill_linear.h): each op that feeds a Linear in the
// decode GEMV's prologue (gemv_q5.h GemvInput) done here for T rows at once, fused with the
// normalised 128-point Hadamard of every 128-chunk and the conversion to bf16.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

namespace hlwq::cuda {

// out[t] = H(x[t] * rsqrt(mean(x[t]^2) + eps) * (1 + w)), x fp32 [T][cols] (Qwen3.5 RMSNorm).
void rmsnorm1p_rotate_rows(const float* x, const float* w, float eps, __nv_bfloat16* out, int T, int cols,
                           cudaStream_t stream);
// Per 128-chunk c of row t (one DeltaNet value head): H(rmsnorm(x) * w[j] * silu(gate)),
// gate row t at gate + t * gate_stride.
void gated_norm_rotate_rows(const float* x, const float* gate, int gate_stride, const float* w, float eps,
                            __nv_bfloat16* out, int T, int cols, cudaStream_t stream);
// y fp32 [T][2*cols] holds (gate, up) pairs: out[t][i] chunks of H(silu(y[2i]) * y[2i+1]).
void swiglu_rotate_rows(const float* y, __nv_bfloat16* out, int T, int cols, cudaStream_t stream);
// out = H(x) per 128-chunk, x fp32 [T][cols].
void rotate_rows_f32(const float* x, __nv_bfloat16* out, int T, int cols, cudaStream_t stream);

}  // namespace hlwq::cuda
