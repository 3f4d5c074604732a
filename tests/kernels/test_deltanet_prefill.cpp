// Gated DeltaNet over whole chunks (conv_prefill + deltanet_prefill) against the per-token
// recurrence of qwen35.md section 4 written as plain loops in double: several chunks in a
// row so the conv ring and the fp32 state carry over, a chunk starting after a history, and
// the ring / state left for decode checked too. Every form of the delta rule runs on its own
// copy of the ring and state against the same reference.
// Tolerances (relative error ||got - ref|| / ||ref||): conv outputs 2e-4 (fp32); the recurrent
// form 2e-4 (fp32 throughout); the 3xTF32 chunked form 2e-4 (hi + lo tf32 parts: products to
// about 2^-21, like fp32); the tf32 chunked form 3e-3 (the inputs of W S, Q S, Q K^T, P V' and
// K^T V' are rounded to 10-bit mantissas, 2^-11 = 4.9e-4 each; sums and the state stay fp32).
#include <algorithm>
#include <cstdio>
#include <iterator>
#include <memory>

#include "conv_prefill.h"
#include "deltanet_prefill.h"
#include "deltanet_parallel_reference.h"
#include "deltanet_reference.h"
#include "gpu_test_util.h"

namespace hlwq::cuda::test {
namespace {

using deltanet_ref::D;
using deltanet_ref::RefLayer;


struct Form {
  DeltaNetPrefillForm form;
  const char* name;
  double tol;
};
constexpr Form kForms[] = {{DeltaNetPrefillForm::Recurrent, "recurrent", 2e-4},
                           {DeltaNetPrefillForm::Chunked, "chunked tf32", 3e-3},
                           {DeltaNetPrefillForm::ChunkedSplit, "chunked 3xtf32", 2e-4}};

// Runs `chunks` (token counts) starting at position pos0 with `history` earlier inputs
// already in the ring (random), comparing every chunk of every form with the reference.
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
  constexpr int kN = int(std::size(kForms));
  Dev<float> dconv(conv_w), da(a_log), ddt(dt_bias), dproj(size_t(maxT) * stride), dqkv(size_t(maxT) * C),
      dgates(size_t(maxT) * hv * 2), dout(size_t(maxT) * hv * D);
  std::vector<std::unique_ptr<Dev<float>>> dstate, dring;
  for (int f = 0; f < kN; ++f) {
    dstate.push_back(std::make_unique<Dev<float>>(state0));
    dring.push_back(std::make_unique<Dev<float>>(ring0));
  }
  int pos = pos0;
  for (size_t ci = 0; ci < chunks.size(); ++ci) {
    const int T = chunks[ci];
    SCOPED_TRACE("chunk " + std::to_string(ci) + " of " + std::to_string(T));
    auto proj = uniform(size_t(T) * stride, -2.f, 2.f, seed + 10 + ci);
    for (int t = 0; t < T; ++t)
      for (int i = C + hv * D + hv; i < proj_n; ++i) proj[size_t(t) * stride + i] *= 4;  // reach softplus > 20
    check(cudaMemcpy(dproj.p, proj.data(), proj.size() * 4, cudaMemcpyHostToDevice), "upload chunk");
    std::vector<double> ey, eo;
    deltanet_ref::run_chunk(ref, proj.data(), stride, T, ey, eo);
    for (int f = 0; f < kN; ++f) {
      SCOPED_TRACE(kForms[f].name);
      dqkv.poison();
      dout.poison();
      dgates.poison();
      ConvPrefillArgs cv;
      cv.in = dproj.p; cv.in_stride = stride; cv.conv_w = dconv.p; cv.ring = dring[f]->p; cv.out = dqkv.p;
      cv.channels = C; cv.T = T; cv.pos = pos;
      conv_prefill(cv, nullptr);
      const auto conv_out = dqkv.download();
      DeltaNetPrefillArgs a;
      a.qkv = dqkv.p; a.proj = dproj.p; a.proj_stride = stride; a.a_log = da.p; a.dt_bias = ddt.p; a.gates = dgates.p;
      a.state = dstate[f]->p; a.out = dout.p; a.hk = hk; a.hv = hv; a.T = T; a.form = kForms[f].form;
      deltanet_prefill(a, nullptr);
      const auto out = dout.download();
      std::vector<float> gy(conv_out.begin(), conv_out.begin() + size_t(T) * C);
      std::vector<float> go(out.begin(), out.begin() + size_t(T) * hv * D);
      const double e_conv = rel_err(gy, ey), e_out = rel_err(go, eo), e_state = rel_err(dstate[f]->download(), ref.S);
      std::printf("  hk %d hv %d T %4d %-15s conv %.2e  outputs %.2e  state %.2e\n", hk, hv, T, kForms[f].name, e_conv,
                  e_out, e_state);
      EXPECT_LT(e_conv, 2e-4) << "conv outputs";
      EXPECT_LT(e_out, kForms[f].tol) << "outputs";
      EXPECT_LT(e_state, kForms[f].tol) << "state";
      const auto ring = dring[f]->download();
      for (int p = std::max(pos, pos + T - 4); p < pos + T; ++p)
        for (int c = 0; c < C; ++c)
          ASSERT_EQ(ring[size_t(p & 3) * C + c], proj[size_t(p - pos) * stride + c]) << "ring slot of position " << p;
    }
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

// The 27B head layout across the chunk edges of the WY form (1, 7: less than a chunk; 64: one
// exactly; 65: one token over; 200, 1000: many chunks, the last partial), state carried through.
TEST(DeltaNetPrefill, MatchesRecurrenceAt27BLayout) {
  HLWQ_REQUIRE_GPU();
  run(16, 48, 0, {1, 7, 64, 65, 200, 1000}, 5);
}

// A 4096-token prompt at the 27B layout (the prefill bench's chunk): the chunked forms against
// the recurrent form (itself checked against double above), and each form's time (median of
// 5, events around conv-free deltanet_prefill calls; printed, not asserted). Same tolerances.
TEST(DeltaNetPrefill, ChunkedMatchesRecurrentAt4096Tokens) {
  HLWQ_REQUIRE_GPU();
  const int hk = 16, hv = 48, T = 4096, C = 2 * hk * D + hv * D;
  const int stride = C + hv * D + 2 * hv;
  auto proj = uniform(size_t(T) * stride, -2.f, 2.f, 41);
  auto qkv = uniform(size_t(T) * C, -1.f, 1.f, 42);  // stands in for conv outputs
  const auto a_log = uniform(hv, -4.f, 0.f, 43);        // milder decay than above: the state carries far
  const auto dt_bias = uniform(hv, -1.f, 1.f, 44);
  const auto state0 = uniform(size_t(hv) * D * D, -0.05f, 0.05f, 45);
  Dev<float> dproj(proj), dqkv(size_t(T) * C), da(a_log), ddt(dt_bias), dstate(state0), dgates(size_t(T) * hv * 2),
      dout(size_t(T) * hv * D);
  cudaEvent_t e0, e1;
  check(cudaEventCreate(&e0), "event");
  check(cudaEventCreate(&e1), "event");
  std::vector<float> ref_out, ref_state;
  for (const Form& f : kForms) {
    SCOPED_TRACE(f.name);
    std::vector<float> ms;
    for (int rep = 0; rep < 5; ++rep) {
      dqkv.upload(qkv);
      dstate.upload(state0);
      dout.poison();
      DeltaNetPrefillArgs a;
      a.qkv = dqkv.p; a.proj = dproj.p; a.proj_stride = stride; a.a_log = da.p; a.dt_bias = ddt.p; a.gates = dgates.p;
      a.state = dstate.p; a.out = dout.p; a.hk = hk; a.hv = hv; a.T = T; a.form = f.form;
      check(cudaEventRecord(e0), "event");
      deltanet_prefill(a, nullptr);
      check(cudaEventRecord(e1), "event");
      check(cudaEventSynchronize(e1), "event");
      float m = 0;
      check(cudaEventElapsedTime(&m, e0, e1), "event");
      ms.push_back(m);
    }
    std::sort(ms.begin(), ms.end());
    const auto out = dout.download(), state = dstate.download();
    if (f.form == DeltaNetPrefillForm::Recurrent) {
      ref_out = out;
      ref_state = state;
    }
    const std::vector<double> eo(ref_out.begin(), ref_out.end()), es(ref_state.begin(), ref_state.end());
    const double e_out = rel_err(out, eo), e_state = rel_err(state, es);
    std::printf("  T 4096 hk 16 hv 48 %-15s %8.3f ms (median of 5)  outputs %.2e  state %.2e vs recurrent\n", f.name,
                ms[2], e_out, e_state);
    EXPECT_LT(e_out, f.tol) << "outputs";
    EXPECT_LT(e_state, f.tol) << "state";
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
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
