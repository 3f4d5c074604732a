// The CPU forward pass against transformers: fp32 logits of tiny random Qwen3.5 checkpoints
// (tools/make_reference_model.py), at every position, prefill and decode, and a 64-token
// greedy continuation. BF16 fixtures and their HLWQ-Q5 copies (reference: the dequantized model).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "fixture_model.h"
#include "models/sampler.h"
#include "npy.h"

using namespace hlwq;

namespace {

struct Fixture {
  std::string name;
};

std::vector<std::string> fixture_names() {
  return {"ratio27b", "tied08b", "layertypes", "ratio27b-hlwq-q5", "tied08b-hlwq-q5", "layertypes-hlwq-q5"};
}

// max |a - b| over max |ref|, over rows [row0, row0 + rows) of the reference.
double relative_error(const float* got, const test::NpyF32& ref, int64_t row0, int64_t rows) {
  const int64_t vocab = ref.shape[1];
  double max_ref = 0, max_diff = 0;
  for (float x : ref.data) max_ref = std::max(max_ref, double(std::fabs(x)));
  for (int64_t i = 0; i < rows * vocab; ++i)
    max_diff = std::max(max_diff, double(std::fabs(got[i] - ref.data[size_t(row0 * vocab + i)])));
  return max_diff / max_ref;
}

class Reference : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(test::fixture_dir(GetParam()) / "reference"))
      GTEST_SKIP() << "fixture " << GetParam() << " not built";
    src_ = test::load_fixture(GetParam());
    prompts_ = test::fixture_prompts(GetParam());
  }
  std::unique_ptr<ModelBackend> backend(KvConfig kv = KvConfig::uniform(32)) {
    BackendOptions o;
    o.context_length = 512;
    o.kv = kv;
    o.threads = 2;
    return make_cpu_backend(src_, o);
  }
  test::NpyF32 logits(size_t i) {
    return test::read_npy_f32(test::fixture_dir(GetParam()) / "reference" / ("logits_" + std::to_string(i) + ".npy"));
  }
  int64_t be_vocab() const { return src_.config.vocab_size; }
  std::vector<int32_t> prompt(size_t i) { return prompts_["prompts"][i].get<std::vector<int32_t>>(); }

  ModelSource src_;
  nlohmann::json prompts_;
};

constexpr double kBound = 1e-4;  // x max|logit|, the bound

TEST_P(Reference, PrefillMatchesEveryPosition) {
  auto be = backend();
  for (size_t i = 0; i < prompts_["prompts"].size(); ++i) {
    const auto ids = prompt(i);
    const auto ref = logits(i);
    ASSERT_EQ(ref.shape[0], int64_t(ids.size()));
    std::vector<float> out(ids.size() * size_t(ref.shape[1]));
    be->reset();
    be->forward(ids, 0, out.data(), int(ids.size()));
    const double err = relative_error(out.data(), ref, 0, int64_t(ids.size()));
    EXPECT_LT(err, kBound) << "prompt " << i << " (" << ids.size() << " tokens)";
    RecordProperty("prefill_rel_err_" + std::to_string(i), std::to_string(err));
  }
}

TEST_P(Reference, DecodeMatchesEveryPosition) {
  auto be = backend();
  for (size_t i = 0; i < prompts_["prompts"].size(); ++i) {
    const auto ids = prompt(i);
    const auto ref = logits(i);
    const int64_t vocab = ref.shape[1];
    std::vector<float> out(static_cast<size_t>(vocab));
    be->reset();
    double worst = 0;
    for (size_t t = 0; t < ids.size(); ++t) {
      be->forward(std::span<const int32_t>(&ids[t], 1), int(t), out.data(), 1);
      worst = std::max(worst, relative_error(out.data(), ref, int64_t(t), 1));
    }
    EXPECT_LT(worst, kBound) << "prompt " << i;
  }
}

TEST_P(Reference, PrefillThenDecode) {
  // A prompt split at an odd place: chunked prefill state handed to the recurrent form.
  auto be = backend();
  const auto ids = prompt(2);
  const auto ref = logits(2);
  const int64_t vocab = ref.shape[1];
  const int split = 77;
  std::vector<float> out(size_t(ids.size()) * size_t(vocab));
  be->forward(std::span<const int32_t>(ids.data(), split), 0, out.data(), split);
  for (size_t t = split; t < ids.size(); ++t)
    be->forward(std::span<const int32_t>(&ids[t], 1), int(t), out.data() + t * size_t(vocab), 1);
  EXPECT_LT(relative_error(out.data(), ref, 0, int64_t(ids.size())), kBound);
}

