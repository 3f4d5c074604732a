// The CUDA backend end to end on the committed tiny Qwen3.5 HLWQ-Q5 fixtures (27B head and
// DeltaNet ratios, tools/make_reference_model.py): logits at every position of each reference
// prompt against the transformers fp32 reference of the dequantized model, and against the CPU
// engine with the same KV width. Bounds are max |difference| / max |reference logit|:
// 2e-3 for fp16 KV against fp32 references (the GPU stores K/V in fp16), 2e-3 GPU vs CPU at
// fp16, 2e-2 GPU vs CPU for the Q4/Q3/Q2 KV codes (a code may flip on a rounding tie); these
// run token by token through the decode graph. Prompt prefill multiplies bf16 operands
// (8 significant bits) in its GEMMs: 1e-2 at fp16 KV (measured 5.8e-3 on an H200), 3e-2 at
// Q4 KV (measured 1.2e-2), decode steps after it 6e-3 / 3e-2 (measured 2.9e-3 / 8.1e-3).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "core/error.h"
#include "cuda_backend.h"
#include "cuda_check.h"
#include "fixture_model.h"
#include "npy.h"

namespace hlwq::cuda::test {
namespace {

double max_rel(const std::vector<float>& got, const std::vector<float>& ref) {
  double max_ref = 0, max_diff = 0;
  for (float x : ref) max_ref = std::max(max_ref, double(std::fabs(x)));
  for (size_t i = 0; i < ref.size(); ++i) {
    if (!std::isfinite(got[i])) return INFINITY;
    max_diff = std::max(max_diff, double(std::fabs(got[i] - ref[i])));
  }
  return max_diff / max_ref;
}

// Logits of every position: the whole prompt in one forward (the CUDA backend's prefill), or
// one token per forward (its decode graph) when stepwise.
std::vector<float> run_all(ModelBackend& b, const std::vector<int32_t>& ids, bool stepwise = false) {
  const size_t vocab = size_t(b.config().vocab_size);
  std::vector<float> out(ids.size() * vocab, NAN);
  b.reset();
  if (!stepwise) {
    b.forward(ids, 0, out.data(), int(ids.size()));
    return out;
  }
  for (size_t t = 0; t < ids.size(); ++t) b.forward(std::span(ids).subspan(t, 1), int(t), out.data() + t * vocab, 1);
  return out;
}

class CudaBackendFixture : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (::hlwq::cuda::device_count_or_zero() == 0) GTEST_SKIP() << "no CUDA GPU";
    if (!std::filesystem::exists(hlwq::test::fixture_dir(GetParam()) / "reference"))
      GTEST_SKIP() << "fixture " << GetParam() << " not built";
    src_ = hlwq::test::load_fixture(GetParam());
    prompts_ = hlwq::test::fixture_prompts(GetParam());
  }
  BackendOptions options(KvConfig kv) const {
    BackendOptions o;
    o.context_length = 512;
    o.kv = kv;
    o.threads = 2;
    return o;
  }
  ModelSource src_;
  nlohmann::json prompts_;
};

TEST_P(CudaBackendFixture, LogitsMatchReferenceAndCpuEngine) {
  auto gpu = make_cuda_backend(src_, options(KvConfig::uniform(16)));
  auto cpu = make_cpu_backend(src_, options(KvConfig::uniform(16)));
  const size_t n = prompts_["prompts"].size();
  for (size_t i = 0; i < n; ++i) {
    const auto ids = prompts_["prompts"][i].get<std::vector<int32_t>>();
    const auto ref = hlwq::test::read_npy_f32(hlwq::test::fixture_dir(GetParam()) / "reference" /
                                              ("logits_" + std::to_string(i) + ".npy"));
    const auto g = run_all(*gpu, ids, /*stepwise=*/true);  // the decode graph; prefill has its own test
    EXPECT_LT(max_rel(g, ref.data), 2e-3) << "prompt " << i << " vs transformers";
    EXPECT_LT(max_rel(g, run_all(*cpu, ids)), 2e-3) << "prompt " << i << " vs CPU engine";
  }
}

TEST_P(CudaBackendFixture, QuantizedKvMatchesCpuEngine) {
  const auto ids = prompts_["prompts"][prompts_["prompts"].size() - 1].get<std::vector<int32_t>>();
  for (int bits : {5, 4, 3, 2}) {
    auto gpu = make_cuda_backend(src_, options(KvConfig::uniform(bits)));
    auto cpu = make_cpu_backend(src_, options(KvConfig::uniform(bits)));
    EXPECT_LT(max_rel(run_all(*gpu, ids, /*stepwise=*/true), run_all(*cpu, ids)), 2e-2) << "q" << bits;
  }
}

