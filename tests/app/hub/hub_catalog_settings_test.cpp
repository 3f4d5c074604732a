// Settings from the environment (huggingface_hub's variables and precedence), the token file,
// the shipped catalog, and browse_models merging catalog rows, Hub search and fit verdicts.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>

#include "core/error.h"
#include "hub/catalog.h"
#include "hub/hub_settings.h"
#include "mock_hub.h"

namespace fs = std::filesystem;
using namespace hlwq;
using namespace hlwq::hub;
using hlwq::test::MockHub;
using hlwq::test::TempDir;

namespace {

struct EnvGuard {
  std::vector<std::pair<std::string, std::optional<std::string>>> saved;
  void set(const std::string& name, const std::optional<std::string>& value) {
    const char* old = std::getenv(name.c_str());
    saved.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
    if (value) ::setenv(name.c_str(), value->c_str(), 1);
    else ::unsetenv(name.c_str());
  }
  ~EnvGuard() {
    for (auto it = saved.rbegin(); it != saved.rend(); ++it) {
      if (it->second) ::setenv(it->first.c_str(), it->second->c_str(), 1);
      else ::unsetenv(it->first.c_str());
    }
  }
};

TEST(HubSettings, EnvironmentAndTokenPrecedence) {
  TempDir home;
  EnvGuard env;
  env.set("HF_HOME", home.path.string());
  env.set("HF_HUB_CACHE", std::nullopt);
  env.set("HUGGINGFACE_HUB_CACHE", std::nullopt);
  env.set("HF_TOKEN_PATH", std::nullopt);
  env.set("HF_ENDPOINT", "https://mirror.example.org/");
  env.set("HF_HUB_OFFLINE", "1");
  env.set("HF_TOKEN", std::nullopt);
  HubSettings s = HubSettings::from_environment();
  EXPECT_EQ(s.endpoint, "https://mirror.example.org");
  EXPECT_EQ(s.cache_dir, home.path / "hub");
  EXPECT_TRUE(s.offline);
  EXPECT_FALSE(s.token);

  store_token_file(home.path, "hf_file_token\n");
  struct stat st {};
  ASSERT_EQ(::stat((home.path / "token").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(HubSettings::from_environment().token, "hf_file_token");
  env.set("HF_TOKEN", "hf_env_token");
  EXPECT_EQ(HubSettings::from_environment().token, "hf_env_token");
  EXPECT_EQ(HubSettings::from_environment(std::string("hf_typed")).token, "hf_typed");
  env.set("HF_HUB_CACHE", (home.path / "elsewhere").string());
  EXPECT_EQ(HubSettings::from_environment().cache_dir, home.path / "elsewhere");
}

TEST(HubCatalog, ShippedCatalogIsValid) {
  auto entries = load_catalog(HLWQ_SOURCE_CATALOG_FOR_TESTS);
  ASSERT_FALSE(entries.empty());
  const CatalogEntry* qwopus = nullptr;
  for (const auto& e : entries) {
    EXPECT_FALSE(e.license.empty()) << e.id;
    EXPECT_GT(e.download_bytes, 0u) << e.id;
    if (e.id == "qwopus3.5-27b-v3") qwopus = &e;
  }
  ASSERT_NE(qwopus, nullptr);
  EXPECT_EQ(qwopus->repo, "Jackrong/Qwopus3.5-27B-v3");  // the BF16 base (hlwq-format.md 4.5)
  EXPECT_EQ(qwopus->quantize_bits, 5);
  EXPECT_LT(qwopus->disk_bytes, qwopus->download_bytes / 3);
}

TEST(HubCatalog, BadEntriesNameTheField) {
  try {
    parse_catalog(R"({"models": [{"id": "x", "repo": "a/b", "format": "bf16", "download_bytes": 1, "license": "mit", "gated": "maybe"}]})", "cat.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadConfig);
    EXPECT_NE(std::string(e.what()).find("gated"), std::string::npos) << e.what();
  }
  try {
    parse_catalog(R"({"models": [{"id": "x", "format": "bf16"}]})", "cat.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'repo'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_catalog("{", "cat.json"), Error);
}

TEST(HubCatalog, BrowseMergesCatalogSearchAndFit) {
  TempDir src;
  hlwq::test::write_random_file(src.path / "model.safetensors", 5000, 1);
  hlwq::test::write_random_file(src.path / "hlwq_config.json", 10, 2);
  MockHub hub({"someone/Qwen3.5-Tiny-HLWQ=" + src.path.string(), "Qwen/Qwen3.5-0.8B=" + src.path.string()});
  HubSettings s;
  s.endpoint = hub.endpoint();
  s.cache_dir = src.path / "cache";
  HubClient client(s);
  auto catalog = load_catalog(HLWQ_SOURCE_CATALOG_FOR_TESTS);
  int asked = 0;
  FitChecker fit = [&](const CatalogEntry& e) {
    ++asked;
    return FitResult{e.download_bytes < 10000 ? FitVerdict::Fits : FitVerdict::DoesNotFit, e.download_bytes, 10000, ""};
  };
  auto rows = browse_models(catalog, &client, "qwen3.5", fit);
  ASSERT_FALSE(rows.empty());
  EXPECT_TRUE(rows.front().entry.curated);
  int from_search = 0;
  for (const auto& r : rows) {
    if (r.entry.curated) continue;
    ++from_search;
    EXPECT_EQ(r.entry.repo, "someone/Qwen3.5-Tiny-HLWQ");  // the curated Qwen/Qwen3.5-0.8B is not repeated
    EXPECT_EQ(r.entry.license, "apache-2.0");
    EXPECT_EQ(r.fit.verdict, FitVerdict::Fits);
  }
  EXPECT_EQ(from_search, 1);
  EXPECT_EQ(asked, int(rows.size()));
  // Offline: only curated rows, no error.
  s.offline = true;
  HubClient offline(s);
  for (const auto& r : browse_models(catalog, &offline, "qwen3.5", {})) {
    EXPECT_TRUE(r.entry.curated);
    EXPECT_EQ(r.fit.verdict, FitVerdict::Unknown);
  }
}

}  // namespace
