// The streaming quantizer: output layout (spec 4.1/4.3), agreement with the block codec,
// side files, typed errors for bad weights, the device choice and GPU fallback, the cache key.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <random>

#include "core/error.h"
#include "core/half.h"
#include "core/thread_pool.h"
#include "formats/checkpoint.h"
#include "formats/quantizer.h"
#include "model_fixture.h"

using namespace hlwq;
using namespace hlwq::test;

TEST(Quantizer, WritesPublicNamesOurConfigAndSideFiles) {
  TempDir d;
  const auto ts = fixture_tensors();
  write_fixture(d / "src", ts);
  QuantizeOptions opts;
  opts.bits = 4;
  opts.scale = ScaleKind::Mse;
  double last = -1;
  bool monotonic = true;
  opts.progress = [&](double f, const std::string&) {
    monotonic &= f >= last;
    last = f;
  };
  const auto report = quantize_checkpoint(d / "src", d / "dst", opts);
  EXPECT_TRUE(monotonic);
  EXPECT_DOUBLE_EQ(last, 1.0);
  ASSERT_EQ(report.shards.size(), 2u);
  EXPECT_LT(report.bytes_out, report.bytes_in);
  for (const char* f : {"config.json", "tokenizer.json", "chat_template.jinja", "hlwq_config.json",
                        "model.safetensors.index.json"})
    EXPECT_TRUE(std::filesystem::exists(d / "dst" / f)) << f;

  std::ifstream in(d / "dst" / "hlwq_config.json");
  const auto cfg = nlohmann::json::parse(in);
  EXPECT_EQ(cfg["format"], "hlwq-q4");
  EXPECT_EQ(cfg["block_size"], 128);
  EXPECT_EQ(cfg["scale"], "mse");
  EXPECT_EQ(cfg["codebook"].size(), 16u);
  EXPECT_NE(cfg["producer"].get<std::string>().find("hlwq-chat"), std::string::npos);

  const auto set = SafetensorsSet::open(d / "dst");
  for (const auto& t : ts) {
    if (t.linear) {
      EXPECT_FALSE(set.contains(t.name)) << t.name;
      const auto meta = set.tensor(t.name + "__meta");
      ASSERT_EQ(meta.dtype, DType::I64);
      int64_t m[5];
      std::memcpy(m, meta.bytes.data(), 40);
      const int64_t nb = (t.shape[1] + 127) / 128;
      EXPECT_EQ(m[0], t.shape[0]);
      EXPECT_EQ(m[1], nb);
      EXPECT_EQ(m[2], 128);
      EXPECT_EQ(m[3], t.shape[0] * nb * 128);
      EXPECT_EQ(m[4], t.shape[1]);
      EXPECT_EQ(set.tensor(t.name + "__packed").bytes.size(), std::size_t(t.shape[0] * nb * 128 * 4 / 8));
      EXPECT_EQ(set.tensor(t.name + "__norms").shape, (std::vector<int64_t>{t.shape[0], nb}));
    } else {
      const auto dense = set.tensor(t.name);
      EXPECT_EQ(dense.dtype, DType::BF16);
      EXPECT_TRUE(std::ranges::equal(dense.bytes, to_bf16_bytes(t.values))) << t.name;
    }
  }
  // Quantizing into a directory that already holds a model is refused.
  EXPECT_THROW(quantize_checkpoint(d / "src", d / "dst", opts), Error);
}

TEST(Quantizer, CodesAgreeWithTheBlockCodec) {
  TempDir d;
  const auto ts = fixture_tensors();
  write_fixture(d / "src", ts);
  QuantizeOptions opts;  // converged, 5 bits, norm
  const auto shard = quantize_shard(d / "src" / "model-00001-of-00002.safetensors", d / "out.safetensors", opts);
  EXPECT_FALSE(shard.quantized.empty());
  const SafetensorsFile f(d / "out.safetensors");
  const auto book = codebook_table(Codebook::Converged, 5);
  for (const auto& name : shard.quantized) {
    const auto& t = *std::find_if(ts.begin(), ts.end(), [&](const FixtureTensor& x) { return x.name == name; });
    const int64_t rows = t.shape[0], cols = t.shape[1], nb = (cols + 127) / 128;
    const auto packed = f.tensor(name + "__packed");
    const auto norms = f.tensor(name + "__norms");
    std::vector<uint8_t> codes(rows * nb * 128);
    unpack_codes(CodePacking::BigEndianStream, 5, reinterpret_cast<const uint8_t*>(packed.bytes.data()), codes.size(),
                 codes.data());
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t b = 0; b < nb; ++b) {
        float block[128] = {};
        for (int j = 0; j < 128 && b * 128 + j < cols; ++j) block[j] = t.values[r * cols + b * 128 + j];
        uint8_t want[128];
        const uint16_t s = quantize_block(block, book, ScaleKind::Norm, want);
        uint16_t got;
        std::memcpy(&got, norms.bytes.data() + 2 * (r * nb + b), 2);
        ASSERT_EQ(got, s) << name << " row " << r;
        ASSERT_TRUE(std::equal(want, want + 128, codes.begin() + (r * nb + b) * 128)) << name << " row " << r;
      }
  }
}

