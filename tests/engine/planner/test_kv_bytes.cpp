// KV bytes per token for every Qwen3.5 size and KV mode, computed by hand from the spec:
// full-attention layers = layers / 4, vector of D = 256 values is 512 bytes at fp16 and
// 256*bits/8 + 2 bytes at Qn (hlwq-format.md section 5).
#include <gtest/gtest.h>

#include "core/error.h"
#include "planner/vram_plan.h"
#include "qwen35_sizes.h"

namespace hlwq::planner {
namespace {

struct KvCase {
  const char* size;
  int k_bits, v_bits;
  uint64_t bytes_per_token;
};

// layers x kv_heads x (K bytes + V bytes); fp16 512, q4 130, q3 98, q2 66.
const KvCase kCases[] = {
    {"27B", 16, 16, 16 * 4 * (512 + 512)},  // 65,536 (qwen35.md: 64 KiB per token)
    {"27B", 4, 4, 16 * 4 * (130 + 130)},    // 16,640
    {"27B", 3, 3, 16 * 2 * 4 * (256 * 3 / 8 + 2)},  // 12,544, the example
    {"27B", 2, 2, 16 * 4 * (66 + 66)},      // 8,448
    {"27B", 16, 4, 16 * 4 * (512 + 130)},   // keys kept at fp16, values at q4
    {"27B", 4, 2, 16 * 4 * (130 + 66)},
    {"27B", 5, 5, 16 * 4 * (162 + 162)},    // q5: 256*5/8 + 2 = 162
    {"9B", 16, 16, 8 * 4 * 1024},  {"9B", 4, 4, 8 * 4 * 260},  {"9B", 3, 3, 8 * 4 * 196},  {"9B", 2, 2, 8 * 4 * 132},
    {"4B", 16, 16, 8 * 4 * 1024},  {"4B", 4, 4, 8 * 4 * 260},  {"4B", 3, 3, 8 * 4 * 196},  {"4B", 2, 2, 8 * 4 * 132},
    {"2B", 16, 16, 6 * 2 * 1024},  {"2B", 4, 4, 6 * 2 * 260},  {"2B", 3, 3, 6 * 2 * 196},  {"2B", 2, 2, 6 * 2 * 132},
    {"0.8B", 16, 16, 6 * 2 * 1024}, {"0.8B", 4, 4, 6 * 2 * 260}, {"0.8B", 3, 3, 6 * 2 * 196}, {"0.8B", 2, 2, 6 * 2 * 132},
};

TEST(KvBytes, PerTokenForEverySizeAndMode) {
  for (const KvCase& c : kCases) {
    const auto config = test::make_config(test::spec_size(c.size));
    EXPECT_EQ(kv_bytes_per_token(config, {c.k_bits, c.v_bits}), c.bytes_per_token)
        << c.size << " K" << c.k_bits << " V" << c.v_bits;
  }
}

TEST(KvBytes, SpecExamples) {
  const auto c27 = test::make_config(test::spec_size("27B"));
  EXPECT_EQ(kv_bytes_per_token(c27, KvConfig::uniform(16)), 65536u);
  EXPECT_EQ(kv_bytes_per_token(c27, KvConfig::uniform(3)), 12544u);
  // hlwq-format.md 5: compression against fp16 for D = 256 is 3.94x / 5.22x / 7.76x.
  EXPECT_NEAR(512.0 / double(kv_vector_bytes(256, 4)), 3.94, 0.005);
  EXPECT_NEAR(512.0 / double(kv_vector_bytes(256, 3)), 5.22, 0.005);
  EXPECT_NEAR(512.0 / double(kv_vector_bytes(256, 2)), 7.76, 0.005);
}

TEST(KvBytes, ArenaHoldsTheWholeContext) {
  for (const KvCase& c : kCases) {
    ModelSpec model{test::make_config(test::spec_size(c.size))};
    PlanOptions o;
    o.context_length = 4097;  // odd on purpose: no rounding may hide in the per-token size
    o.kv = {c.k_bits, c.v_bits};
    const Plan plan = make_plan(model, GpuSpec{"big", 1ull << 40, 1ull << 40}, o);
    uint64_t sum = 0;
    for (const Buffer& b : plan.arena(ArenaId::KvCache).buffers) sum += b.bytes;
    EXPECT_EQ(sum, 4097u * c.bytes_per_token) << c.size;
    EXPECT_EQ(plan.kv_bytes_per_token, c.bytes_per_token);
  }
}

TEST(KvBytes, RejectsUnsupportedWidths) {
  const auto config = test::make_config(test::spec_size("0.8B"));
  for (int bits : {0, 1, 6, 8, 15, 64}) {
    try {
      kv_bytes_per_token(config, {bits, 16});
      ADD_FAILURE() << "accepted K bits " << bits;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument);
      EXPECT_NE(std::string(e.what()).find(std::to_string(bits)), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace hlwq::planner