TEST_P(CudaBackendFixture, SnapshotRewindAndKvSwitchReproduceLogits) {
  const auto ids = prompts_["prompts"][0].get<std::vector<int32_t>>();
  ASSERT_GE(ids.size(), 4u);
  auto gpu = make_cuda_backend(src_, options(KvConfig::uniform(16)));
  const int vocab = gpu->config().vocab_size;
  const size_t half = ids.size() / 2;
  std::vector<float> a(static_cast<size_t>(vocab)), b(static_cast<size_t>(vocab));
  gpu->forward(std::span(ids).first(half), 0, nullptr, 0);
  gpu->snapshot();
  gpu->forward(std::span(ids).subspan(half), int(half), a.data(), 1);
  EXPECT_EQ(gpu->rewind(int(half)), int(half));
  gpu->forward(std::span(ids).subspan(half), int(half), b.data(), 1);
  EXPECT_LT(max_rel(b, a), 1e-6);
  gpu->set_kv(KvConfig::uniform(3));  // recomputes the cached tokens at 3 bits
  EXPECT_EQ(gpu->n_cached(), int(ids.size()));
  EXPECT_THROW(gpu->set_kv(KvConfig{32, 32}), Error);  // fp32 KV is the CPU's exact mode only
}

// A prompt through prefill (GEMM Linears on bf16 operands, whole-chunk mixers) in chunks of
// 7 rows (many chunks, DeltaNet state and conv ring carried, chunk ends inside and across
// C=64), 64 and the default 512, then single tokens through the decode graph: logits of
// every prefill row and of every continuation step against the CPU engine.
TEST_P(CudaBackendFixture, PromptPrefillInChunksThenDecodeMatchesCpuEngine) {
  const int cont = 3;
  for (int bits : {16, 5, 4}) {
    auto cpu = make_cpu_backend(src_, options(KvConfig::uniform(bits)));
    for (int chunk : {7, 64, 512}) {
      auto gpu = make_cuda_backend(src_, options(KvConfig::uniform(bits)));
      set_prefill_chunk(*gpu, chunk);
      const int vocab = gpu->config().vocab_size;
      for (size_t i = 0; i < prompts_["prompts"].size(); ++i) {
        const auto ids = prompts_["prompts"][i].get<std::vector<int32_t>>();
        if (ids.size() <= size_t(cont) + 1) continue;
        SCOPED_TRACE("kv " + std::to_string(bits) + " chunk " + std::to_string(chunk) + " prompt " + std::to_string(i));
        const auto ref = run_all(*cpu, ids);
        const size_t n = ids.size() - cont;
        std::vector<float> got(ids.size() * size_t(vocab), NAN);
        gpu->reset();
        gpu->forward(std::span(ids).first(n), 0, got.data(), int(n));
        for (size_t t = n; t < ids.size(); ++t) gpu->forward(std::span(ids).subspan(t, 1), int(t), got.data() + t * vocab, 1);
        const std::vector<float> ref_p(ref.begin(), ref.begin() + n * vocab), got_p(got.begin(), got.begin() + n * vocab);
        const std::vector<float> ref_d(ref.begin() + n * vocab, ref.end()), got_d(got.begin() + n * vocab, got.end());
        const double ep = max_rel(got_p, ref_p), ed = max_rel(got_d, ref_d);
        std::printf("prefill kv%d chunk %d prompt %zu (%zu rows): prefill rows %.3g, decode after %.3g\n", bits, chunk, i,
                    n, ep, ed);
        EXPECT_LT(ep, bits == 16 ? 1e-2 : 3e-2) << "prefill rows";
        EXPECT_LT(ed, bits == 16 ? 6e-3 : 3e-2) << "decode after prefill";
        if (bits == 16) {
          const auto tr = hlwq::test::read_npy_f32(hlwq::test::fixture_dir(GetParam()) / "reference" /
                                                   ("logits_" + std::to_string(i) + ".npy"));
          EXPECT_LT(max_rel(got, tr.data), 1e-2) << "vs transformers";
        }
      }
    }
  }
  auto gpu = make_cuda_backend(src_, options(KvConfig::uniform(16)));
  EXPECT_THROW(set_prefill_chunk(*gpu, 0), Error);
  auto cpu = make_cpu_backend(src_, options(KvConfig::uniform(16)));
  EXPECT_THROW(set_prefill_chunk(*cpu, 8), Error);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, CudaBackendFixture, ::testing::Values("ratio27b-hlwq-q5"));

TEST(CudaBackend, DenseWeightsAreRefusedWithAClearError) {
  if (::hlwq::cuda::device_count_or_zero() == 0) GTEST_SKIP() << "no CUDA GPU";
  if (!std::filesystem::exists(hlwq::test::fixture_dir("ratio27b") / "config.json")) GTEST_SKIP() << "no fixture";
  const auto src = hlwq::test::load_fixture("ratio27b");  // BF16
  try {
    make_cuda_backend(src, BackendOptions{});
    FAIL() << "expected Error{UnsupportedArch}";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::UnsupportedArch) << e.what();
  }
}

}  // namespace
}  // namespace hlwq::cuda::test
