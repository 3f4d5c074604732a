// load_checkpoint over the three source kinds, the quantize-at-load cache, and refusals.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "core/error.h"
#include "core/half.h"
#include "formats/checkpoint.h"
#include "formats/quantizer.h"
#include "model_fixture.h"

using namespace hlwq;
using namespace hlwq::test;

namespace {

ErrorKind kind_of(const std::function<void()>& fn, std::string* message = nullptr) {
  try {
    fn();
  } catch (const Error& e) {
    if (message) *message = e.what();
    return e.kind();
  }
  ADD_FAILURE() << "no Error thrown";
  return ErrorKind::Internal;
}

double rel_error(const QuantTensor& q, const std::vector<float>& ref) {
  std::vector<float> out(std::size_t(q.rows * q.cols));
  dequantize_rows(q, 0, q.rows, out.data());
  double err = 0, energy = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    err += (out[i] - ref[i]) * double(out[i] - ref[i]);
    energy += double(ref[i]) * ref[i];
  }
  return err / energy;
}

}  // namespace

TEST(Checkpoint, DenseBf16StaysDense) {
  TempDir d;
  const auto ts = fixture_tensors();
  write_fixture(d / "m", ts);
  const auto ck = load_checkpoint(d / "m");
  EXPECT_EQ(ck.format, "bf16");
  EXPECT_EQ(ck.config["hidden_size"], 256);
  EXPECT_TRUE(ck.hlwq_config.is_null());
  for (const auto& t : ts) {
    const auto& dense = ck.weights.require_dense(t.name);
    EXPECT_EQ(dense.shape, t.shape);
    EXPECT_TRUE(std::ranges::equal(dense.bytes, to_bf16_bytes(t.values)));
  }
  EXPECT_EQ(kind_of([&] { ck.weights.require_dense("model.nope.weight"); }), ErrorKind::MissingTensor);
  // One shard named directly.
  const auto one = load_checkpoint(d / "m" / "model-00001-of-00002.safetensors");
  EXPECT_TRUE(one.weights.contains(ts[0].name));
  EXPECT_FALSE(one.weights.contains(ts[1].name));
}

TEST(Checkpoint, Bf16QuantizedAtLoadAndCached) {
  TempDir d;
  const auto ts = fixture_tensors();
  write_fixture(d / "m", ts);
  CheckpointOptions opts;
  opts.quantize_bits = 5;
  opts.cache_dir = d / "cache";
  opts.policy = make_tensor_policy({"model.visual."});
  int calls = 0;
  const auto ck = load_checkpoint(d / "m", opts, [&](double, const std::string&) { ++calls; });
  EXPECT_GT(calls, 0);
  EXPECT_EQ(ck.format, "hlwq-q5");
  EXPECT_EQ(ck.dir, d / "m");
  ASSERT_FALSE(ck.quantized_from.empty());
  EXPECT_EQ(ck.quantized_from, quantized_cache_path(d / "m", opts));
  for (const auto& t : ts) {
    if (t.name.starts_with("model.visual.")) {
      EXPECT_FALSE(ck.weights.contains(t.name));
    } else if (t.linear) {
      const auto& q = ck.weights.require_quant(t.name);
      EXPECT_EQ(q.rows, t.shape[0]);
      EXPECT_EQ(q.cols, t.shape[1]);
      EXPECT_EQ(q.codebook.size(), 32u);
      EXPECT_EQ(q.codebook[31], codebook_table(Codebook::Converged, 5)[31]);
      EXPECT_LT(rel_error(q, t.values), 0.0035) << t.name;  // spec Q5 MSE 0.0025 on Gaussian blocks
    } else {
      EXPECT_TRUE(ck.weights.dense(t.name)) << t.name;
    }
  }
  // The second load maps the cache: no file is rewritten.
  const auto stamp = std::filesystem::last_write_time(ck.quantized_from / "model-00001-of-00002.safetensors");
  const auto again = load_checkpoint(d / "m", opts);
  EXPECT_EQ(again.quantized_from, ck.quantized_from);
  EXPECT_EQ(std::filesystem::last_write_time(ck.quantized_from / "model-00001-of-00002.safetensors"), stamp);
  // A different width is a different cache entry.
  opts.quantize_bits = 3;
  EXPECT_NE(quantized_cache_path(d / "m", opts), ck.quantized_from);
  const auto q3 = load_checkpoint(d / "m", opts);
  EXPECT_EQ(q3.weights.require_quant("lm_head.weight").bits, 3);
  opts.quantize_bits = 7;
  EXPECT_EQ(kind_of([&] { load_checkpoint(d / "m", opts); }), ErrorKind::InvalidArgument);
}

