#pragma once
// Shared by the GPU kernel tests: skip without a GPU, seeded random data, poisoned outputs,
// and the plain CPU reference math of the specs (explicit Hadamard matrices, no fast paths).
#include <gtest/gtest.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "core/error.h"
#include "cuda_check.h"

namespace hlwq::cuda::test {

#define HLWQ_REQUIRE_GPU()                                                  \
  do {                                                                      \
    if (::hlwq::cuda::device_count_or_zero() == 0) GTEST_SKIP() << "no CUDA GPU"; \
  } while (0)

// Device copy of a host vector; freed at scope end.
template <typename T>
struct Dev {
  T* p = nullptr;
  size_t n = 0;
  explicit Dev(size_t count) : n(count) { check(cudaMalloc(&p, std::max<size_t>(1, n) * sizeof(T)), "test cudaMalloc"); }
  explicit Dev(const std::vector<T>& h) : Dev(h.size()) { upload(h); }
  ~Dev() { cudaFree(p); }
  Dev(const Dev&) = delete;
  void upload(const std::vector<T>& h) { check(cudaMemcpy(p, h.data(), n * sizeof(T), cudaMemcpyHostToDevice), "upload"); }
  std::vector<T> download() const {
    std::vector<T> h(n);
    check(cudaDeviceSynchronize(), "test kernel");
    check(cudaMemcpy(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost), "download");
    return h;
  }
  void poison() { check(cudaMemset(p, 0xff, n * sizeof(T)), "poison"); }  // NaN for floats
};

inline std::vector<float> uniform(size_t n, float lo, float hi, uint64_t seed) {
  std::mt19937_64 g(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

// Normalised Sylvester Hadamard matrix of order n (row-major), built from the definition.
inline std::vector<double> hadamard(int n) {
  std::vector<double> h(size_t(n) * n);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) h[size_t(i) * n + j] = (__builtin_popcount(unsigned(i & j)) & 1 ? -1.0 : 1.0) / std::sqrt(double(n));
  return h;
}

inline std::vector<double> matvec(const std::vector<double>& m, const double* x, int n) {
  std::vector<double> y(n, 0.0);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) y[i] += m[size_t(i) * n + j] * x[j];
  return y;
}

// ||a - b|| / ||b||, and every element must be finite.
inline double rel_err(const std::vector<float>& a, const std::vector<double>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    if (!std::isfinite(a[i])) return INFINITY;
    num += (a[i] - b[i]) * (a[i] - b[i]);
    den += b[i] * b[i];
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

inline std::vector<float> symmetric_table(std::initializer_list<float> half) {
  std::vector<float> h(half), t(2 * h.size());
  for (size_t i = 0; i < h.size(); ++i) {
    t[h.size() + i] = h[i];
    t[h.size() - 1 - i] = -h[i];
  }
  return t;
}
// Converged Lloyd-Max tables, hlwq-format.md section 2 (copied from the spec, not from code).
inline std::vector<float> q5_table() {
  return symmetric_table({0.065890f, 0.198052f, 0.331378f, 0.466700f, 0.604934f, 0.747136f, 0.894565f, 1.048783f,
                          1.211804f, 1.386340f, 1.576228f, 1.787233f, 2.028728f, 2.317739f, 2.691120f, 3.260732f});
}
inline std::vector<float> kv_table(int bits) {
  if (bits == 4) return symmetric_table({0.128395f, 0.388048f, 0.656759f, 0.942340f, 1.256231f, 1.618046f, 2.069017f, 2.732590f});
  if (bits == 3) return symmetric_table({0.245094f, 0.756005f, 1.343909f, 2.151946f});
  return symmetric_table({0.452780f, 1.510418f});
}

inline float half_to_float(uint16_t h) {
  __half_raw r;
  r.x = h;
  return __half2float(__half(r));
}
inline uint16_t float_to_half(float f) { return __half_raw(__float2half(f)).x; }

}  // namespace hlwq::cuda::test
