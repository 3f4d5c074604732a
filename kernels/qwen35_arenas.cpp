// Qwen35Gpu's device memory: the VRAM plan it was built from and the arenas allocated from
// that plan (device_arenas.h). Host C++20, apart from the .cu files, because the planner's
// headers are C++20 and the CUDA sources compile as C++17.
#include <cuda_runtime.h>

#include <map>

#include "core/error.h"
#include "cuda_check.h"
#include "device_arenas.h"
#include "formats/weights.h"
#include "planner/weight_inventory.h"
#include "qwen35_gpu.h"
#include "qwen35_plan.h"

namespace hlwq::cuda {

using planner::ArenaId;
using planner::Plan;

struct Qwen35Gpu::Memory {
  Plan plan;
  DeviceArenas arenas;
};

namespace {

ArenaId arena_id(const char* name) {
  for (int i = 0; i < planner::kArenaCount; ++i)
    if (std::string_view(planner::to_string(ArenaId(i))) == name) return ArenaId(i);
  throw_error(ErrorKind::Internal, "VRAM plan: no arena named '", name, "'");
}

// A tiny cache until allocate_cache asks for the real one: callers of the bool overloads
// (bench, tests) always size it themselves.
constexpr int kInitialContext = 64;

planner::PlanOptions initial_options(bool embedding_on_host) {
  planner::PlanOptions o;
  o.context_length = kInitialContext;
  o.embedding = embedding_on_host ? planner::EmbeddingPlacement::Host : planner::EmbeddingPlacement::Device;
  return o;
}

}  // namespace

qwen35::Config config_for(const Qwen35Dims& d) {
  qwen35::Config c;
  c.hidden_size = d.hidden;
  c.num_hidden_layers = d.layers;
  c.num_attention_heads = d.heads;
  c.num_key_value_heads = d.kv_heads;
  c.head_dim = kHeadDim;
  c.linear_num_key_heads = d.hk;
  c.linear_num_value_heads = d.hv;
  c.linear_key_head_dim = 128;
  c.linear_value_head_dim = 128;
  c.linear_conv_kernel_dim = 4;
  c.intermediate_size = d.intermediate;
  c.vocab_size = d.vocab;
  c.rope_theta = d.rope_theta;
  c.partial_rotary_factor = double(d.rotary_dim) / kHeadDim;
  c.rms_norm_eps = d.eps;
  for (bool full : d.full_attention)
    c.layer_types.push_back(full ? qwen35::LayerType::FullAttention : qwen35::LayerType::LinearAttention);
  c.weight_prefix = "model.language_model.";
  return c;
}

planner::ModelSpec model_spec_for(const Qwen35Dims& dims, const std::string& name) {
  planner::ModelSpec model{config_for(dims), dims.weight_bits, true, name, {}};
  return model;
}

planner::ModelSpec model_spec_for(const qwen35::Config& config, const WeightStore& store, const std::string& name) {
  planner::ModelSpec model{config, 5, true, name, {}};
  const std::string embed = planner::embedding_shape(config).name;
  std::map<std::string, int> bits;  // Linear -> its tensor's width
  std::map<int, int> count;         // width -> Linears
  for (const planner::TensorShape& t : planner::weight_inventory(config)) {
    if (!t.linear) continue;
    const QuantTensor* q = store.quant(t.name == "lm_head.weight" && !store.contains(t.name) ? embed : t.name);
    if (!q) continue;
    bits[t.name] = q->bits;
    ++count[q->bits];
  }
  int most = 0;
  for (const auto& [b, n] : count)
    if (n > most) most = n, model.weight_bits = b;
  for (const auto& [linear, b] : bits)
    if (b != model.weight_bits) model.linear_bits[linear] = b;
  return model;
}

Plan plan_for_device(const planner::ModelSpec& model, const planner::PlanOptions& options) {
  return planner::make_plan(model, detect_gpu(), options);
}

Qwen35Gpu::Qwen35Gpu() = default;

Qwen35Gpu::~Qwen35Gpu() {
  destroy_graph();
  if (embedding_host_) cudaFreeHost(embedding_host_);
}

std::unique_ptr<Qwen35Gpu> Qwen35Gpu::synthetic(const Qwen35Dims& dims, uint64_t seed, bool embedding_on_host) {
  return synthetic(dims, seed, plan_for_device(model_spec_for(dims, "synthetic"), initial_options(embedding_on_host)));
}

std::unique_ptr<Qwen35Gpu> Qwen35Gpu::from_weights(const qwen35::Config& config, const WeightStore& store,
                                                   bool embedding_on_host) {
  return from_weights(config, store,
                      plan_for_device(model_spec_for(config, store, "checkpoint"), initial_options(embedding_on_host)));
}

void Qwen35Gpu::adopt_plan(const Plan& plan) {
  for (int bits : plan.model.widths())
    if (!q_bits_supported(bits))
      throw_error(ErrorKind::UnsupportedArch, "CUDA backend: the plan has ", std::to_string(bits),
                  "-bit weights; the kernels take 5-, 4- and 3-bit codes");
  memory_ = std::make_unique<Memory>(Memory{plan, DeviceArenas(plan)});
}

const Plan& Qwen35Gpu::plan() const {
  if (!memory_) throw_error(ErrorKind::Internal, "Qwen35Gpu: no VRAM plan yet");
  return memory_->plan;
}

DeviceBuffer Qwen35Gpu::planned(const char* arena, std::string_view buffer, std::size_t bytes) const {
  if (!memory_) throw_error(ErrorKind::Internal, "Qwen35Gpu: no VRAM plan yet");
  return memory_->arenas[arena_id(arena)].named(buffer, bytes);
}

DeviceBuffer Qwen35Gpu::weight_region(std::string_view what, std::size_t bytes) {
  if (!memory_) throw_error(ErrorKind::Internal, "Qwen35Gpu: no VRAM plan yet");
  return memory_->arenas[ArenaId::Weights].bump(what, bytes);
}

bool Qwen35Gpu::embedding_on_device() const { return plan().embedding == planner::EmbeddingPlacement::Device; }

DeviceBuffer Qwen35Gpu::embedding_region() const {
  return planned("embedding", planner::embedding_shape(plan().model.config).name, std::size_t(dims_.vocab) * dims_.hidden * 2);
}

void Qwen35Gpu::set_cublas_workspace(cublasHandle_t handle) {
  const ArenaCarver& ws = memory_->arenas[ArenaId::CublasWorkspace];
  check(cublasSetWorkspace(handle, ws.base(), ws.layout().bytes), "cublasSetWorkspace");
  cublas_ = handle;
}

uint64_t Qwen35Gpu::device_bytes_allocated() const { return memory_ ? memory_->arenas.allocated_bytes() : 0; }

void Qwen35Gpu::replan_cache(int capacity, int k_bits, int v_bits) {
  Memory& mem = *memory_;
  planner::PlanOptions o = mem.plan.options;
  o.context_length = capacity;
  o.kv = {k_bits, v_bits};
  o.embedding = mem.plan.embedding;  // resolved at load: a new context never moves it
  o.prefill_chunk = prefill_chunk_;
  Plan next = planner::make_plan(mem.plan.model, mem.plan.gpu, o);
  // Only the context-sized arenas change; the rest keep their layout (and their contents).
  for (ArenaId id : {ArenaId::KvCache, ArenaId::Scratch}) mem.arenas.relayout(next, id);
  mem.plan = std::move(next);
  prefill_.reset();  // its views into scratch may have moved
}

void Qwen35Gpu::replan_scratch() {
  destroy_graph();  // the captured steps point into the old layout
  prefill_.reset();
  Memory& mem = *memory_;
  planner::PlanOptions o = mem.plan.options;
  o.embedding = mem.plan.embedding;
  o.prefill_chunk = prefill_chunk_;
  Plan next = planner::make_plan(mem.plan.model, mem.plan.gpu, o);
  mem.arenas.relayout(next, ArenaId::Scratch);
  mem.plan = std::move(next);
  allocate_activations();
  partials_ = scratch("attn_partials", attention_partials_floats(dims_.heads, max_splits_) * 4);
}

void Qwen35Gpu::allocate_planned_cache() {
  const planner::PlanOptions& o = plan().options;
  allocate_cache(int(o.context_length), o.kv.k_bits, o.kv.v_bits);
}

std::vector<DeviceBuffer> Qwen35Gpu::snapshot_regions() const {
  // The plan's snapshot mirrors the state arena buffer for buffer (states, then conv rings).
  const DeviceBuffer all = planned("recurrent_state", "snapshot", 0);
  const std::size_t capacity = plan().arena(ArenaId::RecurrentState).at("snapshot").bytes;
  std::vector<DeviceBuffer> out;
  std::size_t offset = 0;
  auto take = [&](const DeviceBuffer& src) {
    offset = (offset + planner::kBufferAlignment - 1) / planner::kBufferAlignment * planner::kBufferAlignment;
    if (offset + src.bytes() > capacity)
      throw_error(ErrorKind::Internal, "VRAM arena 'recurrent_state': buffer 'snapshot' of ", std::to_string(capacity),
                  " bytes cannot hold the state being saved");
    out.push_back(DeviceBuffer::view(all.get<std::byte>() + offset, src.bytes()));
    offset += src.bytes();
  };
  for (const DeviceBuffer& b : delta_state_) take(b);
  for (const DeviceBuffer& b : conv_ring_) take(b);
  return out;
}

}  // namespace hlwq::cuda
