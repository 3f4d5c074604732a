// GPU sampling against the CPU sampler (engine/models/sampler.cpp) on the same logits:
// - greedy pick inside the decode graph: std::max_element, ties, NaNs, the position advance;
// - GpuSampler: the same id as sample_token() for random logits (27B vocabulary and small),
//   many parameter sets and uniforms, penalties over a growing and a replaced history,
//   vocab_limit, the full-vocabulary fallback, and the CPU's typed errors for bad values.
// A timing test prints microseconds per call for the 27B vocabulary (docs/PERFORMANCE.md).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>

#include "gpu_test_util.h"
#include "models/sampler.h"
#include "sampling.h"

namespace hlwq::cuda::test {
namespace {

constexpr int k27BVocab = 248320;

int run(const std::vector<float>& logits, int* pos_after = nullptr) {
  Dev<float> d(logits);
  Dev<uint8_t> scratch(argmax_scratch_bytes(int(logits.size())));
  check(cudaMemset(scratch.p, 0, scratch.n), "zero the argmax scratch");
  Dev<int32_t> tok(1);
  Dev<int> pos(1);
  pos.upload({41});
  tok.poison();
  sample_greedy(d.p, int(logits.size()), scratch.p, tok.p, pos.p, nullptr);
  if (pos_after) *pos_after = pos.download()[0];
  return tok.download()[0];
}

TEST(SampleGreedy, MatchesMaxElement) {
  HLWQ_REQUIRE_GPU();
  for (int n : {1, 7, 1000, 65537, k27BVocab}) {
    auto v = uniform(n, -10.f, 10.f, n);
    EXPECT_EQ(run(v), int(std::max_element(v.begin(), v.end()) - v.begin())) << n;
  }
}

TEST(SampleGreedy, TiesGoToLowestIndexAndNanNeverWins) {
  HLWQ_REQUIRE_GPU();
  auto v = uniform(k27BVocab, -1.f, 1.f, 3);
  v[200000] = 5.f;
  v[1234] = 5.f;
  v[7] = NAN;
  int pos = 0;
  EXPECT_EQ(run(v, &pos), 1234);
  EXPECT_EQ(pos, 42);
}

TEST(SampleGreedy, OneScratchServesManyCalls) {
  HLWQ_REQUIRE_GPU();
  // The last block of each call resets the scratch's ticket: consecutive picks on one scratch
  // (as in the decode graph) must each see every block's partial.
  Dev<uint8_t> scratch(argmax_scratch_bytes(k27BVocab));
  check(cudaMemset(scratch.p, 0, scratch.n), "zero the argmax scratch");
  Dev<int32_t> tok(1);
  for (int call = 0; call < 6; ++call) {
    auto v = uniform(k27BVocab, -3.f, 3.f, 100 + uint64_t(call));
    v[size_t(call * 40000 + 17)] = 9.f;
    Dev<float> d(v);
    tok.poison();
    sample_greedy(d.p, k27BVocab, scratch.p, tok.p, nullptr, nullptr);
    EXPECT_EQ(tok.download()[0], call * 40000 + 17) << "call " << call;
  }
}

// ---- GpuSampler vs sample_token ------------------------------------------------------------

SamplingParams cpu_params(const GpuSamplingParams& g) {
  SamplingParams p;
  p.temperature = g.temperature;
  p.top_k = g.top_k;
  p.top_p = g.top_p;
  p.min_p = g.min_p;
  p.repetition_penalty = g.repetition_penalty;
  p.presence_penalty = g.presence_penalty;
  p.vocab_limit = g.vocab_limit;
  return p;
}

std::string describe(const GpuSamplingParams& g, float u) {
  char b[200];
  std::snprintf(b, sizeof b, "T=%g top_k=%d top_p=%g min_p=%g rep=%g pres=%g limit=%d u=%g", g.temperature, g.top_k,
                g.top_p, g.min_p, g.repetition_penalty, g.presence_penalty, g.vocab_limit, u);
  return b;
}

int cpu_pick(const std::vector<float>& logits, const GpuSamplingParams& g, const std::vector<int32_t>& history,
             float u) {
  std::vector<float> copy = logits;  // sample_token penalises in place
  return sample_token(copy, cpu_params(g), history, u);
}

// Language-model-like logits: a Gaussian bulk and a handful of strong candidates.
std::vector<float> peaked(int n, uint64_t seed) {
  std::mt19937_64 g(seed);
  std::normal_distribution<float> bulk(0.f, 2.f);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = bulk(g);
  std::uniform_int_distribution<int> pick(0, n - 1);
  for (int i = 0; i < std::min(n, 12); ++i) v[size_t(pick(g))] = 14.f + float(i) * 0.5f;
  return v;
}

std::vector<GpuSamplingParams> param_grid() {
  std::vector<GpuSamplingParams> out;
  for (float t : {0.0f, 0.3f, 0.7f, 1.0f, 1.5f})
    for (int k : {0, 1, 5, 20, 32, 40, 200})
      for (float tp : {1.0f, 0.95f, 0.5f})
        for (float mp : {0.0f, 0.05f}) {
          GpuSamplingParams p;
          p.temperature = t;
          p.top_k = k;
          p.top_p = tp;
          p.min_p = mp;
          out.push_back(p);
        }
  return out;
}

struct Gpu {
  Dev<float> logits;
  GpuSampler sampler;
  cudaStream_t stream = nullptr;
  explicit Gpu(const std::vector<float>& l) : logits(l), sampler(int(l.size())) {
    check(cudaStreamCreate(&stream), "test stream");
  }
  ~Gpu() { cudaStreamDestroy(stream); }
  int pick(const GpuSamplingParams& p, const std::vector<int32_t>& h, float u) {
    return sampler.sample(logits.p, p, h.data(), h.size(), u, stream);
  }
};

void compare_grid(const std::vector<float>& logits, const std::vector<int32_t>& history, int uniforms,
                  int* fallbacks = nullptr) {
  Gpu gpu(logits);
  for (const auto& p : param_grid())
    for (int j = 0; j < uniforms; ++j) {
      const float u = sampling_uniform(uint64_t(p.top_k) * 31 + uint64_t(p.temperature * 10), uint64_t(j));
      const int want = cpu_pick(logits, p, history, u);
      ASSERT_EQ(gpu.pick(p, history, u), want) << describe(p, u) << " vocab " << logits.size();
      if (fallbacks) *fallbacks += gpu.sampler.last_used_fallback();
    }
}

TEST(GpuSampler, MatchesCpuOnPeakedLogits27BVocab) {
  HLWQ_REQUIRE_GPU();
  compare_grid(peaked(k27BVocab, 1), {}, 3);
}

TEST(GpuSampler, MatchesCpuOnFlatLogitsThroughTheFallback) {
  HLWQ_REQUIRE_GPU();
  // Nearly flat logits: top-p over top_k 0 keeps most of the vocabulary, past the candidates.
  int fallbacks = 0;
  compare_grid(uniform(k27BVocab, -1.f, 1.f, 2), {}, 2, &fallbacks);
  EXPECT_GT(fallbacks, 0);
}

TEST(GpuSampler, MatchesCpuOnSmallVocabularies) {
  HLWQ_REQUIRE_GPU();
  for (int n : {1, 2, 7, 31, 32, 33, 100, 2048, 2049, 5000, 70000}) {
    SCOPED_TRACE(n);
    compare_grid(uniform(size_t(n), -4.f, 4.f, uint64_t(n)), {}, 4);
    compare_grid(peaked(n, uint64_t(n) + 7), {}, 2);
  }
}

TEST(GpuSampler, TiesAndNonFiniteLogits) {
  HLWQ_REQUIRE_GPU();
  auto v = peaked(k27BVocab, 5);
  for (int i : {10, 20000, 150000, 248000}) v[size_t(i)] = 16.f;  // a four-way tie at the top
  for (int i = 0; i < 3000; ++i) v[size_t(i * 80 + 3)] = 2.5f;  // a large tie inside the bulk
  v[77] = -INFINITY;  // (NaN has no place in the CPU's sort order: not compared here)
  compare_grid(v, {}, 4);
  std::vector<float> all_inf(5000, -INFINITY);
  compare_grid(all_inf, {}, 2);
}

TEST(GpuSampler, PenaltiesOverAGrowingAndAReplacedHistory) {
  HLWQ_REQUIRE_GPU();
  const auto v = peaked(k27BVocab, 9);
  // The history holds the strong candidates and negative logits, repeats and a bad id.
  std::vector<int32_t> strong;
  for (int i = 0; i < k27BVocab; ++i)
    if (v[size_t(i)] > 10.f) strong.push_back(i);
  Gpu gpu(v);
  std::vector<int32_t> history = {5, 5, -3, k27BVocab + 10};
  std::mt19937_64 g(4);
  std::uniform_int_distribution<int> any(0, k27BVocab - 1);
  for (int step = 0; step < 30; ++step) {
    history.push_back(step % 3 == 0 ? strong[size_t(step / 3) % strong.size()] : any(g));
    for (float rep : {1.0f, 1.3f, 0.8f})
      for (float pres : {0.0f, 1.5f}) {
        GpuSamplingParams p;
        p.temperature = step % 5 == 0 ? 0.0f : 0.8f;
        p.top_k = step % 2 ? 20 : 0;
        p.top_p = 0.9f;
        p.repetition_penalty = rep;
        p.presence_penalty = pres;
        const float u = sampling_uniform(99, uint64_t(step));
        ASSERT_EQ(gpu.pick(p, history, u), cpu_pick(v, p, history, u)) << describe(p, u) << " step " << step;
      }
  }
  // A history that does not extend the last one (a new conversation) rebuilds the set.
  std::vector<int32_t> other(strong.begin(), strong.begin() + 2);
  GpuSamplingParams p;
  p.temperature = 0.0f;
  p.repetition_penalty = 100.0f;
  EXPECT_EQ(gpu.pick(p, other, 0.5f), cpu_pick(v, p, other, 0.5f));
  EXPECT_EQ(gpu.pick(p, {}, 0.5f), cpu_pick(v, p, {}, 0.5f));
}

TEST(GpuSampler, VocabLimitExcludesTheTail) {
  HLWQ_REQUIRE_GPU();
  auto v = peaked(k27BVocab, 11);
  v[248100] = 100.f;  // past the limit: never drawn
  for (int limit : {248044, 151000, 40, 1}) {
    Gpu gpu(v);
    for (float t : {0.0f, 0.7f})
      for (int k : {0, 20})
        for (int j = 0; j < 5; ++j) {
          GpuSamplingParams p;
          p.temperature = t;
          p.top_k = k;
          p.vocab_limit = limit;
          const float u = sampling_uniform(7, uint64_t(j));
          const int got = gpu.pick(p, {}, u);
          EXPECT_LT(got, limit);
          ASSERT_EQ(got, cpu_pick(v, p, {}, u)) << describe(p, u);
        }
  }
}

// The decode graph's way: stage() on the host, enqueue_staged() captured once and replayed
// with new logits, parameters, uniforms and a history that grows by one id per draw (marked
// inside the graph), by 100 (marked before the launch) or is replaced.
TEST(GpuSampler, StagedDrawReplaysInACapturedGraph) {
  HLWQ_REQUIRE_GPU();
  Dev<float> logits(static_cast<size_t>(k27BVocab));
  GpuSampler sampler(k27BVocab);
  cudaStream_t stream = nullptr;
  check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "test stream");
  GpuSamplingParams p;
  sampler.stage(logits.p, p, nullptr, 0, 0.5f, stream);
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "capture");
  sampler.enqueue_staged(stream);
  check(cudaStreamEndCapture(stream, &graph), "capture");
  check(cudaGraphInstantiate(&exec, graph, 0), "instantiate");
  std::mt19937_64 g(17);
  std::uniform_int_distribution<int> any(0, k27BVocab - 1);
  std::vector<int32_t> history = {3, 3, 99};
  int penalized_draws = 0;
  for (int step = 0; step < 40; ++step) {
    const auto v = peaked(k27BVocab, 500 + uint64_t(step));
    logits.upload(v);
    if (step == 25) history = {1, 2};  // a new conversation
    const int grow = step % 9 == 4 ? 100 : 1;
    for (int i = 0; i < grow; ++i) {
      // Often one of the strong candidates, so the penalties change the pick.
      const int id = i == 0 && step % 2 ? int(std::max_element(v.begin(), v.end()) - v.begin()) : any(g);
      history.push_back(id);
    }
    p = GpuSamplingParams();
    p.temperature = step % 4 == 0 ? 0.0f : 0.8f;
    p.top_k = step % 3 == 0 ? 0 : step % 3 == 1 ? 20 : 40;
    p.top_p = 0.9f;
    p.min_p = step % 5 == 0 ? 0.05f : 0.0f;
    p.repetition_penalty = step % 7 == 3 ? 1.0f : 1.5f;  // some draws without penalties: their ids wait
    p.presence_penalty = step % 2 ? 2.0f : 0.0f;
    p.vocab_limit = step % 6 == 5 ? 150000 : 0;
    penalized_draws += p.repetition_penalty != 1.0f || p.presence_penalty != 0.0f;
    const float u = sampling_uniform(31, uint64_t(step));
    sampler.stage(logits.p, p, history.data(), history.size(), u, stream);
    check(cudaGraphLaunch(exec, stream), "graph launch");
    check(cudaStreamSynchronize(stream), "graph");
    ASSERT_EQ(sampler.result(), cpu_pick(v, p, history, u)) << describe(p, u) << " step " << step;
  }
  EXPECT_GT(penalized_draws, 20);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(stream);
}

