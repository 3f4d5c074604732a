// The streaming quantizer: output layout (spec 4.1/4.3), agreement with the block codec,
// side files, and typed errors for bad weights.
#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "core/half.h"
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
