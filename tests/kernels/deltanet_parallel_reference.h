#pragma once
// The recurrence of deltanet_reference.h (qwen35.md section 4 as plain loops in double) over a
// whole chunk with the value heads spread over threads: the same arithmetic token by token,
// fast enough to check 27B-layout chunks of 1000 tokens.
#include <algorithm>
#include <thread>

#include "deltanet_reference.h"

namespace hlwq::cuda::test::deltanet_ref {

// Advances `ref` (conv history, state) over T tokens of in_proj rows `proj` (row stride
// `stride`); ys gets the conv + SiLU outputs [T][C], outs the outputs [T][hv * 128].
inline void run_chunk(RefLayer& ref, const float* proj, int stride, int T, std::vector<double>& ys,
                      std::vector<double>& outs) {
  const int C = ref.C, hk = ref.hk, hv = ref.hv;
  ys.assign(size_t(T) * C, 0.0);
  outs.assign(size_t(T) * hv * D, 0.0);
  for (int t = 0; t < T; ++t) {
    const float* cur = proj + size_t(t) * stride;
    double* y = &ys[size_t(t) * C];
    for (int c = 0; c < C; ++c) {
      double s = ref.conv_w[c * 4 + 3] * cur[c];
      for (int j = 0; j < 3; ++j) {
        const int back = 3 - j;  // w[c][j] multiplies x[t-3+j]
        if (int(ref.history.size()) >= back) s += ref.conv_w[c * 4 + j] * ref.history[ref.history.size() - back][c];
      }
      y[c] = s / (1.0 + std::exp(-s));
    }
    ref.history.emplace_back(cur, cur + C);
  }
  if (T > 0) ref.y.assign(ys.end() - C, ys.end());
  auto heads = [&](int h0, int h1) {
    std::vector<double> q(D), k(D), v(D);
    for (int h = h0; h < h1; ++h) {
      const int kh = h / (hv / hk);
      double* s = &ref.S[size_t(h) * D * D];
      for (int t = 0; t < T; ++t) {
        const double* y = &ys[size_t(t) * C];
        const float* p = proj + size_t(t) * stride;
        double qs = 0, ks = 0;
        for (int i = 0; i < D; ++i) {
          q[i] = y[kh * D + i];
          k[i] = y[hk * D + kh * D + i];
          v[i] = y[2 * hk * D + h * D + i];
          qs += q[i] * q[i];
          ks += k[i] * k[i];
        }
        for (int i = 0; i < D; ++i) {
          q[i] = q[i] / std::sqrt(qs + 1e-6) / std::sqrt(double(D));
          k[i] = k[i] / std::sqrt(ks + 1e-6);
        }
        const double b = p[C + hv * D + h], a = p[C + hv * D + hv + h];
        const double beta = 1.0 / (1.0 + std::exp(-b));
        const double x = a + ref.dt_bias[h];
        const double sp = x > 20 ? x : std::log1p(std::exp(x));
        const double decay = std::exp(-std::exp(ref.a_log[h]) * sp);
        for (int i = 0; i < D * D; ++i) s[i] *= decay;
        for (int j = 0; j < D; ++j) {
          double kv = 0;
          for (int i = 0; i < D; ++i) kv += s[i * D + j] * k[i];
          const double delta = beta * (v[j] - kv);
          for (int i = 0; i < D; ++i) s[i * D + j] += k[i] * delta;
        }
        double* o = &outs[size_t(t) * hv * D + size_t(h) * D];
        for (int j = 0; j < D; ++j) {
          double acc = 0;
          for (int i = 0; i < D; ++i) acc += s[i * D + j] * q[i];
          o[j] = acc;
        }
      }
    }
  };
  const int n = std::max(1, std::min<int>(hv, int(std::thread::hardware_concurrency())));
  std::vector<std::thread> pool;
  for (int w = 0; w < n; ++w) pool.emplace_back(heads, hv * w / n, hv * (w + 1) / n);
  for (auto& th : pool) th.join();
}

}  // namespace hlwq::cuda::test::deltanet_ref
