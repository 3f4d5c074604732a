// The CUDA backend end to end on the committed tiny Qwen3.5 HLWQ-Q5 fixtures (27B head and
// DeltaNet ratios, tools/make_reference_model.py): logits at every position of each reference
// prompt against the transformers fp32 reference of the dequantized model, and against the CPU
// engine with the same KV width. Bounds are max |difference| / max |reference logit|:
// 2e-3 for fp16 KV against fp32 references (the GPU stores K/V in fp16), 2e-3 GPU vs CPU at
// fp16, 2e-2 GPU vs CPU for the Q4/Q3/Q2 KV codes (a code may flip on a rounding tie); these
// run token by token through the decode graph. Prompt prefill multiplies bf16 operands
// (8 significant bits) in its GEMMs: 1e-2 at fp16 KV (measured 5.8e-3 on an H200), 3e-2 at
// Q4 KV (measured 1.2e-2), decode steps after it 6e-3 / 3e-2 (measured 2.9e-3 / 8.1e-3).
// Q4, Q3 and mixed-width weights (CudaBackendWidths) hold the GPU to the same bounds against
// the CPU engine.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <map>

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

// Every backend of these tests: a 512-token context, 2 CPU threads for the CPU engine.
BackendOptions options(KvConfig kv) {
  BackendOptions o;
  o.context_length = 512;
  o.kv = kv;
  o.threads = 2;
  return o;
}