TEST(Quantizer, NanInAWeightNamesTheTensor) {
  TempDir d;
  auto ts = fixture_tensors();
  ts[3].values[517] = std::nanf("");  // down_proj
  write_fixture(d / "src", ts);
  try {
    quantize_checkpoint(d / "src", d / "dst", {});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::CorruptFile);
    EXPECT_NE(std::string(e.what()).find("model.layers.0.mlp.down_proj.weight"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(".safetensors"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("NaN"), std::string::npos) << e.what();
  }
}

TEST(Quantizer, DropPolicyAndBadOptions) {
  TempDir d;
  write_fixture(d / "src", fixture_tensors());
  QuantizeOptions opts;
  opts.policy = make_tensor_policy({"model.visual."});
  quantize_checkpoint(d / "src", d / "dst", opts);
  const auto set = SafetensorsSet::open(d / "dst");
  for (const auto& n : set.names()) EXPECT_EQ(n.find("model.visual."), std::string::npos) << n;
  opts.bits = 4;
  opts.codebook = Codebook::ReferenceQuantizer;  // 5-bit only
  EXPECT_THROW(quantize_checkpoint(d / "src", d / "dst2", opts), Error);
  EXPECT_THROW(quantize_checkpoint(d / "nothing", d / "dst3", {}), Error);
}

TEST(TensorPolicy, DefaultFollowsSpec44) {
  EXPECT_TRUE(default_is_linear("model.language_model.layers.3.mlp.up_proj.weight", {17408, 5120}));
  EXPECT_TRUE(default_is_linear("lm_head.weight", {248320, 5120}));
  EXPECT_TRUE(default_is_linear("model.language_model.layers.0.linear_attn.in_proj_a.weight", {48, 5120}));
  EXPECT_FALSE(default_is_linear("model.language_model.embed_tokens.weight", {248320, 5120}));
  EXPECT_FALSE(default_is_linear("model.language_model.layers.0.linear_attn.conv1d.weight", {10240, 1, 4}));
  EXPECT_FALSE(default_is_linear("model.language_model.layers.0.linear_attn.A_log", {48}));
  EXPECT_FALSE(default_is_linear("model.language_model.layers.0.linear_attn.dt_bias", {48}));
  EXPECT_FALSE(default_is_linear("model.language_model.layers.3.self_attn.q_norm.weight", {256}));
  EXPECT_FALSE(default_is_linear("model.language_model.layers.0.linear_attn.norm.weight", {128}));
  EXPECT_FALSE(default_is_linear("model.language_model.norm.weight", {5120}));
}

namespace {

// Every file of dir a, byte for byte equal to the same name in dir b (and the same names).
void expect_same_files(const std::filesystem::path& a, const std::filesystem::path& b) {
  std::vector<std::string> names_a, names_b;
  for (const auto& e : std::filesystem::directory_iterator(a)) names_a.push_back(e.path().filename().string());
  for (const auto& e : std::filesystem::directory_iterator(b)) names_b.push_back(e.path().filename().string());
  std::sort(names_a.begin(), names_a.end());
  std::sort(names_b.begin(), names_b.end());
  ASSERT_EQ(names_a, names_b);
  for (const auto& n : names_a) {
    std::ifstream fa(a / n, std::ios::binary), fb(b / n, std::ios::binary);
    const std::string sa((std::istreambuf_iterator<char>(fa)), {}), sb((std::istreambuf_iterator<char>(fb)), {});
    EXPECT_TRUE(sa == sb) << n << " differs";
  }
}

// A stand-in GPU quantizer: the CPU math, but it fails on call number `fail_at` (a lost device
// mid-run), so the fallback path runs without a GPU.
int g_fake_calls = 0, g_fake_fail_at = 0;
class FlakyQuantizer final : public BlockQuantizer {
 public:
  FlakyQuantizer(const BlockQuantizeSpec& spec, ThreadPool& pool) : cpu_(make_cpu_block_quantizer(spec, pool)) {}
  std::string name() const override { return "flaky test device"; }
  bool is_gpu() const override { return true; }
  void quantize(const RowChunk& c) override {
    if (++g_fake_calls == g_fake_fail_at) {
      std::fill(c.packed, c.packed + 7, uint8_t(0xab));  // half-written output must not survive
      throw Error(ErrorKind::Device, "CUDA: test device lost");
    }
    cpu_->quantize(c);
  }

 private:
  std::unique_ptr<BlockQuantizer> cpu_;
};
std::unique_ptr<BlockQuantizer> make_flaky(const BlockQuantizeSpec& spec, ThreadPool& pool) {
  return std::make_unique<FlakyQuantizer>(spec, pool);
}
std::unique_ptr<BlockQuantizer> make_broken(const BlockQuantizeSpec&, ThreadPool&) {
  throw Error(ErrorKind::Device, "CUDA: cudaStreamCreate failed (test)");
}

struct RegistryReset {
  ~RegistryReset() { register_gpu_block_quantizer(nullptr); }
};

}  // namespace

TEST(Quantizer, DeviceChoiceNeverChangesTheBytesAndAFailingGpuFallsBack) {
  TempDir d;
  write_fixture(d / "src", fixture_tensors());
  RegistryReset reset;
  QuantizeOptions cpu;
  cpu.device = QuantizeDevice::Cpu;
  const auto ref = quantize_checkpoint(d / "src", d / "cpu", cpu);
  EXPECT_NE(ref.device.find("cpu"), std::string::npos) << ref.device;

  // No GPU quantizer registered (engine-only build): --device cuda warns and uses the CPU.
  std::vector<std::string> warnings;
  QuantizeOptions opts;
  opts.device = QuantizeDevice::Cuda;
  opts.warn = [&](const std::string& m) { warnings.push_back(m); };
  const auto r1 = quantize_checkpoint(d / "src", d / "no-cuda", opts);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("no CUDA support"), std::string::npos) << warnings[0];
  EXPECT_NE(r1.device.find("cpu"), std::string::npos);
  expect_same_files(d / "cpu", d / "no-cuda");

  // Under auto a missing GPU is silent.
  warnings.clear();
  opts.device = QuantizeDevice::Auto;
  quantize_checkpoint(d / "src", d / "auto", opts);
  EXPECT_TRUE(warnings.empty());

  // A device that dies on its third chunk: one warning, the rest on the CPU, same bytes.
  register_gpu_block_quantizer(&make_flaky);
  g_fake_calls = 0;
  g_fake_fail_at = 3;
  const auto r2 = quantize_checkpoint(d / "src", d / "flaky", opts);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("test device lost"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[0].find("continuing on the CPU"), std::string::npos) << warnings[0];
  EXPECT_NE(r2.device.find("cpu"), std::string::npos);
  expect_same_files(d / "cpu", d / "flaky");

  // A device that works: used, same bytes.
  warnings.clear();
  g_fake_fail_at = -1;
  const auto r3 = quantize_checkpoint(d / "src", d / "fake-ok", opts);
  EXPECT_TRUE(warnings.empty());
  EXPECT_EQ(r3.device, "flaky test device");
  expect_same_files(d / "cpu", d / "fake-ok");

  // A device that fails to start: a warning even under auto, then the CPU.
  register_gpu_block_quantizer(&make_broken);
  quantize_checkpoint(d / "src", d / "broken", opts);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("cudaStreamCreate"), std::string::npos) << warnings[0];
  expect_same_files(d / "cpu", d / "broken");

  EXPECT_EQ(parse_quantize_device("cuda"), QuantizeDevice::Cuda);
  EXPECT_EQ(parse_quantize_device("cpu"), QuantizeDevice::Cpu);
  EXPECT_THROW(parse_quantize_device("tpu"), Error);
}

