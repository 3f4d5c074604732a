// The CPU forward pass against transformers: fp32 logits of tiny random Qwen3.5 checkpoints
// (tools/make_reference_model.py), at every position, prefill and decode, and a 64-token
// greedy continuation. BF16 fixtures and their HLWQ-Q5 copies (reference: the dequantized model).
#include <gtest/gtest.h>

#include <cmath>

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

INSTANTIATE_TEST_SUITE_P(Fixtures, Reference, ::testing::ValuesIn(fixture_names()),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

}  // namespace
