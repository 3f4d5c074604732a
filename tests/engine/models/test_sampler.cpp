#include "models/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <vector>

#include "core/error.h"

using namespace hlwq;

namespace {

SamplingParams plain(float temperature) {
  SamplingParams p;
  p.temperature = temperature;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  return p;
}

// Empirical distribution over a fine uniform grid of draws.
std::map<int32_t, double> distribution(const std::vector<float>& logits, const SamplingParams& p) {
  std::map<int32_t, double> freq;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    auto l = logits;
    freq[sample_token(l, p, {}, (float(i) + 0.5f) / n)] += 1.0 / n;
  }
  return freq;
}

}  // namespace

TEST(Sampler, GreedyTakesTheLowestIdAmongMaxima) {
  std::vector<float> l = {0.1f, 3.0f, -2.0f, 3.0f};
  EXPECT_EQ(sample_token(l, plain(0), {}, 0.9f), 1);
  EXPECT_EQ(argmax(std::vector<float>{-1, -1}), 0);
}

TEST(Sampler, PenaltiesFollowTheirDefinitions) {
  std::vector<float> l = {2.0f, -2.0f, 1.0f, 5.0f};
  const std::vector<int32_t> hist = {0, 1, 1, 99};  // repeated ids count once; unknown ids ignored
  apply_penalties(l, hist, 2.0f, 0.5f);
  EXPECT_FLOAT_EQ(l[0], 2.0f / 2 - 0.5f);
  EXPECT_FLOAT_EQ(l[1], -2.0f * 2 - 0.5f);
  EXPECT_FLOAT_EQ(l[2], 1.0f);
  EXPECT_FLOAT_EQ(l[3], 5.0f);
  // A penalty large enough changes the greedy choice.
  std::vector<float> g = {5.0f, 4.0f};
  SamplingParams p = plain(0);
  p.repetition_penalty = 1.5f;
  const std::vector<int32_t> seen = {0};
  EXPECT_EQ(sample_token(g, p, seen, 0.0f), 1);
}

TEST(Sampler, TemperatureSamplingMatchesSoftmax) {
  const std::vector<float> logits = {1.0f, 2.0f, 0.0f, -1.0f};
  const float t = 0.8f;
  double z = 0;
  for (float x : logits) z += std::exp(x / t);
  const auto freq = distribution(logits, plain(t));
  for (size_t i = 0; i < logits.size(); ++i) {
    const double want = std::exp(logits[i] / t) / z;
    EXPECT_NEAR(freq.count(int32_t(i)) ? freq.at(int32_t(i)) : 0.0, want, 2e-3) << "token " << i;
  }
}

TEST(Sampler, TopKTopPMinPKeepTheRightSets) {
  const std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};
  SamplingParams p = plain(1.0f);
  p.top_k = 2;  // {0, 1} renormalised: 0.625, 0.375
  auto f = distribution(logits, p);
  EXPECT_NEAR(f[0], 0.625, 2e-3);
  EXPECT_NEAR(f[1], 0.375, 2e-3);
  EXPECT_EQ(f.size(), 2u);

  p = plain(1.0f);
  p.top_p = 0.9f;  // smallest prefix reaching 0.9: {0, 1, 2} (0.95)
  f = distribution(logits, p);
  EXPECT_EQ(f.size(), 3u);
  EXPECT_NEAR(f[2], 0.15 / 0.95, 2e-3);

  p = plain(1.0f);
  p.min_p = 0.4f;  // keep p >= 0.2: {0, 1}
  f = distribution(logits, p);
  EXPECT_EQ(f.size(), 2u);
  EXPECT_NEAR(f[0], 0.625, 2e-3);

  p = plain(1.0f);
  p.top_k = 1;
  EXPECT_EQ(distribution(logits, p).size(), 1u);
}

TEST(Sampler, UniformDrawsAreDeterministicAndSpread) {
  EXPECT_EQ(sampling_uniform(42, 7), sampling_uniform(42, 7));
  EXPECT_NE(sampling_uniform(42, 7), sampling_uniform(42, 8));
  EXPECT_NE(sampling_uniform(42, 7), sampling_uniform(43, 7));
  double mean = 0;
  for (int i = 0; i < 10000; ++i) {
    const float u = sampling_uniform(42, uint64_t(i));
    ASSERT_GE(u, 0.0f);
    ASSERT_LT(u, 1.0f);
    mean += u / 10000;
  }
  EXPECT_NEAR(mean, 0.5, 0.01);
}

TEST(Sampler, VocabLimitExcludesPaddingRows) {
  std::vector<float> l = {0.0f, 1.0f, 9.0f};
  SamplingParams p = plain(0);
  p.vocab_limit = 2;
  EXPECT_EQ(sample_token(l, p, {}, 0.5f), 1);
  p = plain(5.0f);
  p.vocab_limit = 2;
  for (int i = 0; i < 50; ++i) {
    auto c = l;
    EXPECT_LT(sample_token(c, p, {}, float(i) / 50), 2);
  }
}

TEST(Sampler, RejectsBadParameters) {
  std::vector<float> l = {1, 2};
  SamplingParams p = plain(-1);
  EXPECT_THROW(sample_token(l, p, {}, 0.5f), Error);
  p = plain(1);
  p.repetition_penalty = 0;
  EXPECT_THROW(sample_token(l, p, {}, 0.5f), Error);
  std::vector<float> empty;
  EXPECT_THROW(sample_token(empty, plain(1), {}, 0.5f), Error);
}

TEST(KvNames, ParseAndPrint) {
  EXPECT_EQ(parse_kv_name("q3"), KvConfig::uniform(3));
  EXPECT_EQ(parse_kv_name("fp16"), KvConfig::uniform(16));
  EXPECT_EQ(parse_kv_name("k16v4"), (KvConfig{16, 4}));
  EXPECT_EQ(parse_kv_name("k5v2"), (KvConfig{5, 2}));
  EXPECT_FALSE(parse_kv_name("q7"));
  EXPECT_FALSE(parse_kv_name("k4"));
  EXPECT_FALSE(parse_kv_name("bogus"));
  EXPECT_EQ(kv_name(KvConfig::uniform(2)), "q2");
  EXPECT_EQ(kv_name(KvConfig{16, 3}), "k16v3");
  EXPECT_EQ(kv_name(KvConfig{}), "fp16");
}
