#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "planner/cuda_context_cache.h"
#include "planner/gpu_table.h"

namespace hlwq::planner {
namespace {

TEST(GpuTable, FindsCardsUnderTheirUsualSpellings) {
  EXPECT_EQ(std::string(find_gpu("RTX 4090").name), "RTX 4090");
  EXPECT_EQ(std::string(find_gpu("NVIDIA GeForce RTX 4090").name), "RTX 4090");
  EXPECT_EQ(std::string(find_gpu("rtx-4090").name), "RTX 4090");
  EXPECT_EQ(std::string(find_gpu("RTX 3060").name), "RTX 3060 12GB");  // the only 3060 entry with a size
  EXPECT_EQ(std::string(find_gpu("h100").name), "H100 80GB");
  EXPECT_EQ(std::string(find_gpu("RTX 4060 Ti 16GB").name), "RTX 4060 Ti 16GB");
  EXPECT_THROW(find_gpu("RTX 4060 Ti"), Error);  // 8 or 16 GB: ambiguous, must not guess
  EXPECT_THROW(find_gpu("Voodoo 2"), Error);
  EXPECT_THROW(find_gpu(""), Error);
}

TEST(GpuTable, EntriesAreSane) {
  for (const KnownGpu& g : known_gpus()) {
    const GpuSpec s = g.spec();
    EXPECT_GE(s.total_bytes, 8000 * kMiB) << g.name;
    EXPECT_EQ(s.free_bytes, s.total_bytes);
    EXPECT_GE(s.cc_major, 8) << g.name;
    EXPECT_EQ(&find_gpu(g.name), &g) << g.name;  // every name finds itself
  }
  EXPECT_EQ(gpu_from_gib(24).total_bytes, 24 * kGiB);
  EXPECT_THROW(gpu_from_gib(0), Error);
  EXPECT_THROW(gpu_from_gib(-3), Error);
}

TEST(ContextCache, StoresLooksUpAndSurvivesCorruption) {
  const auto dir = std::filesystem::temp_directory_path() / ("hlwq_ctx_cache_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  const auto path = dir / "hlwq" / "cuda_context.json";
  CudaContextCache cache(path);
  EXPECT_EQ(cache.lookup("H100", "550.54"), std::nullopt);
  cache.store("H100", "550.54", 500 * kMiB);
  cache.store("H100", "560.10", 480 * kMiB);
  cache.store("RTX 4090", "560.10", 300 * kMiB);
  cache.store("H100", "550.54", 510 * kMiB);  // replaces
  EXPECT_EQ(cache.lookup("H100", "550.54"), 510 * kMiB);
  EXPECT_EQ(cache.lookup("H100", "560.10"), 480 * kMiB);
  EXPECT_EQ(cache.lookup_any_driver("RTX 4090"), 300 * kMiB);
  EXPECT_EQ(cache.lookup_any_driver("H100"), 510 * kMiB);  // the latest stored
  std::ofstream(path) << "{not json";
  EXPECT_EQ(cache.lookup("H100", "550.54"), std::nullopt);
  cache.store("H100", "550.54", 1);  // a corrupt cache is rewritten, not an error
  EXPECT_EQ(cache.lookup("H100", "550.54"), 1u);
  std::filesystem::remove_all(dir);
}

TEST(ContextCache, TableNamesFindMeasurementsUnderDriverNames) {
  EXPECT_TRUE(same_gpu("NVIDIA GeForce RTX 4090", "RTX 4090"));
  EXPECT_TRUE(same_gpu("RTX 3060 12GB", "NVIDIA GeForce RTX 3060"));
  EXPECT_FALSE(same_gpu("NVIDIA GeForce RTX 4090", "RTX 4080 16GB"));
  EXPECT_FALSE(same_gpu("", ""));
  const auto dir = std::filesystem::temp_directory_path() / ("hlwq_ctx_xdg_" + std::to_string(::getpid()));
  const char* old = std::getenv("XDG_CACHE_HOME");
  const std::string saved = old ? old : "";
  setenv("XDG_CACHE_HOME", dir.c_str(), 1);
  EXPECT_EQ(cached_context_bytes("RTX 4090"), std::nullopt);
  CudaContextCache().store("NVIDIA GeForce RTX 4090", "560.35", 301 * kMiB);
  EXPECT_EQ(cached_context_bytes("RTX 4090"), 301 * kMiB);
  EXPECT_EQ(cached_context_bytes("RTX 4080 16GB"), std::nullopt);
  if (old) setenv("XDG_CACHE_HOME", saved.c_str(), 1); else unsetenv("XDG_CACHE_HOME");
  std::filesystem::remove_all(dir);
}

TEST(ContextCache, DefaultPathFollowsXdg) {
  const char* old = std::getenv("XDG_CACHE_HOME");
  const std::string saved = old ? old : "";
  setenv("XDG_CACHE_HOME", "/xdg/cache", 1);
  EXPECT_EQ(default_context_cache_path(), std::filesystem::path("/xdg/cache/hlwq/cuda_context.json"));
  setenv("XDG_CACHE_HOME", "relative/ignored", 1);  // XDG: relative paths are invalid
  EXPECT_NE(default_context_cache_path().string().find(".cache/hlwq/cuda_context.json"), std::string::npos);
  if (old) setenv("XDG_CACHE_HOME", saved.c_str(), 1); else unsetenv("XDG_CACHE_HOME");
}

}  // namespace
}  // namespace hlwq::planner
