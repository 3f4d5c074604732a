// Attention over whole chunks (attention_prefill) against qwen35.md section 3 and
// hlwq-format.md section 5 as plain loops in double, as test_attention.cpp does for decode:
// (1+w) RMSNorm on q and k, rotate-half partial RoPE, K/V stored as fp16 or codes of the
// rotated normalised vector (explicit Hadamard, nearest centroid, ties low, fp16 norm),
// causal softmax over cache + chunk, sigmoid gate. Several chunks in a row, so later rows
// read K/V that earlier chunks wrote. Then the same chunk against attention_decode token by
// token: the cache bytes must be identical (the same quantizer arithmetic) and the outputs
// agree to 5e-4 with an fp16 cache, 1e-3 (the reference bound) with codes. Tolerance vs the
// reference: relative error < 1e-3 (2e-3 with Q5 codes). The causal pass runs on fp16 tensor
// cores (q, the K/V values read from the cache and the softmax weights rounded to fp16, 11-bit
// significand, fp32 accumulation) where decode multiplies in fp32: a CPU emulation of that
// rounding on this test's inputs gives 2.7e-4 with an fp16 cache and 3.8e-4 when K and V are
// dequantized codes (also rounded); the H200 measured 2.6e-4 and at most 4.3e-4 (2026-11-28).
// The chunk sizes below cross several 64-key tiles and the diagonal at positions that are not
// multiples of 16 or 64.
#include <algorithm>
#include <cstdio>

#include "attention.h"
#include "attention_prefill.h"
#include "flash_attention_prefill.h"
#include "attention_reference.h"
#include "gpu_test_util.h"

