#pragma once
// The attention references shared by the decode and prefill tests, written from qwen35.md
// section 3 and hlwq-format.md section 5 as plain loops in double: the K/V cache's storage
// (fp16, or codes of the rotated normalised vector with an explicit Hadamard matrix, nearest
// centroid with ties low, fp16 norm) and the (1+w) RMSNorm + rotate-half partial RoPE.
#include <algorithm>
#include <cmath>
#include <vector>

#include "gpu_test_util.h"

namespace hlwq::cuda::test::attention_ref {

constexpr int D = 256;

struct RefCache {
  int bits;
  std::vector<float> table;
  std::vector<double> H;
  std::vector<std::vector<double>> rows;  // per (token, kv head): reconstructed vector

  std::vector<double> store(const std::vector<double>& x) const {
    std::vector<double> out(D);
    if (bits == 16) {
      for (int i = 0; i < D; ++i) out[i] = half_to_float(float_to_half(float(x[i])));
      return out;
    }
    double nn = 0;
    for (double v : x) nn += v * v;
    const double n = std::max(std::sqrt(nn), 1e-10);
    std::vector<double> xn(D);
    for (int i = 0; i < D; ++i) xn[i] = x[i] / n;
    auto z = matvec(H, xn.data(), D);
    std::vector<double> c(D);
    for (int i = 0; i < D; ++i) {
      z[i] *= std::sqrt(double(D));
      int code = 0;
      for (size_t k = 0; k + 1 < table.size(); ++k) code += (double(table[k]) + table[k + 1]) * 0.5 < z[i];
      c[i] = table[code] / std::sqrt(double(D));
    }
    const auto r = matvec(H, c.data(), D);
    const double nh = half_to_float(float_to_half(float(n)));
    for (int i = 0; i < D; ++i) out[i] = nh * r[i];
    return out;
  }
};

std::vector<double> norm_rope(const float* x, const std::vector<float>& w, int pos, double theta, int rot) {
  double ss = 0;
  for (int i = 0; i < D; ++i) ss += double(x[i]) * x[i];
  const double r = 1.0 / std::sqrt(ss / D + 1e-6);
  std::vector<double> y(D), out(D);
  for (int i = 0; i < D; ++i) y[i] = x[i] * r * (1.0 + w[i]);
  out = y;
  for (int i = 0; i < rot / 2; ++i) {
    const double ang = double(pos) * double(float(std::pow(theta, -2.0 * i / rot)));
    out[i] = y[i] * std::cos(ang) - y[i + rot / 2] * std::sin(ang);
    out[i + rot / 2] = y[i + rot / 2] * std::cos(ang) + y[i] * std::sin(ang);
  }
  return out;
}

}  // namespace hlwq::cuda::test::attention_ref
