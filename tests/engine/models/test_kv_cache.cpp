#include "models/cpu/kv_cache.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/error.h"

using namespace hlwq;

namespace {

std::vector<float> randn(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d;
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

double cosine(const float* a, const float* b, int n) {
  double ab = 0, aa = 0, bb = 0;
  for (int i = 0; i < n; ++i) {
    ab += double(a[i]) * b[i];
    aa += double(a[i]) * a[i];
    bb += double(b[i]) * b[i];
  }
  return ab / std::sqrt(aa * bb);
}

// Plain softmax attention over given K and V rows.
std::vector<float> naive_attention(const float* q, const std::vector<std::vector<float>>& K,
                                   const std::vector<std::vector<float>>& V, int d, float scale) {
  std::vector<double> s(K.size());
  double mx = -1e300, total = 0;
  for (size_t t = 0; t < K.size(); ++t) {
    double dot = 0;
    for (int i = 0; i < d; ++i) dot += double(q[i]) * K[t][size_t(i)];
    s[t] = dot * scale;
    mx = std::max(mx, s[t]);
  }
  for (auto& x : s) total += (x = std::exp(x - mx));
  std::vector<float> out(size_t(d), 0.0f);
  for (size_t t = 0; t < K.size(); ++t)
    for (int i = 0; i < d; ++i) out[size_t(i)] += float(s[t] / total) * V[t][size_t(i)];
  return out;
}

}  // namespace

TEST(KvCache, BytesFollowTheSpec) {
  // hlwq-format.md section 5: D*bits/8 + 2 bytes; compression against fp16 at D = 256.
  EXPECT_EQ(kv_vector_bytes(256, 16), 512u);
  EXPECT_EQ(kv_vector_bytes(256, 4), 130u);
  EXPECT_NEAR(512.0 / double(kv_vector_bytes(256, 4)), 3.94, 0.005);
  EXPECT_NEAR(512.0 / double(kv_vector_bytes(256, 3)), 5.22, 0.005);
  EXPECT_NEAR(512.0 / double(kv_vector_bytes(256, 2)), 7.76, 0.005);
  KvCache c;
  c.init(3, 2, 256, 10, KvConfig{16, 3});
  EXPECT_EQ(c.bytes_per_token(), 3u * 2 * (512 + 98));
  EXPECT_EQ(c.allocated_bytes(), 10u * 3 * 2 * (512 + 98));
}

TEST(KvCache, CodesReconstructWithTheExpectedCosine) {
  // Spec 2: cosine ~ sqrt(1 - MSE) on Gaussian data: Q4 0.9952, Q3 0.983, Q2 0.94.
  const int d = 256;
  for (auto [bits, want] : {std::pair{4, 0.9952}, {3, 0.983}, {2, 0.94}}) {
    KvCache c;
    c.init(1, 1, d, 64, KvConfig::uniform(bits));
    double mean = 0;
    std::vector<float> out(d);
    for (int t = 0; t < 64; ++t) {
      auto k = randn(d, uint32_t(t + 100 * bits));
      for (auto& x : k) x *= 3.0f;  // the norm is stored, the scale must not matter
      c.store(0, t, k.data(), k.data());
      c.load_k(0, 0, t, out.data());
      mean += cosine(k.data(), out.data(), d) / 64;
    }
    EXPECT_NEAR(mean, want, 0.004) << bits << " bits";
  }
}

TEST(KvCache, AttentionMatchesPlainSoftmaxInEveryMode) {
  const int d = 128, n = 37, heads = 2;
  for (KvConfig kv : {KvConfig::uniform(32), KvConfig::uniform(16), KvConfig{16, 4}, KvConfig::uniform(3), KvConfig{2, 5}}) {
    KvCache c;
    c.init(2, heads, d, 64, kv);
    for (int t = 0; t < n; ++t) {
      auto k = randn(size_t(heads) * d, uint32_t(t));
      auto v = randn(size_t(heads) * d, uint32_t(1000 + t));
      c.store(1, t, k.data(), v.data());
    }
    // Against attention over the vectors as the cache decodes them: the rotated-domain path
    // must equal it (up to fp32 rounding).
    const auto q = randn(d, 7);
    std::vector<std::vector<float>> K(n, std::vector<float>(d)), V(n, std::vector<float>(d));
    for (int t = 0; t < n; ++t) {
      c.load_k(1, 1, t, K[size_t(t)].data());
      c.load_v(1, 1, t, V[size_t(t)].data());
    }
    const float scale = 1.0f / std::sqrt(float(d));
    const auto want = naive_attention(q.data(), K, V, d, scale);
    std::vector<float> got(d), scratch(size_t(n) + 2 * d);
    c.attend(1, 1, q.data(), n, scale, got.data(), scratch.data());
    for (int i = 0; i < d; ++i) EXPECT_NEAR(got[size_t(i)], want[size_t(i)], 2e-5) << kv_name(kv) << " dim " << i;
  }
}

TEST(KvCache, ConvertKeepsTheDecodedValues) {
  const int d = 64;
  KvCache c;
  c.init(1, 1, d, 8, KvConfig::uniform(4));
  auto k = randn(d, 1), v = randn(d, 2);
  c.store(0, 0, k.data(), v.data());
  std::vector<float> before(d), after(d);
  c.load_k(0, 0, 0, before.data());
  c.convert(KvConfig::uniform(32), 1);  // to fp32: exactly the Q4 reconstruction
  c.load_k(0, 0, 0, after.data());
  for (int i = 0; i < d; ++i) EXPECT_FLOAT_EQ(after[size_t(i)], before[size_t(i)]);
  c.convert(KvConfig::uniform(2), 1);
  c.load_k(0, 0, 0, after.data());
  EXPECT_GT(cosine(k.data(), after.data(), d), 0.85);
  EXPECT_EQ(c.kv(), KvConfig::uniform(2));
}

TEST(KvCache, RejectsUnsupportedModes) {
  KvCache c;
  EXPECT_THROW(c.init(1, 1, 96, 8, KvConfig::uniform(4)), Error);  // not a power of two
  EXPECT_THROW(c.init(1, 1, 64, 8, KvConfig::uniform(7)), Error);
  c.init(1, 1, 64, 4, KvConfig::uniform(16));
  std::vector<float> x(64);
  EXPECT_THROW(c.store(0, 4, x.data(), x.data()), Error);
}
