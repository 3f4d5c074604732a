// The device-arena allocator (kernels/device_arenas.h): the carving rules on fake addresses
// (no GPU needed), the backend's own buffer list replayed against the planner's arenas for
// every Qwen3.5 size, and on a GPU: the backend allocates exactly the plan, once, at load.
#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "cuda_context_probe.h"
#include "device_arenas.h"
#include "formats/weights.h"
#include "planner/weight_inventory.h"
#include "gpu_test_util.h"
#include "kv_cache.h"
#include "q_matrix.h"
#include "qwen35_gpu.h"
#include "qwen35_plan.h"
#include "qwen35_prefill.h"
#include "sampling.h"

namespace hlwq::cuda {
namespace {

using planner::Arena;
using planner::ArenaId;
using planner::Plan;

std::byte* fake_base() { return reinterpret_cast<std::byte*>(uintptr_t(1) << 40); }

Arena toy_arena() {
  Arena a;
  a.id = ArenaId::Scratch;
  a.buffers = {{"a", 0, 100}, {"b", 256, 1000}, {"c", 1280, 8}};
  a.bytes = 1288;
  return a;
}

template <typename F>
std::string internal_error(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Internal) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error thrown";
  return "";
}

TEST(ArenaCarver, NamedBuffersSitAtThePlansOffsets) {
  ArenaCarver c(toy_arena(), fake_base(), 4096);
  EXPECT_EQ(c.named("b", 1000).get<std::byte>(), fake_base() + 256);
  EXPECT_EQ(c.named("b", 10).bytes(), 10u);
  EXPECT_EQ(c.named("c").get<std::byte>(), fake_base() + 1280);
  EXPECT_EQ(c.named("c").bytes(), 8u);
  EXPECT_FALSE(c.named("a").owned());  // a view: the arena frees the memory, not the buffer
}

TEST(ArenaCarver, AskingMoreThanPlannedNamesArenaAndBuffer) {
  ArenaCarver c(toy_arena(), fake_base(), 4096);
  const std::string more = internal_error([&] { c.named("b", 1001); });
  EXPECT_NE(more.find("scratch"), std::string::npos) << more;
  EXPECT_NE(more.find("'b'"), std::string::npos) << more;
  EXPECT_NE(more.find("1001"), std::string::npos) << more;
  const std::string missing = internal_error([&] { c.named("zz", 1); });
  EXPECT_NE(missing.find("zz"), std::string::npos) << missing;
}

TEST(ArenaCarver, BumpAlignsEveryRegionAndStopsAtThePlannedBytes) {
  ArenaCarver c(toy_arena(), fake_base(), 4096);
  EXPECT_EQ(c.bump("x", 1).get<std::byte>(), fake_base());
  EXPECT_EQ(c.bump("y", 300).get<std::byte>(), fake_base() + 256);
  EXPECT_EQ(c.bumped(), 556u);
  EXPECT_EQ(c.bump("z", 1288 - 768).get<std::byte>(), fake_base() + 768);  // ends exactly at bytes
  const std::string full = internal_error([&] { c.bump("one more", 1); });
  EXPECT_NE(full.find("scratch"), std::string::npos) << full;
  EXPECT_NE(full.find("one more"), std::string::npos) << full;
  // The allocation (4096) is larger than the plan (1288): the plan, not the page, is the limit.
}

TEST(ArenaCarver, ALayoutLargerThanTheAllocationIsRefused) {
  internal_error([] { ArenaCarver(toy_arena(), fake_base(), 1287); });
  internal_error([] { ArenaCarver(toy_arena(), nullptr, 4096); });
  ArenaCarver empty(Arena{ArenaId::Embedding, {}, 0}, nullptr, 0);  // an empty arena needs no memory
  EXPECT_EQ(empty.layout().bytes, 0u);
}

// The plan for a preset on a made-up 1 TiB device (no GPU involved).
Plan preset_plan(const std::string& size, int64_t ctx, KvConfig kv) {
  planner::PlanOptions o;
  o.context_length = ctx;
  o.kv = kv;
  o.embedding = planner::EmbeddingPlacement::Device;
  planner::GpuSpec gpu{"test", uint64_t(1) << 40, uint64_t(1) << 40, 9, 0};
  return planner::make_plan({config_for(Qwen35Dims::preset(size)), 5, true, size}, gpu, o);
}

// A width per Linear for the mixed-width cases: fused parts share one (the loader requires
// it), the rest vary by layer so every width meets every matrix shape.
planner::ModelSpec mixed_spec(const Qwen35Dims& d, const std::string& size) {
  planner::ModelSpec m{config_for(d), 5, true, size, {}};
  for (const planner::TensorShape& t : planner::weight_inventory(m.config)) {
    if (!t.linear || t.name == "lm_head.weight") continue;  // lm_head stays at weight_bits (5)
    const int layer = std::stoi(t.name.substr(t.name.find("layers.") + 7));
    const bool mlp = t.name.find("mlp.") != std::string::npos, out = t.name.find("o_proj") != std::string::npos ||
                                                                     t.name.find("out_proj") != std::string::npos;
    const bool down = t.name.find("down_proj") != std::string::npos;
    const int bits = 3 + (layer + (mlp ? 1 : 0) + (out || down ? 1 : 0)) % 3;
    if (bits != 5) m.linear_bits[t.name] = bits;
  }
  return m;
}

// The buffers Qwen35Gpu carves, in its order, with the sizes of its own code (fused matrices
// in the GEMV layout at their width, one vector block per layer, one codebook per width),
// written out here from qwen35.md section 1, for every size at Q5, Q4, Q3 and mixed widths.
TEST(ArenaCarver, TheBackendsWeightsFitThePlannedWeightsArena) {
  for (const char* size : {"27B", "9B", "4B", "2B", "0.8B"}) {
    for (int uniform : {5, 4, 3, 0}) {  // 0: mixed
      const Qwen35Dims d = Qwen35Dims::preset(size);
      planner::ModelSpec spec = uniform ? planner::ModelSpec{config_for(d), uniform, true, size, {}} : mixed_spec(d, size);
      planner::PlanOptions o;
      o.context_length = 4096;
      o.embedding = planner::EmbeddingPlacement::Device;
      const Plan plan = planner::make_plan(spec, {"test", uint64_t(1) << 40, uint64_t(1) << 40, 9, 0}, o);
      SCOPED_TRACE(std::string(size) + (uniform ? " Q" + std::to_string(uniform) : std::string(" mixed")));
      ArenaCarver w(plan.arena(ArenaId::Weights), fake_base(), plan.arena(ArenaId::Weights).device_bytes());
      const int conv_c = 2 * d.hk * 128 + d.hv * 128;
      uint64_t unaligned = 0;
      auto take = [&](const std::string& what, uint64_t bytes) {
        w.bump(what, bytes);
        unaligned += bytes;
      };
      std::set<int> widths;
      auto matrix = [&](const std::string& what, const std::string& first_part, int rows, int cols) {
        const int bits = spec.bits_of(first_part);
        widths.insert(bits);
        take(what, QMatrix::bytes_for(bits, rows, cols));
      };
      for (int l = 0; l < d.layers; ++l) {
        const std::string t = std::to_string(l), L = "model.language_model.layers." + t + ".";
        if (d.full_attention[l]) {
          matrix(t + " q/k/v", L + "self_attn.q_proj.weight", d.heads * 512 + 2 * d.kv_heads * 256, d.hidden);
          matrix(t + " o_proj", L + "self_attn.o_proj.weight", d.hidden, d.heads * 256);
          take(t + " vectors", (2 * uint64_t(d.hidden) + 512) * 4);
        } else {
          matrix(t + " in_proj", L + "linear_attn.in_proj_qkv.weight", conv_c + d.hv * 128 + 2 * d.hv, d.hidden);
          matrix(t + " out_proj", L + "linear_attn.out_proj.weight", d.hidden, d.hv * 128);
          take(t + " vectors", (2 * uint64_t(d.hidden) + uint64_t(conv_c) * 4 + 2 * d.hv + 128) * 4);
        }
        matrix(t + " gate/up", L + "mlp.gate_proj.weight", 2 * d.intermediate, d.hidden);
        matrix(t + " down", L + "mlp.down_proj.weight", d.hidden, d.intermediate);
      }
      take("final norm", uint64_t(d.hidden) * 4);
      matrix("lm_head", "lm_head.weight", d.vocab, d.hidden);
      for (int bits : widths) take("codebook q" + std::to_string(bits), (uint64_t(1) << bits) * 4);
      take("KV codebooks", (16 + 8 + 4 + 32) * 4);
      EXPECT_EQ(std::vector<int>(widths.begin(), widths.end()), spec.widths());
      if (!uniform) EXPECT_EQ(widths.size(), 3u);
      // The plan holds the same bytes split per file tensor: only alignment may separate them.
      EXPECT_LE(w.bumped(), plan.arena(ArenaId::Weights).bytes);
      EXPECT_LE(plan.arena(ArenaId::Weights).bytes - unaligned, plan.arena(ArenaId::Weights).buffers.size() * 256);
    }
  }
}

// A checkpoint's ModelSpec comes from its tensors: the most common width is weight_bits, the
// others are named; a tied lm_head is planned at the embedding's codes' width.
TEST(ArenaCarver, ACheckpointsSpecTakesEachLinearsWidthFromItsTensor) {
  const Qwen35Dims d = Qwen35Dims::preset("0.8B");
  const qwen35::Config c = config_for(d);
  const planner::ModelSpec want = mixed_spec(d, "0.8B");
  int n = 0;
  for (int tied = 0; tied < 2; ++tied) {
    WeightStore store;
    for (const planner::TensorShape& t : planner::weight_inventory(c)) {
      if (!t.linear) continue;
      QuantTensor q;
      q.name = t.name == "lm_head.weight" && tied ? planner::embedding_shape(c).name : t.name;
      q.rows = t.rows;
      q.cols = t.cols;
      q.bits = t.name == "lm_head.weight" ? 3 : want.bits_of(t.name);
      store.add_quant(std::move(q));
      n += !tied;
    }
    const planner::ModelSpec got = model_spec_for(c, store, "ck");
    for (const planner::TensorShape& t : planner::weight_inventory(c))
      if (t.linear) EXPECT_EQ(got.bits_of(t.name), t.name == "lm_head.weight" ? 3 : want.bits_of(t.name)) << t.name;
    EXPECT_EQ(got.widths(), (std::vector<int>{3, 4, 5}));
    EXPECT_LT(got.linear_bits.size(), size_t(n));  // the most common width is not listed
  }
}

TEST(ArenaCarver, DecodeBuffersAndTheKvCacheMatchThePlan) {
  for (const char* size : {"27B", "0.8B"}) {
    const Qwen35Dims d = Qwen35Dims::preset(size);
    for (int bits : {16, 5, 4, 3, 2}) {
      for (int ctx : {1, 4096, 131072}) {
        const Plan plan = preset_plan(size, ctx, KvConfig::uniform(bits));
        const Arena& kv = plan.arena(ArenaId::KvCache);
        ArenaCarver c(kv, fake_base(), kv.device_bytes());
        uint64_t sum = 0;
        for (int l = 0; l < d.layers; ++l) {
          if (!d.full_attention[l]) continue;
          for (const char* side : {".k", ".v"}) {
            const std::string name = "layers." + std::to_string(l) + side;
            EXPECT_EQ(kv.at(name).bytes, KvLayer::side_bytes(bits, d.kv_heads, ctx)) << size << " " << name;
            sum += c.named(name).bytes();
          }
        }
        // head_dim 256: bits/8 bytes a value, plus an fp16 norm per vector below 16 bits.
        const uint64_t per_vector = bits == 16 ? 512 : 32 * bits + 2;
        EXPECT_EQ(sum, uint64_t(d.layers / 4) * 2 * d.kv_heads * uint64_t(ctx) * per_vector);

        ArenaCarver s(plan.arena(ArenaId::Scratch), fake_base(), plan.arena(ArenaId::Scratch).device_bytes());
        s.named("hidden", uint64_t(d.hidden) * 4);
        s.named("proj", uint64_t(std::max(d.heads * 512 + 2 * d.kv_heads * 256, 2 * d.intermediate)) * 4);
        s.named("mlp_hidden", uint64_t(d.intermediate) * 4);
        s.named("q_rotated", uint64_t(d.heads) * 256 * 4);
        s.named("attn_partials", uint64_t(d.heads) * attention_default_splits(ctx, d.kv_heads) * 258 * 4);
      }
    }
  }
}

// The prefill engineer's scratch list (qwen35_prefill.h) and the GPU sampler's workspace
// (sampling.h) against the planner's buffers of the same role, for every size and chunk.
TEST(ArenaCarver, PrefillScratchAndSamplerWorkspaceFitTheirPlannedBuffers) {
  static const char* const plan_names[] = {"prefill_tokens", "prefill_x",   "prefill_act",   "prefill_proj",
                                           "prefill_mix",    "prefill_out", "prefill_gates", "prefill_weights"};
  for (const char* size : {"27B", "9B", "4B", "2B", "0.8B"}) {
    const Qwen35Dims d = Qwen35Dims::preset(size);
    for (int chunk : {1, 64, 512, 2048}) {
      planner::PlanOptions o;
      o.prefill_chunk = chunk;
      o.context_length = 8192;
      planner::GpuSpec gpu{"test", uint64_t(1) << 40, uint64_t(1) << 40, 9, 0};
      const Plan plan = planner::make_plan({config_for(d), 5, true, size}, gpu, o);
      const Arena& scratch = plan.arena(ArenaId::Scratch);
      const PrefillScratchSizes sizes = prefill_scratch_sizes(d, chunk);
      ASSERT_EQ(sizes.items.size(), std::size(plan_names));
      for (size_t i = 0; i < sizes.items.size(); ++i)
        EXPECT_EQ(scratch.at(plan_names[i]).bytes, sizes.items[i].bytes) << size << " chunk " << chunk << " " << plan_names[i];
    }
  }
  // The sampler's fixed parts dominate small vocabularies (the test fixtures have 320 entries).
  for (int vocab : {1, 320, 32000, 151936, 248320, 1 << 20}) {
    Qwen35Dims d = Qwen35Dims::preset("0.8B");
    d.vocab = vocab;
    planner::GpuSpec gpu{"test", uint64_t(1) << 40, uint64_t(1) << 40, 9, 0};
    const Plan plan = planner::make_plan({config_for(d), 5, true, "v"}, gpu, {});
    EXPECT_LE(GpuSampler::workspace_bytes(vocab), plan.arena(ArenaId::Logits).at("sampler").bytes) << vocab;
    EXPECT_LE(argmax_scratch_bytes(vocab), plan.arena(ArenaId::Logits).at("argmax").bytes) << vocab;
  }
}

// --- on a GPU --------------------------------------------------------------------------

uint64_t free_bytes() {
  size_t f = 0, t = 0;
  check(cudaMemGetInfo(&f, &t), "cudaMemGetInfo");
  return f;
}

TEST(DeviceArenas, TheSyntheticModelAllocatesExactlyThePlanOnceAtLoad) {
  HLWQ_REQUIRE_GPU();
  const Qwen35Dims d = Qwen35Dims::preset("0.8B");
  planner::PlanOptions o;
  o.context_length = 4096;
  o.kv = KvConfig::uniform(4);
  o.embedding = planner::EmbeddingPlacement::Device;
  cudaStream_t s = nullptr;
  check(cudaStreamCreate(&s), "cudaStreamCreate");
  const uint64_t f0 = free_bytes();
  const Plan plan = plan_for_device(model_spec_for(d, "0.8B"), o);
  auto model = Qwen35Gpu::synthetic(d, 7, plan);
  const uint64_t f1 = free_bytes();
  EXPECT_EQ(model->device_bytes_allocated(), plan.allocated_bytes());
  // cudaMemGetInfo moves in 2 MiB pages; the arenas are whole pages, so the drop is exact
  // up to the code of kernels loaded lazily on their first launch (CUDA 12+ lazy loading).
  EXPECT_NEAR(double(f0 - f1), double(plan.allocated_bytes()), 32.0 * planner::kMiB);

  // Decode and rewind state: no allocation after load.
  model->fake_history(1000, 3);
  model->enqueue_step(s);
  for (int i = 0; i < 3; ++i) model->step_graph(s, 1001 + i);
  std::vector<DeviceBuffer> snap;
  model->save_recurrent_state(snap);
  model->load_recurrent_state(snap);
  check(cudaStreamSynchronize(s), "decode");
  const uint64_t f2 = free_bytes();
  EXPECT_LE(f1 - f2, 32 * planner::kMiB) << "decode allocated device memory after load (beyond lazily loaded code)";
  std::printf("free after load minus free after decode: %.1f MiB (kernel code, graphs)\n", double(f1 - f2) / planner::kMiB);
  // A narrower KV mode gives its VRAM back (a user switches to Q2 to free memory), the same
  // size again re-carves in place, and the planned mode comes back to the planned bytes.
  model->allocate_cache(4096, 2, 2);
  const uint64_t f3 = free_bytes();
  EXPECT_EQ(model->device_bytes_allocated(), model->plan().allocated_bytes());
  ASSERT_LT(model->device_bytes_allocated(), plan.allocated_bytes());
  EXPECT_NEAR(double(f3 - f2), double(plan.allocated_bytes() - model->device_bytes_allocated()), 4.0 * planner::kMiB);
  model->allocate_cache(4096, 2, 2);
  EXPECT_EQ(free_bytes(), f3) << "re-laying a cache of the same size allocated";
  model->allocate_cache(4096, 4, 4);
  EXPECT_EQ(model->device_bytes_allocated(), plan.allocated_bytes());
  EXPECT_NEAR(double(free_bytes()), double(f2), 4.0 * planner::kMiB);
  // Larger than planned: the kv_cache arena grows, checked against free memory first.
  model->allocate_cache(65536, 16, 16);
  EXPECT_GT(model->device_bytes_allocated(), plan.allocated_bytes());
  EXPECT_EQ(model->plan().arena(ArenaId::KvCache).bytes, uint64_t(6) * 2 * 2 * 65536 * 512);
  model.reset();
  cudaStreamDestroy(s);
}

// Q4 and Q3 synthetic models: the plan's narrower weights arena holds every matrix at that
// width, each pointing at the one codebook of its width, and nothing else is allocated.
TEST(DeviceArenas, SyntheticQ4AndQ3ModelsAllocateTheirPlan) {
  HLWQ_REQUIRE_GPU();
  planner::PlanOptions o;
  o.context_length = 1024;
  o.embedding = planner::EmbeddingPlacement::Device;
  uint64_t q5_weights = 0;
  for (int bits : {5, 4, 3}) {
    Qwen35Dims d = Qwen35Dims::preset("0.8B");
    d.weight_bits = bits;
    const Plan plan = plan_for_device(model_spec_for(d, "0.8B"), o);
    auto model = Qwen35Gpu::synthetic(d, 7, plan);
    EXPECT_EQ(model->device_bytes_allocated(), plan.allocated_bytes()) << bits;
    const uint64_t weights = plan.arena(ArenaId::Weights).bytes;
    if (bits == 5) q5_weights = weights;
    else EXPECT_LT(weights, q5_weights) << bits;
    for (int b : {3, 4, 5}) EXPECT_EQ(model->codebook_dev(b) != nullptr, b == bits) << bits << " table " << b;
    for (const LayerWeights& l : model->layers())
      for (const QWeight* w : {&l.in_proj, &l.out_proj, &l.gate_up, &l.down}) {
        EXPECT_EQ(w->m.bits, bits);
        EXPECT_EQ(w->codebook, model->codebook_dev(bits));
      }
  }
}

// The backend's context-cost reading (NVML, this process only) is plausible where NVML sees
// this process: at least the context itself, less than the whole card.
TEST(DeviceArenas, NvmlSeesThisProcessesContext) {
  HLWQ_REQUIRE_GPU();
  check(cudaFree(nullptr), "creating the context");
  const std::optional<uint64_t> bytes = this_process_device_bytes();
  if (!bytes) GTEST_SKIP() << "NVML does not list this process (no NVML, or a container's own process ids)";
  size_t f = 0, t = 0;
  check(cudaMemGetInfo(&f, &t), "cudaMemGetInfo");
  std::printf("NVML: this process holds %.1f MiB; %s\n", double(*bytes) / planner::kMiB, cuda_driver_name().c_str());
  EXPECT_GT(*bytes, 64 * planner::kMiB);
  EXPECT_LT(*bytes, t);
}

TEST(DeviceArenas, AnArenaTheDeviceCannotHoldIsOutOfMemoryNamingIt) {
  HLWQ_REQUIRE_GPU();
  const Qwen35Dims d = Qwen35Dims::preset("0.8B");
  planner::PlanOptions o;
  o.context_length = 200'000'000;  // 6 layers x 2 heads x 1 KiB x 2e8 tokens: terabytes of fp16 KV
  o.kv = KvConfig::uniform(16);
  const Plan plan = plan_for_device(model_spec_for(d, "0.8B"), o);
  EXPECT_FALSE(plan.fits());
  const uint64_t f0 = free_bytes();
  try {
    DeviceArenas arenas(plan);
    FAIL() << "allocated " << arenas.allocated_bytes() << " bytes";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::OutOfMemory) << e.what();
    EXPECT_NE(std::string(e.what()).find("kv_cache"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("weights"), std::string::npos) << e.what();  // the breakdown
  }
  // Everything allocated before the failure is freed; the driver may keep one 2 MiB page of
  // its own (page tables) after a failed request of terabytes.
  EXPECT_GE(free_bytes() + 2 * planner::kMiB, f0) << "the arenas allocated before the failure were not freed";
}

}  // namespace
}  // namespace hlwq::cuda
