// Gated DeltaNet over whole chunks (conv_prefill + deltanet_prefill) against the per-token
// recurrence of qwen35.md section 4 written as plain loops in double: several chunks in a
// row so the conv ring and the fp32 state carry over, a chunk starting after a history, and
// the ring / state left for decode checked too. Tolerance: fp32 throughout, relative error
// < 2e-4 on conv outputs, outputs and state; the ring holds exact copies.
#include "conv_prefill.h"
#include "deltanet_prefill.h"
#include "deltanet_reference.h"
#include "gpu_test_util.h"

namespace hlwq::cuda::test {
namespace {

using deltanet_ref::D;
using deltanet_ref::RefLayer;


// Runs `chunks` (token counts) starting at position pos0 with `history` earlier inputs
// already in the ring (random), comparing every chunk with the reference.
void run(int hk, int hv, int pos0, std::vector<int> chunks, uint64_t seed) {
  SCOPED_TRACE("hk=" + std::to_string(hk) + " hv=" + std::to_string(hv) + " pos0=" + std::to_string(pos0));
  const int C = 2 * hk * D + hv * D;
  const int proj_n = C + hv * D + 2 * hv, stride = proj_n + 5;
  const auto conv_w = uniform(size_t(C) * 4, -0.6f, 0.6f, seed);
  const auto a_log = uniform(hv, -1.f, 2.f, seed + 1);
  const auto dt_bias = uniform(hv, -1.f, 1.f, seed + 2);
  const auto state0 = uniform(size_t(hv) * D * D, -0.05f, 0.05f, seed + 3);
  auto ring0 = uniform(size_t(C) * 4, -2.f, 2.f, seed + 4);
  RefLayer ref{hk, hv, C, {conv_w.begin(), conv_w.end()}, {a_log.begin(), a_log.end()}, {dt_bias.begin(), dt_bias.end()},
               {}, {state0.begin(), state0.end()}, {}};
  if (pos0 == 0) std::fill(ring0.begin(), ring0.end(), 0.f);  // a reset cache
  for (int p = std::max(0, pos0 - 3); p < pos0; ++p)
    ref.history.emplace_back(ring0.begin() + size_t(p & 3) * C, ring0.begin() + size_t((p & 3) + 1) * C);

  int maxT = 0;
  for (int T : chunks) maxT = std::max(maxT, T);
  Dev<float> dconv(conv_w), da(a_log), ddt(dt_bias), dstate(state0), dring(ring0), dproj(size_t(maxT) * stride),
      dqkv(size_t(maxT) * C), dgates(size_t(maxT) * hv * 2), dout(size_t(maxT) * hv * D);
  int pos = pos0;
  for (size_t ci = 0; ci < chunks.size(); ++ci) {
    const int T = chunks[ci];
    SCOPED_TRACE("chunk " + std::to_string(ci) + " of " + std::to_string(T));
    auto proj = uniform(size_t(T) * stride, -2.f, 2.f, seed + 10 + ci);
    for (int t = 0; t < T; ++t)
      for (int i = C + hv * D + hv; i < proj_n; ++i) proj[size_t(t) * stride + i] *= 4;  // reach softplus > 20
    check(cudaMemcpy(dproj.p, proj.data(), proj.size() * 4, cudaMemcpyHostToDevice), "upload chunk");
    dqkv.poison();
    dout.poison();
    ConvPrefillArgs cv;
    cv.in = dproj.p; cv.in_stride = stride; cv.conv_w = dconv.p; cv.ring = dring.p; cv.out = dqkv.p;
    cv.channels = C; cv.T = T; cv.pos = pos;
    conv_prefill(cv, nullptr);
    const auto conv_out = dqkv.download();
    DeltaNetPrefillArgs a;
    a.qkv = dqkv.p; a.proj = dproj.p; a.proj_stride = stride; a.a_log = da.p; a.dt_bias = ddt.p; a.gates = dgates.p;
    a.state = dstate.p; a.out = dout.p; a.hk = hk; a.hv = hv; a.T = T;
    deltanet_prefill(a, nullptr);
    const auto out = dout.download();
    std::vector<double> ey, eo;
    std::vector<float> gy, go;
    for (int t = 0; t < T; ++t) {
      const auto o = ref.step(&proj[size_t(t) * stride]);
      ey.insert(ey.end(), ref.y.begin(), ref.y.end());
      eo.insert(eo.end(), o.begin(), o.end());
      gy.insert(gy.end(), conv_out.begin() + size_t(t) * C, conv_out.begin() + size_t(t + 1) * C);
      go.insert(go.end(), out.begin() + size_t(t) * hv * D, out.begin() + size_t(t + 1) * hv * D);
    }
    EXPECT_LT(rel_err(gy, ey), 2e-4) << "conv outputs";
    EXPECT_LT(rel_err(go, eo), 2e-4) << "outputs";
    EXPECT_LT(rel_err(dstate.download(), ref.S), 2e-4) << "state";
    const auto ring = dring.download();
    for (int p = std::max(pos, pos + T - 4); p < pos + T; ++p)
      for (int c = 0; c < C; ++c)
        ASSERT_EQ(ring[size_t(p & 3) * C + c], proj[size_t(p - pos) * stride + c]) << "ring slot of position " << p;
    pos += T;
  }
}

TEST(DeltaNetPrefill, MatchesRecurrenceAcrossChunks) {
  HLWQ_REQUIRE_GPU();
  run(1, 3, 0, {1, 6, 70}, 1);  // fixture ratio; a one-token chunk, then past the C=64 boundary
  run(2, 4, 9, {3, 40}, 2);     // starting after a history in the ring
  run(16, 48, 0, {20, 2}, 3);   // 27B
  run(16, 16, 5, {33}, 4);      // 0.8B / 2B
}

TEST(DeltaNetPrefill, RejectsBadShapes) {
  HLWQ_REQUIRE_GPU();
  DeltaNetPrefillArgs a;
  a.hk = 16;
  a.hv = 20;
  a.T = 4;
  a.proj_stride = 1 << 20;
  EXPECT_THROW(deltanet_prefill(a, nullptr), Error);
  ConvPrefillArgs c;
  c.channels = 256;
  c.T = 0;
  c.in_stride = 256;
  EXPECT_THROW(conv_prefill(c, nullptr), Error);
}

}  // namespace
}  // namespace hlwq::cuda::test
