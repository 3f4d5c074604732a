// End to end through the mock Hub: a small multi-shard BF16 checkpoint shaped like Qwen3.5
// downloads into the HF cache layout and loads with load_checkpoint; quantize-while-
// downloading produces the same files as quantizing the whole checkpoint at once
// (quantize_checkpoint, the reference route), keeps at most one source shard on disk, and
// resumes at the right shard after an interruption.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <map>
#include <random>

#include "core/error.h"
#include "formats/checkpoint.h"
#include "formats/quantizer.h"
#include "formats/safetensors.h"
#include "hub/downloader.h"
#include "hub/quantizing_download.h"
#include "mock_hub.h"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace hlwq;
using namespace hlwq::hub;
using hlwq::test::MockHub;
using hlwq::test::read_file;
using hlwq::test::TempDir;

namespace {

constexpr const char* kRepo = "test-org/Qwen3.5-Tiny";

// bf16 bits of Gaussian values (truncation is fine for test weights).
std::vector<uint16_t> gaussian_bf16(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 0.02f);
  std::vector<uint16_t> out(n);
  for (auto& v : out) {
    float f = dist(rng);
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    v = uint16_t(bits >> 16);
  }
  return out;
}

struct TinyCheckpoint {
  std::vector<std::vector<uint16_t>> storage;
  std::vector<DenseTensor> tensors;
  void add(const std::string& name, std::vector<int64_t> shape, unsigned seed) {
    size_t n = 1;
    for (auto d : shape) n *= size_t(d);
    storage.push_back(gaussian_bf16(n, seed));
    DenseTensor t;
    t.name = name;
    t.dtype = DType::BF16;
    t.shape = shape;
    t.bytes = std::as_bytes(std::span(storage.back()));
    tensors.push_back(t);
  }
};

// Two layers of a text-only Qwen3.5 (hidden 128) over three shards plus an index, config and
// tokenizer files, the way a Hub repo holds them.
void write_tiny_qwen35(const fs::path& dir) {
  const int64_t hidden = 128, inter = 256, vocab = 320;
  std::vector<TinyCheckpoint> shards(3);
  std::map<std::string, std::string> weight_map;
  unsigned seed = 1;
  auto put = [&](int shard, const std::string& name, std::vector<int64_t> shape) {
    shards[shard].add(name, shape, seed++);
    weight_map[name] = "model-0000" + std::to_string(shard + 1) + "-of-00003.safetensors";
  };
  put(0, "model.embed_tokens.weight", {vocab, hidden});
  for (int layer = 0; layer < 2; ++layer) {
    std::string p = "model.layers." + std::to_string(layer) + ".";
    put(1 + layer, p + "input_layernorm.weight", {hidden});
    put(1 + layer, p + "post_attention_layernorm.weight", {hidden});
    put(1 + layer, p + "mlp.gate_proj.weight", {inter, hidden});
    put(1 + layer, p + "mlp.up_proj.weight", {inter, hidden});
    put(1 + layer, p + "mlp.down_proj.weight", {hidden, inter});
  }
  put(2, "model.norm.weight", {hidden});
  put(2, "lm_head.weight", {vocab, hidden});
  fs::create_directories(dir);
  uint64_t total = 0;
  for (int s = 0; s < 3; ++s) {
    write_safetensors(dir / ("model-0000" + std::to_string(s + 1) + "-of-00003.safetensors"), shards[s].tensors);
    for (const auto& t : shards[s].tensors) total += t.bytes.size();
  }
  write_safetensors_index(dir, weight_map, total);
  json config = {{"model_type", "qwen3_5_text"}, {"architectures", {"Qwen3_5ForCausalLM"}}, {"hidden_size", hidden},
                 {"intermediate_size", inter}, {"num_hidden_layers", 2}, {"vocab_size", vocab}, {"torch_dtype", "bfloat16"}};
  std::ofstream(dir / "config.json") << config.dump(1);
  std::ofstream(dir / "tokenizer_config.json") << R"({"eos_token": "<|im_end|>"})";
  std::ofstream(dir / "generation_config.json") << R"({"temperature": 0.6})";
}

class HubEndToEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    src_ = tmp_.path / "repo";
    write_tiny_qwen35(src_);
    hub_ = std::make_unique<MockHub>(std::vector<std::string>{std::string(kRepo) + "=" + src_.string()},
                                     std::vector<std::string>{"--lfs-threshold", "4096", "--small-redirect", "307"});
    s_.endpoint = hub_->endpoint();
    s_.cache_dir = tmp_.path / "cache";
    s_.hf_home = tmp_.path / "home";
    s_.retry_base_delay = std::chrono::milliseconds(20);
  }

  int cdn_fetches(const std::string& file) const {
    std::string sha = hub_->manifest()[kRepo]["files"][file]["sha256"];
    int n = 0;
    for (const auto& e : hub_->log()) n += e["path"].get<std::string>().find("/cdn/" + sha) == 0;
    return n;
  }

  TempDir tmp_;
  fs::path src_;
  std::unique_ptr<MockHub> hub_;
  HubSettings s_;
};

TEST_F(HubEndToEnd, MultiShardCheckpointDownloadsAndLoads) {
  Downloader d(s_);
  fs::path snapshot = d.download({kRepo, "main", {}, {}});
  EXPECT_TRUE(fs::is_symlink(snapshot / "model-00002-of-00003.safetensors"));
  Checkpoint downloaded = load_checkpoint(snapshot);
  Checkpoint original = load_checkpoint(src_);
  EXPECT_EQ(downloaded.format, original.format);
  ASSERT_EQ(downloaded.weights.names(), original.weights.names());
  for (const auto& name : original.weights.names()) {
    const DenseTensor& a = downloaded.weights.require_dense(name);
    const DenseTensor& b = original.weights.require_dense(name);
    ASSERT_EQ(a.bytes.size(), b.bytes.size()) << name;
    EXPECT_EQ(std::memcmp(a.bytes.data(), b.bytes.data(), a.bytes.size()), 0) << name;
  }
}

TEST_F(HubEndToEnd, QuantizeWhileDownloadingMatchesWholeCheckpointQuantizer) {
  ASSERT_TRUE(quantize_while_downloading_available());
  // The reference: formats' whole-checkpoint quantizer on the original folder.
  fs::path reference = tmp_.path / "reference";
  QuantizeOptions opts;
  opts.bits = 5;
  quantize_checkpoint(src_, reference, opts);

  Downloader d(s_);
  d.progress_interval = std::chrono::milliseconds(0);
  QuantizeRequest q;
  q.source = {kRepo, "main", {}, {}};
  q.bits = 5;
  q.output_dir = tmp_.path / "out";
  // Interrupt once the first shard is quantized, as a closed app would.
  uint64_t most_source_bytes = 0;
  auto watch = [&](const DownloadProgress& p) {
    uint64_t source = 0;
    std::error_code ec;
    for (const auto& e : fs::recursive_directory_iterator(q.output_dir / ".download", ec))
      if (e.is_regular_file() && e.path().extension() != ".json" && e.path().extension() != ".lock") source += e.file_size();
    most_source_bytes = std::max(most_source_bytes, source);
    if (!p.files.empty() && p.files[0].path == "model-00001-of-00003.safetensors" && p.files[0].state == FileState::Done) d.cancel();
  };
  EXPECT_THROW(download_and_quantize(d, q, watch), Error);
  EXPECT_TRUE(fs::exists(q.output_dir / "model-00001-of-00003.safetensors"));
  EXPECT_FALSE(fs::exists(q.output_dir / "model-00003-of-00003.safetensors"));

  Downloader again(s_);
  fs::path out = download_and_quantize(again, q, watch);
  EXPECT_EQ(out, q.output_dir);
  EXPECT_EQ(cdn_fetches("model-00001-of-00003.safetensors"), 1) << "the finished shard was fetched again";
  EXPECT_EQ(cdn_fetches("model-00003-of-00003.safetensors"), 1);
  EXPECT_FALSE(fs::exists(out / ".download"));
  uint64_t largest_shard = 0;
  for (int i = 1; i <= 3; ++i)
    largest_shard = std::max<uint64_t>(largest_shard, fs::file_size(src_ / ("model-0000" + std::to_string(i) + "-of-00003.safetensors")));
  EXPECT_LE(most_source_bytes, largest_shard) << "more than one source shard on disk at once";

  for (int i = 1; i <= 3; ++i) {
    std::string name = "model-0000" + std::to_string(i) + "-of-00003.safetensors";
    EXPECT_EQ(read_file(out / name), read_file(reference / name)) << name;
  }
  Checkpoint ck = load_checkpoint(out);
  EXPECT_EQ(ck.format, "hlwq-q5");
  EXPECT_NE(ck.weights.quant("model.layers.1.mlp.down_proj.weight"), nullptr);
  EXPECT_NE(ck.weights.dense("model.norm.weight"), nullptr);
  EXPECT_TRUE(fs::exists(out / "config.json"));
  EXPECT_TRUE(fs::exists(out / "tokenizer_config.json"));
}

}  // namespace
