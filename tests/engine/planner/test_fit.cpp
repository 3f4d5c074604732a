// Verdicts, the largest-context search and the best-quantization choice. Free memory is set
// relative to the planner's own requirement, so each branch is reached on purpose; the
// requirement itself is checked against hand formulas in test_kv_bytes / test_weights.
#include <gtest/gtest.h>

#include "core/error.h"
#include "planner/fit.h"
#include "qwen35_sizes.h"

namespace hlwq::planner {
namespace {

GpuSpec gpu_with_free(uint64_t free, int cc_major = 9) {
  GpuSpec g;
  g.name = "test";
  g.total_bytes = free;
  g.free_bytes = free;
  g.cc_major = cc_major;
  return g;
}

ModelSpec model(const char* size, int bits = 5) { return {test::make_config(test::spec_size(size)), bits}; }

TEST(Plan, RequiredIsArenasPlusContextPlusMargin) {
  PlanOptions o;
  o.context_length = 32768;
  o.kv = KvConfig::uniform(3);
  o.safety_margin = 100 * kMiB;
  GpuSpec g = gpu_with_free(24 * kGiB);
  g.cuda_context_bytes = 300 * kMiB;
  const Plan p = make_plan(model("27B"), g, o);
  uint64_t arenas = 0;
  for (const Arena& a : p.arenas) arenas += (a.bytes + 2 * kMiB - 1) / (2 * kMiB) * (2 * kMiB);
  EXPECT_EQ(p.required_bytes(), arenas + 300 * kMiB + 100 * kMiB);
  uint64_t items = 0;
  for (const PlanItem& i : p.items()) items += i.bytes;
  EXPECT_EQ(items, p.required_bytes());
  g.free_excludes_context = true;  // measured after the context existed: not counted twice
  EXPECT_EQ(make_plan(model("27B"), g, o).required_bytes(), arenas + 100 * kMiB);
}

TEST(Plan, TwentySevenBQ5FitsA24GBCardAtLongContextWithQ3Kv) {
  // README: ~17 GB of weights, "fits a 24 GB card with long context".
  PlanOptions o;
  o.context_length = 65536;
  o.kv = KvConfig::uniform(3);
  const Plan p = make_plan(model("27B"), gpu_with_free(24564 * kMiB, 8), o);
  EXPECT_TRUE(p.fits()) << p.required_bytes() / kMiB << " MiB";
  // ... and not on a 16 GB card even with the embedding in host memory: the Q5 Linears alone
  // are 16.4 GB (performance.md).
  EXPECT_FALSE(make_plan(model("27B"), gpu_with_free(16376 * kMiB, 8), o).fits());
}

TEST(Plan, AutoPlacesTheEmbeddingOnTheDeviceOnlyWhenItFits) {
  PlanOptions o;
  o.context_length = 8192;
  PlanOptions dev = o;
  dev.embedding = EmbeddingPlacement::Device;
  const uint64_t with_embedding = make_plan(model("0.8B"), gpu_with_free(1ull << 40), dev).required_bytes();
  EXPECT_EQ(make_plan(model("0.8B"), gpu_with_free(with_embedding), o).embedding, EmbeddingPlacement::Device);
  EXPECT_EQ(make_plan(model("0.8B"), gpu_with_free(with_embedding - 1), o).embedding, EmbeddingPlacement::Host);
}

TEST(Fit, VerdictBoundaries) {
  PlanOptions o;
  o.context_length = 32768;
  o.kv = KvConfig::uniform(16);
  o.embedding = EmbeddingPlacement::Host;
  const uint64_t need = make_plan(model("9B"), gpu_with_free(1ull << 40), o).required_bytes();

  FitReport exact = check_fit(model("9B"), gpu_with_free(need), o);
  EXPECT_EQ(exact.verdict, Verdict::Fits);
  EXPECT_GE(exact.max_context, 32768);

  FitReport short_by_one = check_fit(model("9B"), gpu_with_free(need - 1), o);
  EXPECT_EQ(short_by_one.verdict, Verdict::FitsReducedContext);
  EXPECT_LT(short_by_one.max_context, 32768);
  EXPECT_GE(short_by_one.max_context, 2048);

  PlanOptions at_min = o;
  at_min.context_length = 2048;
  const uint64_t need_min = make_plan(model("9B"), gpu_with_free(1ull << 40), at_min).required_bytes();
  FitReport too_small = check_fit(model("9B"), gpu_with_free(need_min - 1), o);
  EXPECT_EQ(too_small.verdict, Verdict::DoesNotFit);
  EXPECT_LT(too_small.max_context, 2048);

  EXPECT_EQ(check_fit(model("9B"), gpu_with_free(64 * kMiB), o).max_context, 0);
}

TEST(Fit, LargestContextIsExact) {
  for (const char* size : {"27B", "2B"}) {
    for (const KvConfig& kv : standard_kv_modes()) {
      PlanOptions o;
      o.kv = kv;
      o.context_length = 50000;
      o.embedding = EmbeddingPlacement::Device;  // Auto would move it to the host and gain room
      // Exactly the memory 50,000 tokens need: the answer is 50,000 plus what the 2 MiB
      // rounding of the KV arena leaves room for.
      const GpuSpec g = gpu_with_free(make_plan(model(size), gpu_with_free(1ull << 40), o).required_bytes());
      const int64_t best = largest_context(model(size), g, o);
      const uint64_t per_token = kv_bytes_per_token(model(size).config, kv);
      EXPECT_GE(best, 50000) << size;
      EXPECT_LE(best, 50000 + int64_t(kAllocationGranularity / per_token)) << size;
      o.context_length = best;
      EXPECT_TRUE(make_plan(model(size), g, o).fits());
      o.context_length = best + 1;
      EXPECT_FALSE(make_plan(model(size), g, o).fits());
    }
  }
}

TEST(Fit, LargestContextGrowsWithMemoryAndShrinksWithKvBits) {
  PlanOptions o;
  for (const KvConfig& kv : standard_kv_modes()) {
    o.kv = kv;
    int64_t previous = 0;
    for (uint64_t gib = 15; gib <= 24; gib += 3) {
      const int64_t ctx = largest_context(model("27B"), gpu_with_free(gib * kGiB), o);
      EXPECT_GE(ctx, previous) << gib << " GiB";
      previous = ctx;
    }
  }
  // Extra free memory buys about (extra / bytes per token) more tokens.
  o.kv = KvConfig::uniform(3);
  const int64_t a = largest_context(model("27B"), gpu_with_free(18 * kGiB), o);
  const int64_t b = largest_context(model("27B"), gpu_with_free(19 * kGiB), o);
  ASSERT_GT(a, 0);
  ASSERT_LT(b, 262144);
  EXPECT_NEAR(double(b - a), double(kGiB) / 12544.0, 2 * kAllocationGranularity / 12544.0 + 1);

  const FitReport r = check_fit(model("27B"), gpu_with_free(18 * kGiB), o);
  ASSERT_EQ(r.per_mode.size(), 4u);
  for (size_t i = 1; i < r.per_mode.size(); ++i)
    EXPECT_GE(r.per_mode[i].max_context, r.per_mode[i - 1].max_context) << kv_bytes_per_token(model("27B").config, r.per_mode[i].kv);
}

TEST(Fit, CapsAtTheModelsMaximumContext) {
  PlanOptions o;
  const int64_t ctx = largest_context(model("0.8B"), gpu_with_free(1ull << 40), o);
  EXPECT_EQ(ctx, 262144);
}

TEST(Fit, CurveRisesByTheKvBytesOfEachStep) {
  PlanOptions o;
  o.embedding = EmbeddingPlacement::Host;
  const auto curve = requirement_curve(model("9B"), gpu_with_free(1ull << 40), o, KvConfig::uniform(4), 9);
  ASSERT_EQ(curve.size(), 9u);
  EXPECT_EQ(curve.front().context, 1);
  EXPECT_EQ(curve.back().context, 262144);
  const uint64_t per_token = 8 * 4 * 2 * 130;  // 9B: 8 full layers x 4 KV heads x (K + V at q4)
  for (size_t i = 2; i < curve.size(); ++i) {  // from 32,768 tokens on, only the KV cache grows
    const double step = double(curve[i].required_bytes) - double(curve[i - 1].required_bytes);
    EXPECT_NEAR(step, double(curve[i].context - curve[i - 1].context) * per_token, 4.0 * kMiB) << i;
  }
}

TEST(Fit, NonStandardKvModeIsReportedToo) {
  PlanOptions o;
  o.kv = {16, 4};
  const FitReport r = check_fit(model("2B"), gpu_with_free(8 * kGiB), o);
  ASSERT_EQ(r.per_mode.size(), 5u);
  EXPECT_EQ(r.per_mode.back().kv, (KvConfig{16, 4}));
  EXPECT_EQ(r.per_mode.back().max_context, r.max_context);
}

TEST(Fit, BestQuantizationThatFits) {
  PlanOptions o;
  o.context_length = 8192;
  o.kv = KvConfig::uniform(4);
  o.embedding = EmbeddingPlacement::Host;
  auto need = [&](int bits) { return make_plan(model("27B", bits), gpu_with_free(1ull << 40), o).required_bytes(); };
  EXPECT_GT(need(5), need(4));
  EXPECT_GT(need(4), need(3));
  EXPECT_EQ(check_fit(model("27B"), gpu_with_free(need(5)), o).best_weight_bits, 5);
  EXPECT_EQ(check_fit(model("27B"), gpu_with_free(need(5) - 1), o).best_weight_bits, 4);
  EXPECT_EQ(check_fit(model("27B"), gpu_with_free(need(3)), o).best_weight_bits, 3);
  EXPECT_EQ(check_fit(model("27B"), gpu_with_free(need(3) - 1), o).best_weight_bits, std::nullopt);

  ModelSpec repo = model("27B", 4);
  repo.prequantized = true;  // an HLWQ repo cannot be requantized before download
  EXPECT_EQ(check_fit(repo, gpu_with_free(need(4)), o).best_weight_bits, 4);
  EXPECT_EQ(check_fit(repo, gpu_with_free(need(4) - 1), o).best_weight_bits, std::nullopt);
}

TEST(Scratch, GrowsWithThePrefillChunkUpToTheContext) {
  PlanOptions o;
  o.prefill_chunk = 512;
  o.context_length = 128;
  const Plan small = make_plan(model("27B"), gpu_with_free(1ull << 40), o);
  o.context_length = 100000;
  const Plan big = make_plan(model("27B"), gpu_with_free(1ull << 40), o);
  EXPECT_LT(small.arena(ArenaId::Scratch).bytes, big.arena(ArenaId::Scratch).bytes);
  // The prefill residual stream holds chunk x hidden fp32 (decode's one row); the expanded
  // weight slice is capped at 2^26 BF16 values (MLP gate+up alone is 2 x 17408 x 5120).
  EXPECT_EQ(big.arena(ArenaId::Scratch).at("prefill_x").bytes, 512ull * 5120 * 4);
  EXPECT_EQ(small.arena(ArenaId::Scratch).at("prefill_x").bytes, 128ull * 5120 * 4);
  EXPECT_EQ(big.arena(ArenaId::Scratch).at("hidden").bytes, 5120ull * 4);
  EXPECT_EQ(big.arena(ArenaId::Scratch).at("prefill_weights").bytes, (1ull << 26) * 2);
  // GEMM inputs: the widest Linear input (intermediate 17408) in BF16; outputs: gate+up fp32.
  EXPECT_EQ(big.arena(ArenaId::Scratch).at("prefill_act").bytes, 512ull * 17408 * 2);
  EXPECT_EQ(big.arena(ArenaId::Scratch).at("prefill_proj").bytes, 512ull * 2 * 17408 * 4);
  // Split-K attention: one split per 256 tokens, at most 512 / kv_heads = 128 for the 27B.
  EXPECT_EQ(small.arena(ArenaId::Scratch).at("attn_partials").bytes, 24ull * 1 * 258 * 4);
  EXPECT_EQ(big.arena(ArenaId::Scratch).at("attn_partials").bytes, 24ull * 128 * 258 * 4);
}

TEST(Plan, RejectsBadInputsNamingThem) {
  auto kind_of = [](auto&& fn) {
    try {
      fn();
    } catch (const Error& e) {
      return e.kind();
    }
    return ErrorKind::Internal;
  };
  const GpuSpec g = gpu_with_free(1ull << 40);
  PlanOptions o;
  o.context_length = 0;
  EXPECT_EQ(kind_of([&] { make_plan(model("2B"), g, o); }), ErrorKind::InvalidArgument);
  o = {};
  o.kv = {6, 6};
  EXPECT_EQ(kind_of([&] { make_plan(model("2B"), g, o); }), ErrorKind::InvalidArgument);
  EXPECT_EQ(kind_of([&] { make_plan(model("2B", 9), g, {}); }), ErrorKind::InvalidArgument);
  ModelSpec broken = model("2B");
  broken.config.layer_types.pop_back();
  EXPECT_EQ(kind_of([&] { make_plan(broken, g, {}); }), ErrorKind::BadConfig);
  broken = model("2B");
  broken.config.vocab_size = 0;
  try {
    make_plan(broken, g, {});
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("vocab_size"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace hlwq::planner