// All but the last `cont` tokens of `ids` as one prompt (prefill, logits of every row), then
// `cont` single-token steps (decode graph): max_rel of the prefill rows and of the steps
// against `ref`, the logits of every position; `got` receives the GPU's.
struct PrefillDecodeErrors {
  double prefill_rows, decode_after;
};
PrefillDecodeErrors prefill_then_decode(ModelBackend& gpu, const std::vector<int32_t>& ids, size_t cont,
                                        const std::vector<float>& ref, std::vector<float>& got) {
  const size_t vocab = size_t(gpu.config().vocab_size), n = ids.size() - cont;
  got.assign(ids.size() * vocab, NAN);
  gpu.reset();
  gpu.forward(std::span(ids).first(n), 0, got.data(), int(n));
  for (size_t t = n; t < ids.size(); ++t) gpu.forward(std::span(ids).subspan(t, 1), int(t), got.data() + t * vocab, 1);
  const std::vector<float> ref_p(ref.begin(), ref.begin() + n * vocab), got_p(got.begin(), got.begin() + n * vocab);
  const std::vector<float> ref_d(ref.begin() + n * vocab, ref.end()), got_d(got.begin() + n * vocab, got.end());
  return {max_rel(got_p, ref_p), max_rel(got_d, ref_d)};
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
      for (size_t i = 0; i < prompts_["prompts"].size(); ++i) {
        const auto ids = prompts_["prompts"][i].get<std::vector<int32_t>>();
        if (ids.size() <= size_t(cont) + 1) continue;
        SCOPED_TRACE("kv " + std::to_string(bits) + " chunk " + std::to_string(chunk) + " prompt " + std::to_string(i));
        std::vector<float> got;
        const auto [ep, ed] = prefill_then_decode(*gpu, ids, cont, run_all(*cpu, ids), got);
        const size_t n = ids.size() - cont;
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

// Q4, Q3 and mixed-width checkpoints: the BF16 ratio27b fixture quantized at load by the
// project's quantizer (load_checkpoint with quantize_bits, cached in a temporary directory),
// and a mixed one assembled from the Q5/Q4/Q3 tensors with fused parts at one width. Against
// the CPU engine on the same codes, with the Q5 bounds above: both engines decode the same
// codes through the same codebook, so the width changes the weights, not the arithmetic that
// separates the engines (fp16 activations/tables in the GEMV, bf16 operands in prefill).
constexpr const char* kWidthsFixture = "ratio27b";

std::filesystem::path widths_cache() {
  return std::filesystem::temp_directory_path() / ("hlwq-test-widths-" + std::to_string(::getpid()));
}

ModelSource quantized_fixture(int bits) {
  CheckpointOptions o;
  o.quantize_bits = bits;
  o.cache_dir = widths_cache();
  Checkpoint ck = load_checkpoint(hlwq::test::fixture_dir(kWidthsFixture), o);
  ModelSource src;
  src.config = qwen35::parse_config(ck.config, (ck.dir / "config.json").string());
  src.weights = std::make_shared<WeightStore>(std::move(ck.weights));
  src.name = std::string(kWidthsFixture) + " q" + std::to_string(bits);
  return src;
}

// The tensors of by_bits[bits_of(name)] for each Linear, the rest from the Q5 store.
ModelSource assembled(const std::map<int, ModelSource>& by_bits, const std::function<int(const std::string&)>& bits_of,
                      const std::string& name) {
  const ModelSource& q5 = by_bits.at(5);
  auto store = std::make_shared<WeightStore>();
  for (const std::string& n : q5.weights->names()) {
    if (q5.weights->quant(n)) store->add_quant(*by_bits.at(bits_of(n)).weights->quant(n));
    else store->add_dense(*q5.weights->dense(n));
  }
  for (const auto& [bits, src] : by_bits) store->keep_alive(src.weights);  // the codes are views into their files
  store->set_source(name);
  ModelSource src{q5.config, store, name};
  return src;
}

bool has(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

// Every width on every kind of matrix: attention q/k/v at 4, o_proj at 3, DeltaNet in_proj at
// 3, out_proj at 5, gate/up alternating 4 and 3 by layer, down at 5, lm_head at 4.
int mixed_bits(const std::string& n) {
  if (has(n, "self_attn.q_proj") || has(n, "self_attn.k_proj") || has(n, "self_attn.v_proj")) return 4;
  if (has(n, "self_attn.o_proj") || has(n, "linear_attn.in_proj_")) return 3;
  if (has(n, "gate_proj") || has(n, "up_proj")) return std::stoi(n.substr(n.find("layers.") + 7)) % 2 ? 4 : 3;
  if (has(n, "lm_head")) return 4;
  return 5;
}

class CudaBackendWidths : public ::testing::TestWithParam<int> {  // 4, 3, or 0: mixed
 protected:
  static void SetUpTestSuite() {
    if (::hlwq::cuda::device_count_or_zero() == 0 ||
        !std::filesystem::exists(hlwq::test::fixture_dir(kWidthsFixture) / "config.json"))
      return;
    for (int bits : {5, 4, 3}) sources_[bits] = quantized_fixture(bits);
  }
  static void TearDownTestSuite() {
    sources_.clear();
    std::error_code ec;
    std::filesystem::remove_all(widths_cache(), ec);
  }
  void SetUp() override {
    if (::hlwq::cuda::device_count_or_zero() == 0) GTEST_SKIP() << "no CUDA GPU";
    if (sources_.empty()) GTEST_SKIP() << "fixture " << kWidthsFixture << " not built";
    src_ = GetParam() ? sources_.at(GetParam()) : assembled(sources_, mixed_bits, "ratio27b mixed");
    prompts_ = hlwq::test::fixture_prompts(kWidthsFixture);
    for (const std::string& n : src_.weights->names()) {  // the store holds the widths this test is about
      if (const QuantTensor* t = src_.weights->quant(n)) {
        ASSERT_EQ(t->bits, GetParam() ? GetParam() : mixed_bits(n)) << n;
      }
    }
  }
  static inline std::map<int, ModelSource> sources_;
  ModelSource src_;
  nlohmann::json prompts_;
};

TEST_P(CudaBackendWidths, DecodeGraphMatchesCpuEngine) {
  for (int kv : {16, 3}) {
    auto gpu = make_cuda_backend(src_, options(KvConfig::uniform(kv)));
    auto cpu = make_cpu_backend(src_, options(KvConfig::uniform(kv)));
    for (size_t i = 0; i < prompts_["prompts"].size(); ++i) {
      const auto ids = prompts_["prompts"][i].get<std::vector<int32_t>>();
      const double e = max_rel(run_all(*gpu, ids, /*stepwise=*/true), run_all(*cpu, ids));
      std::printf("%s kv%d prompt %zu: decode graph vs CPU %.3g\n", src_.name.c_str(), kv, i, e);
      EXPECT_LT(e, kv == 16 ? 2e-3 : 2e-2) << "kv " << kv << " prompt " << i;
    }
  }
}

// Chunks of 7 (one GEMV pass), 20 (GEMV passes of 8, 8, 4) and 512 rows (43 and 127 rows:
// the expansion + cuBLAS path at Q4/Q3).
TEST_P(CudaBackendWidths, PrefillThenDecodeMatchesCpuEngine) {
  const int cont = 3;
  auto cpu = make_cpu_backend(src_, options(KvConfig::uniform(16)));
  for (int chunk : {7, 20, 512}) {
    auto gpu = make_cuda_backend(src_, options(KvConfig::uniform(16)));
    set_prefill_chunk(*gpu, chunk);
    for (size_t i = 0; i < prompts_["prompts"].size(); ++i) {
      const auto ids = prompts_["prompts"][i].get<std::vector<int32_t>>();
      if (ids.size() <= size_t(cont) + 1) continue;
      std::vector<float> got;
      const auto [ep, ed] = prefill_then_decode(*gpu, ids, cont, run_all(*cpu, ids), got);
      const size_t n = ids.size() - cont;
      std::printf("%s chunk %d prompt %zu (%zu rows): prefill rows %.3g, decode after %.3g\n", src_.name.c_str(), chunk, i,
                  n, ep, ed);
      EXPECT_LT(ep, 1e-2) << "chunk " << chunk << " prompt " << i << " prefill rows";
      EXPECT_LT(ed, 6e-3) << "chunk " << chunk << " prompt " << i << " decode after prefill";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Widths, CudaBackendWidths, ::testing::Values(4, 3, 0), [](const auto& info) {
  return info.param ? "q" + std::to_string(info.param) : std::string("mixed");
});

// gate_proj and up_proj become one matrix on the GPU: at two widths the load is refused,
// naming both tensors and both widths (the CPU engine runs such a checkpoint).
TEST(CudaBackendWidthsError, FusedPartsAtTwoWidthsAreRefusedNamingBoth) {
  if (::hlwq::cuda::device_count_or_zero() == 0) GTEST_SKIP() << "no CUDA GPU";
  if (!std::filesystem::exists(hlwq::test::fixture_dir(kWidthsFixture) / "config.json")) GTEST_SKIP() << "no fixture";
  const std::string up = "model.language_model.layers.1.mlp.up_proj.weight";
  const ModelSource src = assembled({{5, quantized_fixture(5)}, {4, quantized_fixture(4)}},
                                    [&](const std::string& n) { return n == up ? 4 : 5; }, "ratio27b gate 5 up 4");
  try {
    make_cuda_backend(src, BackendOptions{});
    FAIL() << "expected Error{UnsupportedArch}";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_EQ(e.kind(), ErrorKind::UnsupportedArch) << m;
    EXPECT_TRUE(has(m, "layers.1.mlp.gate_proj.weight") && has(m, "layers.1.mlp.up_proj.weight")) << m;
    EXPECT_TRUE(has(m, "5-bit") && has(m, "4-bit")) << m;
  }
  std::error_code ec;
  std::filesystem::remove_all(widths_cache(), ec);
}

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