TEST(Quantizer, CpuBlockQuantizerMatchesQuantizeBlockForEverySourceType) {
  // F16 and F32 sources, a width that is not a multiple of 128 (zero padding), zero rows.
  const int64_t rows = 9, cols = 300, nb = 3;
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> v(rows * cols);
  for (auto& x : v) x = nd(rng);
  for (int64_t j = 0; j < cols; ++j) v[4 * cols + j] = 0.0f;  // an all-zero row: norm clamps to 1e-10
  ThreadPool pool(2);
  for (int bits : {5, 4, 3, 2})
    for (ScaleKind scale : {ScaleKind::Norm, ScaleKind::Mse})
      for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
        const auto book = codebook_table(Codebook::Converged, bits);
        BlockQuantizeSpec spec{bits, {book.begin(), book.end()}, scale};
        std::vector<std::byte> src(rows * cols * dtype_size(dt));
        std::vector<float> exact(v.size());
        for (std::size_t i = 0; i < v.size(); ++i) {
          if (dt == DType::F32) {
            std::memcpy(&src[4 * i], &v[i], 4);
            exact[i] = v[i];
          } else {
            const uint16_t h = dt == DType::F16 ? f32_to_f16(v[i]) : f32_to_bf16(v[i]);
            std::memcpy(&src[2 * i], &h, 2);
            exact[i] = dt == DType::F16 ? f16_to_f32(h) : bf16_to_f32(h);
          }
        }
        const uint64_t row_out = packed_row_bytes(bits, cols);
        std::vector<uint8_t> packed(rows * row_out);
        std::vector<uint16_t> scales(rows * nb);
        make_cpu_block_quantizer(spec, pool)->quantize({src.data(), dt, rows, cols, packed.data(), scales.data()});
        std::vector<uint8_t> codes(nb * 128);
        for (int64_t r = 0; r < rows; ++r) {
          unpack_codes(CodePacking::BigEndianStream, bits, packed.data() + r * row_out, codes.size(), codes.data());
          for (int64_t b = 0; b < nb; ++b) {
            float block[128] = {};
            for (int j = 0; j < 128 && b * 128 + j < cols; ++j) block[j] = exact[r * cols + b * 128 + j];
            uint8_t want[128];
            ASSERT_EQ(scales[r * nb + b], quantize_block(block, book, scale, want)) << bits << " row " << r;
            ASSERT_TRUE(std::equal(want, want + 128, codes.begin() + b * 128)) << bits << " row " << r << " block " << b;
          }
        }
      }
}