namespace hlwq::cuda::test {
namespace {

// KV centroids: Q5 KV uses the converged 5-bit table, the others theirs (hlwq-format.md 2).
std::vector<float> table_for(int bits) { return bits == 16 ? std::vector<float>{0} : bits == 5 ? q5_table() : kv_table(bits); }

using attention_ref::D;
using attention_ref::norm_rope;
using attention_ref::RefCache;

struct Setup {
  int heads, kvh, kbits, vbits, cap, stride;
  std::vector<float> qw, kw;
  Dev<uint8_t> kstore, vstore;
  Dev<float> dqw, dkw, kbook, vbook;
  KvLayer cache;
  Setup(int h, int kv, int kb, int vb, int capacity, uint64_t seed)
      : heads(h), kvh(kv), kbits(kb), vbits(vb), cap(capacity), stride(h * 2 * D + 2 * kv * D + 7),
        qw(uniform(D, -0.3f, 0.3f, seed)), kw(uniform(D, -0.3f, 0.3f, seed + 1)),
        kstore(KvLayer::side_bytes(kb, kv, capacity)), vstore(KvLayer::side_bytes(vb, kv, capacity)), dqw(qw), dkw(kw),
        kbook(table_for(kb)), vbook(table_for(vb)) {
    kstore.poison();
    vstore.poison();
    cache.k = kv_side_in(kstore.p, kb, kv, capacity);
    cache.v = kv_side_in(vstore.p, vb, kv, capacity);
    cache.kv_heads = kv;
    cache.capacity = capacity;
  }
};

void run(int heads, int kvh, int kbits, int vbits, std::vector<int> chunks, uint64_t seed, double bound = 1e-3) {
  SCOPED_TRACE("heads=" + std::to_string(heads) + " kv=" + std::to_string(kvh) + " k" + std::to_string(kbits) + "v" +
               std::to_string(vbits));
  int total = 0, maxT = 0;
  for (int T : chunks) total += T, maxT = std::max(maxT, T);
  const int group = heads / kvh;
  const double theta = 1e7;
  Setup s(heads, kvh, kbits, vbits, total + 5, seed);
  const auto H = hadamard(D);
  RefCache rk{kbits, kbits == 16 ? std::vector<float>{} : table_for(kbits), H, {}};
  RefCache rv{vbits, vbits == 16 ? std::vector<float>{} : table_for(vbits), H, {}};
  Dev<float> dproj(size_t(maxT) * s.stride), dq(size_t(maxT) * heads * D), dout(size_t(maxT) * heads * D);
  AttentionPrefillArgs a;
  a.proj = dproj.p; a.proj_stride = s.stride; a.q_norm_w = s.dqw.p; a.k_norm_w = s.dkw.p;
  a.k_codebook = s.kbook.p; a.v_codebook = s.vbook.p; a.cache = s.cache; a.heads = heads;
  a.rope_theta = float(theta); a.rotary_dim = 64; a.q_work = dq.p; a.out = dout.p;
  int pos = 0;
  double worst = 0;
  for (size_t ci = 0; ci < chunks.size(); ++ci) {
    const int T = chunks[ci];
    const auto proj = uniform(size_t(T) * s.stride, -2.f, 2.f, seed + 100 + ci);
    check(cudaMemcpy(dproj.p, proj.data(), proj.size() * 4, cudaMemcpyHostToDevice), "upload chunk");
    dout.poison();
    dq.poison();
    a.pos = pos;
    a.T = T;
    attention_prefill(a, nullptr);
    const auto got = dout.download();
    for (int t = 0; t < T; ++t) {
      const float* kp = proj.data() + size_t(t) * s.stride + heads * 2 * D;
      for (int h = 0; h < kvh; ++h) {
        rk.rows.push_back(rk.store(norm_rope(kp + h * D, s.kw, pos + t, theta, 64)));
        rv.rows.push_back(rv.store(std::vector<double>(kp + kvh * D + h * D, kp + kvh * D + h * D + D)));
      }
    }
    std::vector<double> expect(size_t(T) * heads * D);
    for (int t = 0; t < T; ++t) {
      const int p = pos + t;
      const float* row = proj.data() + size_t(t) * s.stride;
      for (int j = 0; j < heads; ++j) {
        const int hk = j / group;
        const auto q = norm_rope(row + j * 2 * D, s.qw, p, theta, 64);
        std::vector<double> sc(p + 1);
        double m = -1e300;
        for (int i = 0; i <= p; ++i) {
          double d = 0;
          for (int e = 0; e < D; ++e) d += q[e] * rk.rows[size_t(i) * kvh + hk][e];
          sc[i] = d / 16.0;
          m = std::max(m, sc[i]);
        }
        double l = 0;
        for (auto& v : sc) l += (v = std::exp(v - m));
        for (int e = 0; e < D; ++e) {
          double o = 0;
          for (int i = 0; i <= p; ++i) o += sc[i] * rv.rows[size_t(i) * kvh + hk][e];
          expect[(size_t(t) * heads + j) * D + e] = o / l / (1.0 + std::exp(-double(row[j * 2 * D + D + e])));
        }
      }
    }
    worst = std::max(worst, rel_err(got, expect));
    pos += T;
  }
  std::printf("attention_prefill heads=%d kv=%d k%dv%d rows=%d: rel err vs reference %.3g\n", heads, kvh, kbits,
              vbits, total, worst);
  EXPECT_LT(worst, bound);
}

// The same chunk through attention_prefill and through attention_decode row by row, each on
// its own cache holding the same history.
void versus_decode(int heads, int kvh, int kbits, int vbits, int history, int T, uint64_t seed) {
  SCOPED_TRACE("vs decode heads=" + std::to_string(heads) + " k" + std::to_string(kbits) + "v" + std::to_string(vbits));
  const int cap = history + T + 1;
  Setup p(heads, kvh, kbits, vbits, cap, seed), d(heads, kvh, kbits, vbits, cap, seed);
  const int stride = p.stride;
  const auto hist = uniform(size_t(history) * stride, -2.f, 2.f, seed + 7);
  const auto proj = uniform(size_t(T) * stride, -2.f, 2.f, seed + 8);
  Dev<float> dh(hist), dproj(proj), dq(size_t(std::max(T, history)) * heads * D), dout(size_t(T) * heads * D),
      drow(size_t(heads) * D);
  AttentionPrefillArgs a;
  a.proj_stride = stride; a.q_norm_w = p.dqw.p; a.k_norm_w = p.dkw.p; a.k_codebook = p.kbook.p;
  a.v_codebook = p.vbook.p; a.heads = heads; a.rotary_dim = 64; a.q_work = dq.p; a.out = dout.p;
  for (Setup* s : {&p, &d}) {  // the same history in both caches, written by prefill
    a.cache = s->cache;
    a.proj = dh.p;
    a.pos = 0;
    a.T = history;
    attention_prefill(a, nullptr);
  }
  a.cache = p.cache;
  a.proj = dproj.p;
  a.pos = history;
  a.T = T;
  dout.poison();
  attention_prefill(a, nullptr);
  const auto got = dout.download();

  const int splits = attention_default_splits(cap, kvh);
  Dev<float> dpart(attention_partials_floats(heads, splits)), dqd(size_t(heads) * D);
  Dev<int> dpos(1);
  AttentionArgs b;
  b.q_norm_w = d.dqw.p; b.k_norm_w = d.dkw.p; b.k_codebook = d.kbook.p; b.v_codebook = d.vbook.p; b.cache = d.cache;
  b.pos = dpos.p; b.heads = heads; b.rotary_dim = 64; b.q_work = dqd.p; b.partials = dpart.p; b.max_splits = splits;
  b.out = drow.p;
  std::vector<float> want;
  for (int t = 0; t < T; ++t) {
    b.proj = dproj.p + size_t(t) * stride;
    dpos.upload({history + t});
    attention_decode(b, nullptr);
    const auto r = drow.download();
    want.insert(want.end(), r.begin(), r.end());
  }
  const double err = rel_err(got, std::vector<double>(want.begin(), want.end()));
  std::printf("attention_prefill vs decode heads=%d k%dv%d history=%d rows=%d: rel err %.3g\n", heads, kbits, vbits,
              history, T, err);
  EXPECT_LT(err, kbits == 16 && vbits == 16 ? 5e-4 : 1e-3);
  const auto pk = p.kstore.download(), dk = d.kstore.download(), pv = p.vstore.download(), dv = d.vstore.download();
  EXPECT_TRUE(pk == dk) << "K cache bytes differ";
  EXPECT_TRUE(pv == dv) << "V cache bytes differ";
}

TEST(AttentionPrefill, MatchesReferenceForEveryKvMode) {
  HLWQ_REQUIRE_GPU();
  uint64_t seed = 1;
  for (auto [kb, vb] : std::vector<std::pair<int, int>>{{16, 16}, {5, 5}, {4, 4}, {3, 3}, {2, 2}, {16, 3}, {4, 2}, {5, 16}}) {
    // Q5's 32 levels put more values near a midpoint, where the fp32 GPU rotation and the
    // double reference may pick neighbouring codes (measured 1.22e-3 at k5v5 on an H200;
    // test_attention.cpp bounds Q5 decode at 2e-3 for the same reason).
    const double bound = kb == 5 || vb == 5 ? 2e-3 : 1e-3;
    run(24, 4, kb, vb, {9, 30}, seed++, bound);   // 27B heads, a partial row tile, then a chunk after it
    run(8, 2, kb, vb, {1, 4, 3}, seed++, bound);  // 0.8B heads, a one-row chunk
  }
  run(6, 1, 16, 16, {70, 60}, seed++);       // fixture heads, 130 rows
  run(16, 4, 4, 4, {133}, seed++, 2e-3);     // 4B/9B grouping (code ties: see test_attention.cpp)
  // 27B heads over several key tiles: a chunk that ends mid-tile, then one that starts there.
  for (auto [kb, vb] : std::vector<std::pair<int, int>>{{16, 16}, {4, 3}, {5, 5}, {2, 2}, {16, 4}})
    run(24, 4, kb, vb, {77, 150}, seed++, kb == 5 || vb == 5 ? 2e-3 : 1e-3);
}

TEST(AttentionPrefill, SameCacheAndOutputsAsDecode) {
  HLWQ_REQUIRE_GPU();
  versus_decode(24, 4, 16, 16, 20, 13, 50);
  versus_decode(24, 4, 4, 3, 20, 13, 51);
  versus_decode(8, 2, 2, 2, 5, 40, 52);
  versus_decode(24, 4, 5, 5, 20, 13, 53);
  versus_decode(24, 4, 16, 16, 150, 90, 54);  // several key tiles, the diagonal mid-tile
  versus_decode(24, 4, 4, 3, 150, 90, 55);
}

// Not a check: times the causal pass at the 27B shape (24 query heads over 4 KV heads), a
// whole 4096-token prompt and the last 512-row chunk of one. Run with
// --gtest_also_run_disabled_tests; TFLOP/s counts 2 * 2 * 256 flops per (head, row, key seen).
TEST(AttentionPrefill, DISABLED_Timing27B) {
  HLWQ_REQUIRE_GPU();
  const int heads = 24, kvh = 4, maxT = 4096;
  const int stride = heads * 2 * D + 2 * kvh * D;
  Dev<float> dproj(uniform(size_t(maxT) * stride, -2.f, 2.f, 9)), dq(size_t(maxT) * heads * D),
      dout(size_t(maxT) * heads * D);
  cudaEvent_t e0, e1;
  check(cudaEventCreate(&e0), "event");
  check(cudaEventCreate(&e1), "event");
  for (auto [kb, vb] : std::vector<std::pair<int, int>>{{16, 16}, {3, 3}, {4, 4}, {5, 5}}) {
    ::hlwq::cuda::test::Setup s(heads, kvh, kb, vb, maxT, 10);
    for (auto [pos, T] : std::vector<std::pair<int, int>>{{0, 4096}, {3584, 512}, {0, 512}}) {
      AttentionPrefillArgs a;
      a.proj = dproj.p; a.proj_stride = stride; a.q_norm_w = s.dqw.p; a.k_norm_w = s.dkw.p;
      a.k_codebook = s.kbook.p; a.v_codebook = s.vbook.p; a.cache = s.cache; a.heads = heads;
      a.rotary_dim = 64; a.q_work = dq.p; a.out = dout.p;
      if (pos > 0) {  // the history the chunk attends to
        a.pos = 0;
        a.T = pos;
        attention_prefill(a, nullptr);
      }
      a.pos = pos;
      a.T = T;
      attention_prefill(a, nullptr);  // warm-up; leaves q_work for the causal pass alone
      std::vector<float> all, causal;
      for (int r = 0; r < 5; ++r) {
        float ms = 0;
        check(cudaEventRecord(e0), "event");
        attention_prefill(a, nullptr);
        check(cudaEventRecord(e1), "event");
        check(cudaEventSynchronize(e1), "event");
        check(cudaEventElapsedTime(&ms, e0, e1), "event");
        all.push_back(ms);
        check(cudaEventRecord(e0), "event");
        flash_attention_causal(a, nullptr);
        check(cudaEventRecord(e1), "event");
        check(cudaEventSynchronize(e1), "event");
        check(cudaEventElapsedTime(&ms, e0, e1), "event");
        causal.push_back(ms);
      }
      std::sort(all.begin(), all.end());
      std::sort(causal.begin(), causal.end());
      const double flops = 4.0 * D * heads * (double(T) * (T + 1) / 2 + double(T) * pos);
      std::printf("timing k%dv%d pos %d rows %d: attention_prefill %.3f ms, causal pass %.3f ms = %.1f TFLOP/s\n", kb,
                  vb, pos, T, all[2], causal[2], flops / (causal[2] * 1e-3) / 1e12);
    }
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
}

TEST(AttentionPrefill, RejectsBadArguments) {
  HLWQ_REQUIRE_GPU();
  AttentionPrefillArgs a;
  a.heads = 24;
  a.cache.kv_heads = 4;
  a.cache.capacity = 16;
  a.cache.k.bits = 6;
  a.T = 4;
  a.proj_stride = 1 << 16;
  EXPECT_THROW(attention_prefill(a, nullptr), Error);  // bits
  a.cache.k.bits = 16;
  a.pos = 14;
  EXPECT_THROW(attention_prefill(a, nullptr), Error);  // past the capacity
  EXPECT_FALSE(attention_prefill_supports(6, 16));
  EXPECT_TRUE(attention_prefill_supports(5, 2));
}

}  // namespace
}  // namespace hlwq::cuda::test
