// Gated DeltaNet decode step against the per-token recurrence of qwen35.md section 4,
// written out as plain loops in double. Several steps in a row so the conv history and the
// state carry over. Tolerance: fp32 state, relative error < 1e-4 on outputs and state.
#include "deltanet_step.h"
#include "gpu_test_util.h"

namespace hlwq::cuda::test {
namespace {

struct RefLayer {
  int hk, hv, C;
  std::vector<double> conv_w, a_log, dt_bias;
  std::vector<std::vector<double>> history;  // pre-conv inputs, oldest first
  std::vector<double> S;                     // [hv][128][128]

  std::vector<double> step(const std::vector<float>& proj) {
    const int D = 128;
    std::vector<double> cur(proj.begin(), proj.begin() + C);
    std::vector<double> y(C);
    for (int c = 0; c < C; ++c) {
      double s = conv_w[c * 4 + 3] * cur[c];
      for (int j = 0; j < 3; ++j) {
        const int back = 3 - j;  // w[c][j] multiplies x[t-3+j]
        if (int(history.size()) >= back) s += conv_w[c * 4 + j] * history[history.size() - back][c];
      }
      y[c] = s / (1.0 + std::exp(-s));
    }
    history.push_back(cur);
    std::vector<double> out(size_t(hv) * D);
    for (int h = 0; h < hv; ++h) {
      const int kh = h / (hv / hk);
      std::vector<double> q(D), k(D), v(D);
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
        out[h * D + j] = o;
      }
    }
    return out;
  }
};

void run(int hk, int hv, int steps, uint64_t seed) {
  SCOPED_TRACE("hk=" + std::to_string(hk) + " hv=" + std::to_string(hv));
  const int D = 128, C = 2 * hk * D + hv * D;
  const int proj_n = C + hv * D + 2 * hv;
  const auto conv_w = uniform(size_t(C) * 4, -0.6f, 0.6f, seed);
  const auto a_log = uniform(hv, -1.f, 2.f, seed + 1);
  const auto dt_bias = uniform(hv, -1.f, 1.f, seed + 2);
  const auto state0 = uniform(size_t(hv) * D * D, -0.05f, 0.05f, seed + 3);
  RefLayer ref{hk, hv, C, {conv_w.begin(), conv_w.end()}, {a_log.begin(), a_log.end()}, {dt_bias.begin(), dt_bias.end()},
               {}, {state0.begin(), state0.end()}};

  Dev<float> dconv(conv_w), da(a_log), ddt(dt_bias), dstate(state0), dring(size_t(C) * 4), dproj(proj_n), dout(size_t(hv) * D);
  Dev<int> dpos(1);
  check(cudaMemset(dring.p, 0, dring.n * 4), "ring");
  for (int t = 0; t < steps; ++t) {
    auto proj = uniform(proj_n, -2.f, 2.f, seed + 10 + t);
    for (int i = C + hv * D + hv; i < proj_n; ++i) proj[i] *= 4;  // a: reach the softplus > 20 branch sometimes
    dproj.upload(proj);
    dpos.upload({t});
    dout.poison();
    DeltaNetStepArgs a;
    a.proj = dproj.p; a.conv_w = dconv.p; a.conv_ring = dring.p; a.a_log = da.p; a.dt_bias = ddt.p;
    a.state = dstate.p; a.out = dout.p; a.pos = dpos.p; a.hk = hk; a.hv = hv;
    deltanet_step(a, nullptr);
    const auto expect = ref.step(proj);
    EXPECT_LT(rel_err(dout.download(), expect), 1e-4) << "step " << t;
  }
  EXPECT_LT(rel_err(dstate.download(), ref.S), 1e-4);
}

TEST(DeltaNetStep, MatchesRecurrence) {
  HLWQ_REQUIRE_GPU();
  run(1, 1, 3, 1);
  run(2, 6, 5, 2);     // 27B's 3 value heads per key head
  run(16, 48, 4, 3);   // 27B
  run(16, 16, 2, 4);   // 0.8B / 2B
}

TEST(DeltaNetStep, RejectsHeadMismatch) {
  HLWQ_REQUIRE_GPU();
  DeltaNetStepArgs a;
  a.hk = 16;
  a.hv = 20;
  EXPECT_THROW(deltanet_step(a, nullptr), Error);
}

}  // namespace
}  // namespace hlwq::cuda::test