TEST(Checkpoint, OurQuantizedRepoUsesItsStoredCodebookAndScale) {
  TempDir d;
  const auto ts = fixture_tensors();
  write_fixture(d / "src", ts);
  QuantizeOptions q;
  q.bits = 4;
  q.scale = ScaleKind::Mse;
  quantize_checkpoint(d / "src", d / "q4", q);
  const auto ck = load_checkpoint(d / "q4");
  EXPECT_EQ(ck.format, "hlwq-q4");
  const auto& up = ck.weights.require_quant("model.layers.0.mlp.up_proj.weight");
  EXPECT_EQ(up.bits, 4);
  EXPECT_EQ(up.scale, ScaleKind::Mse);
  const auto want = codebook_table(Codebook::Converged, 4);
  EXPECT_TRUE(std::equal(up.codebook.begin(), up.codebook.end(), want.begin(), want.end()));
  EXPECT_LT(rel_error(up, ts[2].values), 0.0105);
}

TEST(Checkpoint, PublicRepoWithoutCodebookUsesTheReferenceLoaderTable) {
  TempDir d;
  write_fixture(d / "src", fixture_tensors());
  quantize_checkpoint(d / "src", d / "pub", {});
  // Rewrite the config the way the public tools do: format and block size only, older name.
  std::filesystem::remove(d / "pub" / "hlwq_config.json");
  write_text(d / "pub" / "polar_config.json", R"({"format": "hlwq-q5", "block_size": 128})");
  const auto ck = load_checkpoint(d / "pub");
  const auto& q = ck.weights.require_quant("lm_head.weight");
  const auto want = codebook_table(Codebook::ReferenceLoader, 5);
  EXPECT_TRUE(std::equal(q.codebook.begin(), q.codebook.end(), want.begin(), want.end()));
}

TEST(Checkpoint, PicklesAreRefusedWithTheBf16Route) {
  TempDir d;
  std::filesystem::create_directories(d / "m");
  write_text(d / "m" / "config.json", "{}");
  write_text(d / "m" / "model_int4.pt", "PK\x03\x04 not really");
  std::string msg;
  EXPECT_EQ(kind_of([&] { load_checkpoint(d / "m"); }, &msg), ErrorKind::UnsupportedArch);
  EXPECT_NE(msg.find("model_int4.pt"), std::string::npos) << msg;
  EXPECT_NE(msg.find("BF16"), std::string::npos) << msg;
  EXPECT_EQ(kind_of([&] { load_checkpoint(d / "m" / "model_int4.pt"); }), ErrorKind::UnsupportedArch);
}

TEST(Checkpoint, ConfigProblemsAreTypedErrors) {
  TempDir d;
  write_fixture(d / "m", fixture_tensors());
  std::string msg;
  write_text(d / "m" / "hlwq_config.json", R"({"format": "gguf-q4_k"})");
  EXPECT_EQ(kind_of([&] { load_checkpoint(d / "m"); }, &msg), ErrorKind::UnsupportedArch);
  EXPECT_NE(msg.find("hlwq-q5"), std::string::npos) << msg;  // lists what is supported
  write_text(d / "m" / "hlwq_config.json", R"({"block_size": 128})");
  EXPECT_EQ(kind_of([&] { load_checkpoint(d / "m"); }, &msg), ErrorKind::BadConfig);
  EXPECT_NE(msg.find("format"), std::string::npos);
  write_text(d / "m" / "hlwq_config.json", R"({"format": )");
  EXPECT_EQ(kind_of([&] { load_checkpoint(d / "m"); }), ErrorKind::BadJson);
  std::filesystem::remove(d / "m" / "hlwq_config.json");
  write_text(d / "m" / "config.json", R"({"quantization_config": {"quant_method": "polarengine"}})");
  EXPECT_EQ(kind_of([&] { load_checkpoint(d / "m"); }), ErrorKind::BadConfig);
  std::filesystem::remove(d / "m" / "config.json");
  EXPECT_EQ(kind_of([&] { load_checkpoint(d / "m"); }, &msg), ErrorKind::BadConfig);
  EXPECT_NE(msg.find("config.json"), std::string::npos);
  EXPECT_EQ(kind_of([&] { load_checkpoint(d / "absent"); }), ErrorKind::Io);
}

namespace {

// A quantized repo with one Linear, assembled by hand so each companion can be broken.
void write_packed_repo(const std::filesystem::path& dir, const std::vector<DenseTensor>& tensors) {
  std::filesystem::create_directories(dir);
  write_text(dir / "config.json", "{}");
  write_text(dir / "hlwq_config.json", R"({"format": "hlwq-q5", "block_size": 128})");
  write_safetensors(dir / "model.safetensors", tensors);
}

}  // namespace

