// Fit badges before download: the checker reads only config.json through the mock Hub and asks
// the VRAM planner. Reference: the product facts in README.md / the issue: Qwen3.5-27B at Q5
// needs about 17 GB, so it fits a 24 GB card and not an 8 GB one.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "hub/catalog_fit.h"
#include "mock_hub.h"

namespace fs = std::filesystem;
using namespace hlwq;
using namespace hlwq::hub;
using hlwq::test::MockHub;
using hlwq::test::TempDir;

namespace {

// Qwen3.5-27B's text config (qwen35.md section 1), as the vision wrapper publishes it.
void write_27b_config(const fs::path& dir) {
  nlohmann::json text = {{"model_type", "qwen3_5_text"}, {"hidden_size", 5120}, {"num_hidden_layers", 64},
                         {"num_attention_heads", 24}, {"num_key_value_heads", 4}, {"head_dim", 256},
                         {"linear_num_key_heads", 16}, {"linear_num_value_heads", 48}, {"linear_key_head_dim", 128},
                         {"linear_value_head_dim", 128}, {"linear_conv_kernel_dim", 4}, {"intermediate_size", 17408},
                         {"vocab_size", 248320}, {"rms_norm_eps", 1e-6}, {"tie_word_embeddings", false},
                         {"full_attention_interval", 4}, {"max_position_embeddings", 262144},
                         {"rope_parameters", {{"rope_theta", 1e7}, {"partial_rotary_factor", 0.25}}}};
  nlohmann::json config = {{"model_type", "qwen3_5"}, {"architectures", {"Qwen3_5ForConditionalGeneration"}},
                           {"text_config", text}, {"tie_word_embeddings", false}};
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << config.dump(1);
  std::ofstream(dir / "model-00001-of-00011.safetensors") << "not fetched by the fit checker";
}

TEST(HubCatalogFit, PlannerVerdictBeforeDownload) {
  TempDir tmp;
  write_27b_config(tmp.path / "repo");
  MockHub hub({"Jackrong/Qwopus3.5-27B-v3=" + (tmp.path / "repo").string()});
  HubSettings s;
  s.endpoint = hub.endpoint();
  s.cache_dir = tmp.path / "cache";
  Downloader d(s);
  CatalogEntry entry;
  entry.repo = "Jackrong/Qwopus3.5-27B-v3";
  entry.quantize_bits = 5;
  const uint64_t GiB = uint64_t(1) << 30;
  planner::PlanOptions options;
  options.context_length = 8192;

  FitResult big = make_planner_fit_checker(d, {"24 GB card", 24 * GiB, 23 * GiB}, options)(entry);
  std::printf("24 GB card: %s\n", big.detail.c_str());
  EXPECT_EQ(big.verdict, FitVerdict::Fits) << big.detail;
  EXPECT_GT(big.needed_bytes, 14 * GiB) << big.detail;
  EXPECT_LT(big.needed_bytes, 21 * GiB) << big.detail;

  FitResult small = make_planner_fit_checker(d, {"8 GB card", 8 * GiB, 7 * GiB}, options)(entry);
  EXPECT_EQ(small.verdict, FitVerdict::DoesNotFit) << small.detail;

  for (const auto& e : hub.log())
    EXPECT_EQ(e["path"].get<std::string>().find("safetensors"), std::string::npos) << "weights fetched for a fit badge";

  entry.repo = "nobody/missing";
  FitResult unknown = make_planner_fit_checker(d, {"24 GB card", 24 * GiB, 23 * GiB}, options)(entry);
  EXPECT_EQ(unknown.verdict, FitVerdict::Unknown);
  EXPECT_NE(unknown.detail.find("nobody/missing"), std::string::npos) << unknown.detail;
}

}  // namespace
