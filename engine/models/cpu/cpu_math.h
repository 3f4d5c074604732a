#pragma once
// The small numeric kernels the CPU forward pass is made of. fp32 throughout.
#include <cstdint>

namespace hlwq::cpu {

float dot(const float* a, const float* b, int n);
// out[i] = table[codes[i]] * scale: the weight side of an HLWQ row (table = codebook / sqrt(128)).
void lookup_scaled(const uint8_t* codes, const float* table, float scale, float* out, int n);
float dot_bf16(const uint16_t* w, const float* x, int n);  // decode: no row buffer
void axpy(float a, const float* x, float* y, int n);  // y += a x
// y = x * rsqrt(mean(x^2) + eps) * (1 + w): Qwen3.5's norms store w as an offset from 1.
void rmsnorm_offset(const float* x, const float* w, float eps, float* y, int n);
// y = x * rsqrt(mean(x^2) + eps) * w: the DeltaNet output norm's plain weight.
void rmsnorm_plain(const float* x, const float* w, float eps, float* y, int n);
inline float sigmoid(float x) { return 1.0f / (1.0f + __builtin_expf(-x)); }
inline float silu(float x) { return x / (1.0f + __builtin_expf(-x)); }
// Normalised Walsh-Hadamard transform of a power-of-two length (H / sqrt(n), its own inverse).
void wht(float* x, int n);
void bf16_row_to_f32(const uint16_t* in, float* out, int64_t n);
void f16_row_to_f32(const uint16_t* in, float* out, int64_t n);

}  // namespace hlwq::cpu
