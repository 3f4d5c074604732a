// CudaBackend::decode_and_sample (the pick on the device, only the id back) against the CPU
// sampler applied to the same backend's logits: two CUDA backends on the committed
// ratio27b-hlwq-q5 fixture run the same tokens; one samples on the device, the other returns
// logits for sample_token(). Also: a bad request is refused with the CPU's typed error and
// leaves the cache as it was, and Q5 KV (k5v5, k16v5) runs the decode graph.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "core/error.h"
#include "cuda_backend.h"
#include "cuda_check.h"
#include "fixture_model.h"
#include "models/sampler.h"

namespace hlwq::cuda::test {
namespace {

constexpr const char* kFixture = "ratio27b-hlwq-q5";

class CudaSampling : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::hlwq::cuda::device_count_or_zero() == 0) GTEST_SKIP() << "no CUDA GPU";
    if (!std::filesystem::exists(hlwq::test::fixture_dir(kFixture) / "reference")) GTEST_SKIP() << "fixture not built";
    src_ = hlwq::test::load_fixture(kFixture);
    prompt_ = hlwq::test::fixture_prompts(kFixture)["prompts"][0].get<std::vector<int32_t>>();
  }
  std::unique_ptr<ModelBackend> make(KvConfig kv) const {
    BackendOptions o;
    o.context_length = 256;
    o.kv = kv;
    return make_cuda_backend(src_, o);
  }
  ModelSource src_;
  std::vector<int32_t> prompt_;
};

TEST_F(CudaSampling, DecodeAndSampleMatchesSampleTokenOnTheSameLogits) {
  for (KvConfig kv : {KvConfig::uniform(16), KvConfig::uniform(5), KvConfig{16, 5}}) {
    SCOPED_TRACE(kv_name(kv));
    auto dev = make(kv), ref = make(kv);
    const int vocab = dev->config().vocab_size;
    std::vector<float> logits(static_cast<size_t>(vocab));
    dev->forward(prompt_, 0, nullptr, 0);
    ref->forward(prompt_, 0, logits.data(), 1);
    std::vector<int32_t> history = prompt_;
    SamplingParams p;
    p.repetition_penalty = 1.2f;
    p.presence_penalty = 0.5f;
    p.vocab_limit = vocab - 3;
    int32_t next = sample_token(logits, p, history, sampling_uniform(3, 0));
    for (int step = 1; step < 24; ++step) {
      history.push_back(next);
      p.temperature = step % 4 == 0 ? 0.0f : 0.9f;
      p.top_k = step % 3 == 0 ? 0 : 20;
      const float u = sampling_uniform(3, uint64_t(step));
      const int pos = int(history.size()) - 1;
      const int32_t got = dev->decode_and_sample(next, pos, p, history, u);
      ref->forward(std::span<const int32_t>(&next, 1), pos, logits.data(), 1);
      const int32_t want = sample_token(logits, p, history, u);
      ASSERT_EQ(got, want) << "step " << step;
      next = got;
    }
  }
}

// The draw inside the step's graph (default) and after it (set_sampler_in_graph false) pick
// the same ids on the same tokens, greedy and sampled, with penalties over a history that
// grows by one id per call.
TEST_F(CudaSampling, SamplerInsideTheGraphMatchesTheSamplerAfterIt) {
  auto in_graph = make(KvConfig::uniform(16)), after = make(KvConfig::uniform(16));
  set_sampler_in_graph(*after, false);
  in_graph->forward(prompt_, 0, nullptr, 0);
  after->forward(prompt_, 0, nullptr, 0);
  std::vector<int32_t> history = prompt_;
  int32_t next = prompt_.front();
  SamplingParams p;
  p.repetition_penalty = 1.3f;
  for (int step = 0; step < 30; ++step) {
    history.push_back(next);
    p.temperature = step % 3 == 0 ? 0.0f : 1.0f;
    p.top_k = step % 2 ? 0 : 20;
    const float u = sampling_uniform(8, uint64_t(step));
    const int pos = int(history.size()) - 1;
    const int32_t a = in_graph->decode_and_sample(next, pos, p, history, u);
    const int32_t b = after->decode_and_sample(next, pos, p, history, u);
    ASSERT_EQ(a, b) << "step " << step;
    next = a;
  }
}

// Host wall time per decode_and_sample on the fixture (a tiny model: this is the per-token
// launch and synchronization overhead, not the model's speed), sampler inside the graph and
// after it, default sampling parameters with a repetition penalty, median of 60 after 10.
TEST_F(CudaSampling, TimingPerToken) {
  for (bool graph : {true, false}) {
    auto dev = make(KvConfig::uniform(16));
    set_sampler_in_graph(*dev, graph);
    dev->forward(prompt_, 0, nullptr, 0);
    std::vector<int32_t> history = prompt_;
    SamplingParams p;
    p.repetition_penalty = 1.1f;
    int32_t next = 1;
    std::vector<double> us;
    for (int i = 0; i < 70 && int(history.size()) < 250; ++i) {
      history.push_back(next);
      const auto t0 = std::chrono::steady_clock::now();
      next = dev->decode_and_sample(next, int(history.size()) - 1, p, history, sampling_uniform(2, uint64_t(i)));
      const auto t1 = std::chrono::steady_clock::now();
      if (i >= 10) us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    }
    std::sort(us.begin(), us.end());
    std::printf("[timing] decode_and_sample, sampler %s: %.1f us/token (median of %zu, fixture %s)\n",
                graph ? "inside the step graph" : "after the step graph", us[us.size() / 2], us.size(), kFixture);
  }
}

TEST_F(CudaSampling, BadParametersAreRefusedBeforeTheStep) {
  auto dev = make(KvConfig::uniform(16));
  dev->forward(prompt_, 0, nullptr, 0);
  SamplingParams p;
  p.temperature = -1.0f;
  try {
    dev->decode_and_sample(prompt_.back(), int(prompt_.size()), p, prompt_, 0.5f);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument);
    EXPECT_NE(std::string(e.what()).find("temperature"), std::string::npos);
  }
  EXPECT_EQ(dev->n_cached(), int(prompt_.size()));
}

}  // namespace
}  // namespace hlwq::cuda::test
