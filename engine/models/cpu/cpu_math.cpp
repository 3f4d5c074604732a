#include "models/cpu/cpu_math.h"

#include <cmath>

#include "core/half.h"

namespace hlwq::cpu {

// The hot loops get AVX2/AVX-512 clones: one binary runs everywhere and fast where it can.
#define HLWQ_SIMD __attribute__((target_clones("avx512f", "avx2,fma", "default")))

HLWQ_SIMD float dot(const float* a, const float* b, int n) {
  // 16 independent partial sums let the compiler vectorise without -ffast-math.
  float acc[16] = {};
  int i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) acc[j] += a[i + j] * b[i + j];
  float s = 0;
  for (; i < n; ++i) s += a[i] * b[i];
  for (int j = 0; j < 16; ++j) s += acc[j];
  return s;
}

HLWQ_SIMD float dot_bf16(const uint16_t* w, const float* x, int n) {
  float acc[16] = {};
  int i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) acc[j] += bf16_to_f32(w[i + j]) * x[i + j];
  float s = 0;
  for (; i < n; ++i) s += bf16_to_f32(w[i]) * x[i];
  for (int j = 0; j < 16; ++j) s += acc[j];
  return s;
}

HLWQ_SIMD void lookup_scaled(const uint8_t* codes, const float* table, float scale, float* out, int n) {
  for (int i = 0; i < n; ++i) out[i] = table[codes[i]] * scale;
}

HLWQ_SIMD void axpy(float a, const float* x, float* y, int n) {
  for (int i = 0; i < n; ++i) y[i] += a * x[i];
}

static float inv_rms(const float* x, float eps, int n) {
  double ss = 0;
  for (int i = 0; i < n; ++i) ss += double(x[i]) * double(x[i]);
  return float(1.0 / std::sqrt(ss / n + double(eps)));
}

void rmsnorm_offset(const float* x, const float* w, float eps, float* y, int n) {
  const float r = inv_rms(x, eps, n);
  for (int i = 0; i < n; ++i) y[i] = x[i] * r * (1.0f + w[i]);
}

void rmsnorm_plain(const float* x, const float* w, float eps, float* y, int n) {
  const float r = inv_rms(x, eps, n);
  for (int i = 0; i < n; ++i) y[i] = x[i] * r * w[i];
}

void wht(float* x, int n) {
  for (int h = 1; h < n; h *= 2)
    for (int i = 0; i < n; i += 2 * h)
      for (int j = i; j < i + h; ++j) {
        const float a = x[j], b = x[j + h];
        x[j] = a + b;
        x[j + h] = a - b;
      }
  const float s = 1.0f / std::sqrt(float(n));
  for (int i = 0; i < n; ++i) x[i] *= s;
}

HLWQ_SIMD void bf16_row_to_f32(const uint16_t* in, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_f32(in[i]);
}

void f16_row_to_f32(const uint16_t* in, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = f16_to_f32(in[i]);
}

}  // namespace hlwq::cpu