TEST(Quantizer, CacheKeyFollowsTheTensorPolicy) {
  TempDir d;
  const auto ts = fixture_tensors();
  write_fixture(d / "m", ts);
  CheckpointOptions a;
  a.quantize_bits = 5;
  a.cache_dir = d / "cache";
  CheckpointOptions b = a;  // same bits, codebook, scale: only the policy differs
  b.policy.is_linear = [](std::string_view name, const std::vector<int64_t>& shape) {
    return default_is_linear(name, shape) && name.find("up_proj") == std::string_view::npos;
  };
  CheckpointOptions c = a;
  c.policy = make_tensor_policy({"model.visual."});
  EXPECT_NE(quantized_cache_path(d / "m", a), quantized_cache_path(d / "m", b));
  EXPECT_NE(quantized_cache_path(d / "m", a), quantized_cache_path(d / "m", c));
  // A policy object that decides the same way is the same cache.
  CheckpointOptions a2 = a;
  a2.policy = make_tensor_policy();
  EXPECT_EQ(quantized_cache_path(d / "m", a), quantized_cache_path(d / "m", a2));

  const auto ka = load_checkpoint(d / "m", a);
  const auto kb = load_checkpoint(d / "m", b);
  const auto kc = load_checkpoint(d / "m", c);
  EXPECT_NE(ka.quantized_from, kb.quantized_from);
  EXPECT_TRUE(ka.weights.quant("model.layers.0.mlp.up_proj.weight"));
  EXPECT_TRUE(kb.weights.dense("model.layers.0.mlp.up_proj.weight"));  // b's policy, not a's stale cache
  EXPECT_TRUE(kb.weights.quant("model.layers.0.mlp.down_proj.weight"));
  EXPECT_TRUE(ka.weights.contains("model.visual.blocks.0.attn.qkv.weight"));
  EXPECT_FALSE(kc.weights.contains("model.visual.blocks.0.attn.qkv.weight"));
  // Loading with a's policy again maps a's cache, untouched.
  EXPECT_EQ(load_checkpoint(d / "m", a).quantized_from, ka.quantized_from);
}