TEST(Checkpoint, BrokenPackedTensorsAreNamed) {
  TempDir d;
  const int64_t rows = 3, nb = 2;
  std::vector<std::byte> packed(rows * nb * 80), norms(rows * nb * 2, std::byte{0x10});
  int64_t meta[5] = {rows, nb, 128, rows * nb * 128, 256};
  auto meta_bytes = [&] { return std::as_bytes(std::span(meta)); };
  const std::string p = "model.layers.0.mlp.up_proj.weight";
  auto packed_t = [&] { return DenseTensor{p + "__packed", DType::U8, {int64_t(packed.size())}, packed}; };
  auto norms_t = [&] { return DenseTensor{p + "__norms", DType::F16, {rows, nb}, norms}; };
  auto meta_t = [&] { return DenseTensor{p + "__meta", DType::I64, {5}, meta_bytes()}; };

  write_packed_repo(d / "ok", {packed_t(), norms_t(), meta_t()});
  EXPECT_EQ(load_checkpoint(d / "ok").weights.require_quant(p).cols, 256);

  std::string msg;
  write_packed_repo(d / "no_norms", {packed_t(), meta_t()});
  EXPECT_EQ(kind_of([&] { load_checkpoint(d / "no_norms"); }, &msg), ErrorKind::MissingTensor);
  EXPECT_NE(msg.find(p + "__norms"), std::string::npos) << msg;
  EXPECT_NE(msg.find("model.safetensors"), std::string::npos) << msg;

  write_packed_repo(d / "no_packed", {norms_t(), meta_t()});
  EXPECT_EQ(kind_of([&] { load_checkpoint(d / "no_packed"); }, &msg), ErrorKind::MissingTensor);
  EXPECT_NE(msg.find(p + "__packed"), std::string::npos) << msg;

  meta[3] = 999;
  write_packed_repo(d / "bad_meta", {packed_t(), norms_t(), meta_t()});
  EXPECT_EQ(kind_of([&] { load_checkpoint(d / "bad_meta"); }, &msg), ErrorKind::CorruptFile);
  EXPECT_NE(msg.find(p), std::string::npos) << msg;
  meta[3] = rows * nb * 128;

  write_packed_repo(d / "bad_norms", {packed_t(), DenseTensor{p + "__norms", DType::F16, {nb, rows}, norms}, meta_t()});
  EXPECT_EQ(kind_of([&] { load_checkpoint(d / "bad_norms"); }), ErrorKind::CorruptFile);

  write_packed_repo(d / "f32_norms",
                    {packed_t(), DenseTensor{p + "__norms", DType::F32, {rows, 1}, norms}, meta_t()});
  EXPECT_EQ(kind_of([&] { load_checkpoint(d / "f32_norms"); }), ErrorKind::CorruptFile);

  std::vector<std::byte> short_packed(rows * nb * 80 - 5);
  write_packed_repo(d / "short", {DenseTensor{p + "__packed", DType::U8, {int64_t(short_packed.size())}, short_packed},
                                  norms_t(), meta_t()});
  EXPECT_EQ(kind_of([&] { load_checkpoint(d / "short"); }, &msg), ErrorKind::CorruptFile);
  EXPECT_NE(msg.find(p), std::string::npos) << msg;

  std::vector<std::byte> nan_norms(rows * nb * 2, std::byte{0});
  nan_norms[1] = std::byte{0x7e};
  write_packed_repo(d / "nan", {packed_t(), DenseTensor{p + "__norms", DType::F16, {rows, nb}, nan_norms}, meta_t()});
  EXPECT_EQ(kind_of([&] { load_checkpoint(d / "nan"); }, &msg), ErrorKind::CorruptFile);
  EXPECT_NE(msg.find("NaN"), std::string::npos) << msg;
}

