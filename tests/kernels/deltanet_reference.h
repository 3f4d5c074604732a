#pragma once
// The Gated DeltaNet reference shared by the decode-step and prefill tests: the per-token
// recurrence of qwen35.md section 4 as plain loops in double (causal conv + SiLU over a kept
// history, L2-normalised q/k, sigmoid beta, the decay g, the delta rule on a [hv][128][128] state).
// A token is two parts, conv() over all channels and then head() per value head, so the
// token-by-token step() and the head-parallel chunk (deltanet_parallel_reference.h) run the
// same arithmetic.
#include <cmath>
#include <vector>

namespace hlwq::cuda::test::deltanet_ref {

constexpr int D = 128;

struct RefLayer {
  int hk, hv, C;
  std::vector<double> conv_w, a_log, dt_bias;
  std::vector<std::vector<double>> history;  // pre-conv inputs, oldest first
  std::vector<double> S;                     // [hv][128][128]
  std::vector<double> y;                     // conv + SiLU outputs of the last step

  // Conv + SiLU of one token's pre-conv row `cur` (C channels) into y_out[C]; `cur` joins the history.
  void conv(const float* cur, double* y_out) {
    for (int c = 0; c < C; ++c) {
      double s = conv_w[c * 4 + 3] * cur[c];
      for (int j = 0; j < 3; ++j) {
        const int back = 3 - j;  // w[c][j] multiplies x[t-3+j]
        if (int(history.size()) >= back) s += conv_w[c * 4 + j] * history[history.size() - back][c];
      }
      y_out[c] = s / (1.0 + std::exp(-s));
    }
    history.emplace_back(cur, cur + C);
  }

  // Value head h for one token: q/k/v from its conv outputs yt, b and a from its in_proj row
  // `proj`; updates S[h] and writes the head's 128 outputs. Touches only S[h], so heads may run
  // on different threads.
  void head(int h, const double* yt, const float* proj, double* out) {
    const int kh = h / (hv / hk);
    double q[D], k[D], v[D];
    double qs = 0, ks = 0;
    for (int i = 0; i < D; ++i) {
      q[i] = yt[kh * D + i];
      k[i] = yt[hk * D + kh * D + i];
      v[i] = yt[2 * hk * D + h * D + i];
      qs += q[i] * q[i];
      ks += k[i] * k[i];
    }
    for (int i = 0; i < D; ++i) {
      q[i] = q[i] / std::sqrt(qs + 1e-6) / std::sqrt(double(D));
      k[i] = k[i] / std::sqrt(ks + 1e-6);
    }
    const double b = proj[C + hv * D + h], a = proj[C + hv * D + hv + h];
    const double beta = 1.0 / (1.0 + std::exp(-b));
    const double x = a + dt_bias[h];
    const double sp = x > 20 ? x : std::log1p(std::exp(x));
    const double g = -std::exp(a_log[h]) * sp;
    double* s = &S[size_t(h) * D * D];
    for (int i = 0; i < D * D; ++i) s[i] *= std::exp(g);
    for (int j = 0; j < D; ++j) {
      double kv = 0;
      for (int i = 0; i < D; ++i) kv += s[i * D + j] * k[i];
      const double delta = beta * (v[j] - kv);
      for (int i = 0; i < D; ++i) s[i * D + j] += k[i] * delta;
    }
    for (int j = 0; j < D; ++j) {
      double o = 0;
      for (int i = 0; i < D; ++i) o += s[i * D + j] * q[i];
      out[j] = o;
    }
  }

  std::vector<double> step(const float* proj) {
    y.assign(C, 0.0);
    conv(proj, y.data());
    std::vector<double> out(size_t(hv) * D);
    for (int h = 0; h < hv; ++h) head(h, y.data(), proj, &out[size_t(h) * D]);
    return out;
  }
};

}  // namespace hlwq::cuda::test::deltanet_ref