TEST_P(Reference, GreedyContinuation64) {
  auto be = backend();
  const auto prompt_ids = prompts_["greedy_prompt"].get<std::vector<int32_t>>();
  const auto expected = prompts_["greedy_continuation"].get<std::vector<int32_t>>();
  ASSERT_EQ(expected.size(), 64u);
  SamplingParams greedy;
  greedy.temperature = 0;
  std::vector<int32_t> history = prompt_ids;
  std::vector<float> logits(size_t(be->config().vocab_size));
  be->forward(prompt_ids, 0, logits.data(), 1);
  int32_t next = argmax(logits);
  std::vector<int32_t> got;
  for (int i = 0; i < 64; ++i) {
    got.push_back(next);
    history.push_back(next);
    next = be->decode_and_sample(next, int(prompt_ids.size()) + i, greedy, history, 0.0f);
  }
  EXPECT_EQ(got, expected);
}

TEST_P(Reference, Fp16CacheStaysClose) {
  auto be = backend(KvConfig::uniform(16));
  const auto ids = prompt(2);
  const auto ref = logits(2);
  std::vector<float> out(ids.size() * size_t(ref.shape[1]));
  be->forward(ids, 0, out.data(), int(ids.size()));
  EXPECT_LT(relative_error(out.data(), ref, 0, int64_t(ids.size())), 1e-3);
}

// KV codes against the fp16 cache on the 130-token prompt: max |logit difference| over
// max |logit| at every position. The bounds are the measured values (docs/PERFORMANCE.md,
// "CPU engine") with headroom; the byte counts are the spec's formula.
TEST_P(Reference, KvModesStayWithinTheirMeasuredDistance) {
  const auto ids = prompt(2);
  const int64_t vocab = be_vocab();
  const auto run = [&](KvConfig kv, uint64_t* kv_bytes) {
    auto be = backend(kv);
    std::vector<float> out(ids.size() * size_t(vocab));
    be->forward(ids, 0, out.data(), int(ids.size()));
    *kv_bytes = be->memory().kv_used;
    return out;
  };
  uint64_t fp16_bytes = 0;
  const auto base = run(KvConfig::uniform(16), &fp16_bytes);
  double max_ref = 0;
  for (float x : base) max_ref = std::max(max_ref, double(std::fabs(x)));
  const auto& c = src_.config;
  const uint64_t vectors = uint64_t(c.num_full_attention_layers()) * c.num_key_value_heads * ids.size();
  EXPECT_EQ(fp16_bytes, vectors * 2 * (2 * uint64_t(c.head_dim)));
  const std::pair<KvConfig, double> modes[] = {
      {KvConfig::uniform(4), 0.28}, {KvConfig::uniform(3), 0.53}, {KvConfig::uniform(2), 0.72}, {KvConfig{16, 4}, 0.26}};
  double q4 = 0;
  for (const auto& [kv, bound] : modes) {
    uint64_t bytes = 0;
    const auto got = run(kv, &bytes);
    double diff = 0;
    for (size_t i = 0; i < got.size(); ++i) diff = std::max(diff, double(std::fabs(got[i] - base[i])));
    const double rel = diff / max_ref;
    std::printf("  %-18s KV %-6s max|dlogit|/max|logit| = %.4f, %llu bytes (fp16 %llu)\n", GetParam().c_str(),
                kv_name(kv).c_str(), rel, static_cast<unsigned long long>(bytes), static_cast<unsigned long long>(fp16_bytes));
    EXPECT_LT(rel, bound) << kv_name(kv);
    if (kv == KvConfig::uniform(4)) q4 = rel;
    if (kv == KvConfig::uniform(2)) EXPECT_GT(rel, q4) << "fewer bits must cost more";
    const uint64_t per_k = uint64_t(c.head_dim) * uint64_t(kv.k_bits) / 8 + (kv.k_bits < 16 ? 2 : 0);
    const uint64_t per_v = uint64_t(c.head_dim) * uint64_t(kv.v_bits) / 8 + (kv.v_bits < 16 ? 2 : 0);
    EXPECT_EQ(bytes, vectors * (per_k + per_v)) << kv_name(kv);
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Reference, ::testing::ValuesIn(fixture_names()),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

}  // namespace