TEST(GpuSampler, BadParametersGiveTheCpuSamplersErrors) {
  HLWQ_REQUIRE_GPU();
  const auto v = uniform(1000, -1.f, 1.f, 1);
  Gpu gpu(v);
  std::vector<GpuSamplingParams> bad(6);
  bad[0].temperature = -1.0f;
  bad[1].temperature = NAN;
  bad[2].repetition_penalty = 0.0f;
  bad[3].repetition_penalty = INFINITY;
  bad[4].top_p = NAN;
  bad[5].presence_penalty = INFINITY;
  for (const auto& p : bad) {
    std::string cpu_msg, gpu_msg;
    ErrorKind cpu_kind{}, gpu_kind{};
    try {
      cpu_pick(v, p, {}, 0.5f);
    } catch (const Error& e) {
      cpu_msg = e.what();
      cpu_kind = e.kind();
    }
    try {
      gpu.pick(p, {}, 0.5f);
    } catch (const Error& e) {
      gpu_msg = e.what();
      gpu_kind = e.kind();
    }
    EXPECT_FALSE(cpu_msg.empty());
    EXPECT_EQ(gpu_msg, cpu_msg);
    EXPECT_EQ(gpu_kind, ErrorKind::InvalidArgument);
    EXPECT_EQ(gpu_kind, cpu_kind);
  }
  EXPECT_THROW(GpuSampler(0), Error);
}

