// Weight, embedding and recurrent-state bytes per Qwen3.5 size, counted independently: the
// Linear parameters of each layer kind written out by hand from qwen35.md sections 3-4, then
// bits/8 bytes per code and one fp16 norm per 128 weights (every input width is a multiple
// of 128 for these sizes); the small dense vectors are held as fp32 on the device.
#include <gtest/gtest.h>

#include "core/error.h"
#include "planner/vram_plan.h"
#include "qwen35_sizes.h"

namespace hlwq::planner {
namespace {

struct Count {
  uint64_t linear_params = 0;  // body + lm_head
  uint64_t linear_count = 0;
  uint64_t dense_values = 0;   // norms, conv1d, A_log, dt_bias (fp32 on the device)
};

Count count_by_hand(const test::Size& s) {
  const uint64_t H = s.hidden, I = s.intermediate, hd = 256, dk = 128, dv = 128;
  const uint64_t full = s.layers / 4, linear = s.layers - full;
  const uint64_t qkv = 2 * s.hk * dk + s.hv * dv;
  const uint64_t mlp = 3 * H * I;
  const uint64_t attention = H * (2 * s.heads * hd) + 2 * H * (s.kv_heads * hd) + (s.heads * hd) * H;
  const uint64_t deltanet = H * qkv + H * (s.hv * dv) + 2 * H * s.hv + (s.hv * dv) * H;
  Count c;
  c.linear_params = full * (attention + mlp) + linear * (deltanet + mlp) + 248320ull * H;
  c.linear_count = full * 7 + linear * 8 + 1;
  c.dense_values = s.layers * 2 * H                           // input / post-attention norms
                   + full * 2 * hd                            // q_norm, k_norm
                   + linear * (qkv * 4 + 2 * s.hv + dv)       // conv1d, A_log, dt_bias, norm
                   + H;                                       // final norm
  return c;
}

uint64_t sum_buffers(const Arena& a) {
  uint64_t sum = 0;
  for (const Buffer& b : a.buffers) sum += b.bytes;
  return sum;
}

Plan plan_for(const test::Size& s, int bits) {
  ModelSpec model{test::make_config(s), bits};
  PlanOptions o;
  o.embedding = EmbeddingPlacement::Device;
  return make_plan(model, GpuSpec{"big", 1ull << 40, 1ull << 40}, o);
}

TEST(Weights, BytesMatchAnIndependentCountForEverySizeAndWidth) {
  for (const test::Size& s : test::spec_sizes()) {
    const Count c = count_by_hand(s);
    for (int bits : {5, 4, 3, 2}) {
      const Plan plan = plan_for(s, bits);
      const Arena& w = plan.arena(ArenaId::Weights);
      // Codebooks (hlwq-format.md 2): 2^bits centroids for the weights, 32+16+8+4 for the KV widths.
      const uint64_t codebooks = ((1ull << bits) + 32 + 16 + 8 + 4) * 4;
      const uint64_t expected = c.linear_params * bits / 8 + c.linear_params / 128 * 2 + c.dense_values * 4 + codebooks;
      EXPECT_EQ(sum_buffers(w), expected) << s.name << " Q" << bits;
      // Alignment may add at most 255 bytes per buffer and never overlaps.
      EXPECT_GE(w.bytes, expected);
      EXPECT_LT(w.bytes, expected + 256 * w.buffers.size());
      uint64_t linears = 0;
      for (const Buffer& b : w.buffers) linears += b.name.ends_with("__packed");
      EXPECT_EQ(linears, c.linear_count) << s.name;
    }
  }
}

// A mixed-width repo: each named Linear's codes at its own width, one codebook per width.
TEST(Weights, MixedWidthsPlanEachLinearAtItsOwnBits) {
  const test::Size& s = test::spec_size("0.8B");
  ModelSpec model{test::make_config(s), 5};
  const std::string up = "model.language_model.layers.0.mlp.up_proj.weight";
  const std::string gate = "model.language_model.layers.0.mlp.gate_proj.weight";
  model.linear_bits = {{"lm_head.weight", 3}, {up, 4}, {gate, 4}};
  EXPECT_EQ(model.bits_of(up), 4);
  EXPECT_EQ(model.bits_of("model.language_model.layers.0.mlp.down_proj.weight"), 5);
  EXPECT_EQ(model.widths(), (std::vector<int>{3, 4, 5}));
  PlanOptions o;
  const Plan plan = make_plan(model, GpuSpec{"big", 1ull << 40, 1ull << 40}, o);
  const Arena& w = plan.arena(ArenaId::Weights);
  const uint64_t H = s.hidden, I = s.intermediate;
  EXPECT_EQ(w.at("lm_head.weight__packed").bytes, 248320ull * H * 3 / 8);
  EXPECT_EQ(w.at(up + "__packed").bytes, I * H * 4 / 8);
  EXPECT_EQ(w.at(up + "__norms").bytes, I * H / 128 * 2);
  EXPECT_EQ(w.at("model.language_model.layers.0.mlp.down_proj.weight__packed").bytes, H * I * 5 / 8);
  for (int bits : {3, 4, 5}) EXPECT_EQ(w.at("codebook.q" + std::to_string(bits)).bytes, (4u << bits)) << bits;
  // Against the uniform Q5 plan: exactly the bits saved on the three named tensors, plus the two tables.
  const Plan q5 = plan_for(s, 5);
  const uint64_t saved = 248320ull * H * 2 / 8 + 2 * I * H / 8;
  EXPECT_EQ(sum_buffers(q5.arena(ArenaId::Weights)) - sum_buffers(w) + (8 + 16) * 4, saved);
  model.linear_bits[up] = 9;
  EXPECT_THROW(make_plan(model, GpuSpec{"big", 1ull << 40, 1ull << 40}, o), Error);
}

TEST(Weights, TwentySevenBMatchesThePerformanceSpec) {
  // performance.md: body Linears 24.35 G params + lm_head 1.27 G; 497 quantized Linears
  // (hlwq-format.md 4.4); at 5.125 bits per weight about 16.4 GB.
  const Count c = count_by_hand(test::spec_size("27B"));
  EXPECT_NEAR(double(c.linear_params - 248320ull * 5120), 24.35e9, 0.01e9);
  EXPECT_EQ(c.linear_count, 497u);
  const Plan plan = plan_for(test::spec_size("27B"), 5);
  uint64_t quantized = 0;
  for (const Buffer& b : plan.arena(ArenaId::Weights).buffers)
    if (b.name.ends_with("__packed") || b.name.ends_with("__norms")) quantized += b.bytes;
  EXPECT_NEAR(double(quantized), 16.4e9, 0.05e9);
}

TEST(Weights, BuffersAreAlignedAndDisjoint) {
  const Plan plan = plan_for(test::spec_size("0.8B"), 5);
  for (const Arena& a : plan.arenas) {
    uint64_t end = 0;
    for (const Buffer& b : a.buffers) {
      EXPECT_EQ(b.offset % kBufferAlignment, 0u) << b.name;
      EXPECT_GE(b.offset, end) << b.name;
      end = b.offset + b.bytes;
    }
    EXPECT_EQ(a.bytes, end) << to_string(a.id);
    EXPECT_EQ(a.device_bytes() % kAllocationGranularity, 0u);
    EXPECT_GE(a.device_bytes(), a.bytes);
    EXPECT_LT(a.device_bytes(), a.bytes + kAllocationGranularity);
  }
}

TEST(Weights, UsesTheOnDiskTensorNames) {
  const Plan plan = plan_for(test::spec_size("27B"), 5);
  const Arena& w = plan.arena(ArenaId::Weights);
  // hlwq-format.md 4.1 names; layer 3 is the first full-attention layer.
  const uint64_t rows = 2 * 24 * 256, blocks = 5120 / 128;
  EXPECT_EQ(w.at("model.language_model.layers.3.self_attn.q_proj.weight__packed").bytes, rows * blocks * 80);
  EXPECT_EQ(w.at("model.language_model.layers.3.self_attn.q_proj.weight__norms").bytes, rows * blocks * 2);
  EXPECT_EQ(w.at("model.language_model.layers.0.linear_attn.conv1d.weight").bytes, 10240u * 4 * 4);
  EXPECT_EQ(w.at("lm_head.weight__packed").bytes, 248320ull * 5120 * 5 / 8);
  EXPECT_EQ(w.find("model.language_model.layers.3.linear_attn.in_proj_qkv.weight__packed"), nullptr);
  EXPECT_THROW(w.at("no.such.tensor"), Error);
}

TEST(Embedding, BytesAndPlacement) {
  for (const test::Size& s : test::spec_sizes()) {
    const Plan plan = plan_for(s, 5);
    EXPECT_EQ(plan.arena(ArenaId::Embedding).bytes, 248320ull * s.hidden * 2) << s.name;
    EXPECT_EQ(plan.host_bytes, 0u);
  }
  ModelSpec model{test::make_config(test::spec_size("4B"))};
  PlanOptions o;
  o.embedding = EmbeddingPlacement::Host;
  const Plan host = make_plan(model, GpuSpec{"big", 1ull << 40, 1ull << 40}, o);
  EXPECT_TRUE(host.arena(ArenaId::Embedding).buffers.empty());
  EXPECT_EQ(host.arena(ArenaId::Embedding).device_bytes(), 0u);
  EXPECT_EQ(host.host_bytes, 248320ull * 2560 * 2);
}

TEST(RecurrentState, DeltaNetStateAndConvState) {
  for (const test::Size& s : test::spec_sizes()) {
    const Plan plan = plan_for(s, 5);
    const uint64_t linear_layers = s.layers - s.layers / 4;
    const uint64_t state = linear_layers * s.hv * 128 * 128 * 4;
    const uint64_t conv = linear_layers * 4 * (2 * s.hk * 128 + s.hv * 128) * 4;  // ring of kernel (4) rows
    // Twice: the live state and the snapshot the backend rewinds a turn to.
    EXPECT_EQ(sum_buffers(plan.arena(ArenaId::RecurrentState)), 2 * (state + conv)) << s.name;
    EXPECT_EQ(plan.arena(ArenaId::RecurrentState).at("snapshot").bytes, state + conv) << s.name;
  }
  // qwen35.md 4: 27B state is 48 layers x 48 x 128 x 128 fp32 = 144 MiB.
  const Plan plan = plan_for(test::spec_size("27B"), 5);
  uint64_t state = 0;
  for (const Buffer& b : plan.arena(ArenaId::RecurrentState).buffers)
    if (b.name.ends_with(".state")) state += b.bytes;
  EXPECT_EQ(state, 144 * kMiB);
}

TEST(Logits, VocabTimesRowsTimesFour) {
  ModelSpec model{test::make_config(test::spec_size("9B"))};
  for (int rows : {1, 8}) {
    PlanOptions o;
    o.logits_rows = rows;
    const Plan plan = make_plan(model, GpuSpec{"big", 1ull << 40, 1ull << 40}, o);
    EXPECT_EQ(plan.arena(ArenaId::Logits).at("logits").bytes, 248320ull * rows * 4);
  }
}

TEST(Runtime, CublasWorkspaceFollowsTheArchitecture) {
  ModelSpec model{test::make_config(test::spec_size("0.8B"))};
  GpuSpec ampere{"A", 1ull << 36, 1ull << 36, 8, 6};
  GpuSpec hopper{"H", 1ull << 36, 1ull << 36, 9, 0};
  EXPECT_EQ(make_plan(model, ampere, {}).arena(ArenaId::CublasWorkspace).bytes, 4 * kMiB);
  EXPECT_EQ(make_plan(model, hopper, {}).arena(ArenaId::CublasWorkspace).bytes, 32 * kMiB);
}

}  // namespace
}  // namespace hlwq::planner