TEST(Checkpoint, LegacyPolarEngineV5) {
  TempDir d;
  std::mt19937 rng(7);
  std::normal_distribution<float> nd;
  const std::filesystem::path dir = d / "legacy";
  std::filesystem::create_directories(dir);
  struct Layer { std::string prefix; int bits; CodePacking packing; bool scaled; };
  const std::vector<Layer> layers = {{"model.layers.0.mlp.up_proj", 5, CodePacking::LittleEndianQ5, true},
                                     {"model.layers.0.mlp.gate_proj", 4, CodePacking::HalfBlockNibbles, false},
                                     {"model.layers.0.mlp.down_proj", 3, CodePacking::Int8, true}};
  const int64_t rows = 3, nb = 2;
  std::vector<std::vector<std::byte>> keep;
  std::vector<DenseTensor> tensors;
  nlohmann::json cfg = {{"format", "polar_engine_v5"}, {"block_size", 128}, {"layers", nlohmann::json::object()}};
  std::map<std::string, std::pair<std::vector<uint8_t>, std::vector<uint16_t>>> truth;
  for (const auto& l : layers) {
    const auto book = codebook_table(Codebook::ReferenceLoader, l.bits);
    std::vector<uint8_t> codes(rows * nb * 128);
    std::vector<uint16_t> norms(rows * nb);
    for (std::size_t b = 0; b < norms.size(); ++b) {
      float x[128];
      for (auto& v : x) v = nd(rng);
      norms[b] = quantize_block(x, book, ScaleKind::Norm, &codes[b * 128]);
    }
    truth[l.prefix + ".weight"] = {codes, norms};
    auto& packed = keep.emplace_back(packed_bytes(l.packing, l.bits, codes.size()));
    pack_codes(l.packing, l.bits, codes.data(), codes.size(), reinterpret_cast<uint8_t*>(packed.data()));
    if (l.packing == CodePacking::Int8)
      tensors.push_back({l.prefix + ".codes", DType::I8, {rows, nb * 128}, packed});
    else
      tensors.push_back({l.prefix + ".codes", DType::U8, {int64_t(packed.size())}, packed});
    auto& nbytes = keep.emplace_back(norms.size() * 2);
    std::memcpy(nbytes.data(), norms.data(), nbytes.size());
    tensors.push_back({l.prefix + ".norms", DType::F16, {rows, nb}, nbytes});
    auto& ct = keep.emplace_back(book.size() * 4);
    std::vector<float> c(book.begin(), book.end());
    if (l.scaled)
      for (auto& v : c) v = float(v / std::sqrt(128.0));
    std::memcpy(ct.data(), c.data(), ct.size());
    tensors.push_back({l.prefix + (l.scaled ? ".ct_scaled" : ".ct"), DType::F32, {int64_t(c.size())}, ct});
    cfg["layers"][l.prefix] = {{"in_features", nb * 128}, {"out_features", rows}, {"in_features_padded", nb * 128},
                               {"n_blocks", nb}, {"bits", l.bits},
                               {"packed", l.packing == CodePacking::HalfBlockNibbles},
                               {"packed_q5", l.packing == CodePacking::LittleEndianQ5}};
  }
  auto& emb = keep.emplace_back(16);
  tensors.push_back({"model.embed_tokens.weight", DType::BF16, {2, 4}, emb});
  write_safetensors(dir / "model.safetensors", tensors);
  write_text(dir / "config.json", "{}");
  write_text(dir / "polar_config.json", cfg.dump());

  const auto ck = load_checkpoint(dir);
  EXPECT_EQ(ck.format, "polar_engine_v5");
  EXPECT_TRUE(ck.weights.dense("model.embed_tokens.weight"));
  for (const auto& l : layers) {
    const auto& q = ck.weights.require_quant(l.prefix + ".weight");
    EXPECT_EQ(q.packing, l.packing);
    EXPECT_EQ(q.bits, l.bits);
    const auto& [codes, norms] = truth[q.name];
    std::vector<uint8_t> row(nb * 128);
    unpack_row_codes(q, 1, row.data());
    EXPECT_TRUE(std::equal(row.begin(), row.end(), codes.begin() + nb * 128));
    std::vector<float> out(rows * nb * 128);
    dequantize_rows(q, 0, rows, out.data());
    const auto book = codebook_table(Codebook::ReferenceLoader, l.bits);
    for (int64_t b = 0; b < rows * nb; ++b) {
      float y[128];
      dequantize_block(&codes[b * 128], norms[b], book, y);
      for (int j = 0; j < 128; ++j) ASSERT_NEAR(out[b * 128 + j], y[j], 1e-5f * (1 + std::fabs(y[j])));
    }
  }

  // An int8 code beyond a 3-bit codebook is corrupt, not an out-of-bounds read later.
  for (auto& t : tensors)
    if (t.name == "model.layers.0.mlp.down_proj.codes") {
      auto& bad = keep.emplace_back(t.bytes.begin(), t.bytes.end());
      bad[17] = std::byte{9};
      t.bytes = bad;
    }
  std::filesystem::remove(dir / "model.safetensors");
  write_safetensors(dir / "model.safetensors", tensors);
  std::string msg;
  EXPECT_EQ(kind_of([&] { load_checkpoint(dir); }, &msg), ErrorKind::CorruptFile);
  EXPECT_NE(msg.find("down_proj"), std::string::npos) << msg;
}