// Microseconds per sample() call (enqueue, kernels, id to the host) against the path it
// replaces (logits to the host, sample_token on the CPU), 27B vocabulary, median of 70.
TEST(GpuSampler, TimingAt27BVocab) {
  HLWQ_REQUIRE_GPU();
  const auto v = peaked(k27BVocab, 21);
  Gpu gpu(v);
  std::vector<float> host(v.size());
  float* pinned = nullptr;
  check(cudaMallocHost(&pinned, v.size() * 4), "pinned logits");
  std::vector<int32_t> history;
  for (int i = 0; i < 2000; ++i) history.push_back((i * 7919) % k27BVocab);
  struct Case {
    const char* name;
    GpuSamplingParams p;
  };
  std::vector<Case> cases(5);
  cases[0] = {"greedy", {}};
  cases[0].p.temperature = 0.0f;
  cases[1] = {"default T0.7 k20 p0.95", {}};
  cases[2] = {"default + rep 1.1 (2000-id history)", {}};
  cases[2].p.repetition_penalty = 1.1f;
  cases[3] = {"T0.7 k0 p0.95", {}};
  cases[3].p.top_k = 0;
  cases[4] = {"T1.0 k0 p1.0 (whole vocabulary)", {}};
  cases[4].p.top_k = 0;
  cases[4].p.top_p = 1.0f;
  cases[4].p.temperature = 1.0f;
  const auto median = [](std::vector<double> x) {
    std::sort(x.begin(), x.end());
    return x[x.size() / 2];
  };
  cudaEvent_t e0, e1;
  check(cudaEventCreate(&e0), "event");
  check(cudaEventCreate(&e1), "event");
  for (const auto& c : cases) {
    std::vector<double> g, h, k;
    for (int r = 0; r < 80; ++r) {
      const float u = sampling_uniform(5, uint64_t(r));
      check(cudaEventRecord(e0, gpu.stream), "event");
      gpu.sampler.enqueue(gpu.logits.p, c.p, history.data(), history.size(), u, gpu.stream);
      check(cudaEventRecord(e1, gpu.stream), "event");
      check(cudaEventSynchronize(e1), "event");
      float ms = 0;
      check(cudaEventElapsedTime(&ms, e0, e1), "event");
      auto t0 = std::chrono::steady_clock::now();
      gpu.pick(c.p, history, u);
      auto t1 = std::chrono::steady_clock::now();
      check(cudaMemcpyAsync(pinned, gpu.logits.p, v.size() * 4, cudaMemcpyDeviceToHost, gpu.stream), "logits copy");
      check(cudaStreamSynchronize(gpu.stream), "logits copy");
      std::copy(pinned, pinned + v.size(), host.begin());
      sample_token(host, cpu_params(c.p), history, u);
      auto t2 = std::chrono::steady_clock::now();
      if (r >= 10) {
        k.push_back(double(ms) * 1000.0);
        g.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
        h.push_back(std::chrono::duration<double, std::micro>(t2 - t1).count());
      }
    }
    std::printf(
        "[timing] sampler %-36s kernels %7.1f us, sample() %7.1f us/call; host path (copy + sample_token) %8.1f us/call; "
        "fallback=%d\n",
        c.name, median(k), median(g), median(h), int(gpu.sampler.last_used_fallback()));
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  cudaFreeHost(pinned);
}

}  // namespace
}  // namespace hlwq::cuda::test
