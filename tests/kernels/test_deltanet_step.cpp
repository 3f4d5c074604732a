// Gated DeltaNet decode step against the per-token recurrence of qwen35.md section 4,
// written out as plain loops in double. Several steps in a row so the conv history and the
// state carry over. Tolerance: fp32 state, relative error < 1e-4 on outputs and state.
#include "deltanet_reference.h"
#include "deltanet_step.h"
#include "gpu_test_util.h"

namespace hlwq::cuda::test {
namespace {

using deltanet_ref::RefLayer;

void run(int hk, int hv, int steps, uint64_t seed) {
  SCOPED_TRACE("hk=" + std::to_string(hk) + " hv=" + std::to_string(hv));
  const int D = 128, C = 2 * hk * D + hv * D;
  const int proj_n = C + hv * D + 2 * hv;
  const auto conv_w = uniform(size_t(C) * 4, -0.6f, 0.6f, seed);
  const auto a_log = uniform(hv, -1.f, 2.f, seed + 1);
  const auto dt_bias = uniform(hv, -1.f, 1.f, seed + 2);
  const auto state0 = uniform(size_t(hv) * D * D, -0.05f, 0.05f, seed + 3);
  RefLayer ref{hk, hv, C, {conv_w.begin(), conv_w.end()}, {a_log.begin(), a_log.end()}, {dt_bias.begin(), dt_bias.end()},
               {}, {state0.begin(), state0.end()}, {}};

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
    const auto expect = ref.step(proj.data());
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
