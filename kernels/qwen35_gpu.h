#pragma once
// A Qwen3.5 text model resident on the GPU with codes at 5, 4 or 3 bits (each Linear its own
// width), and its decode step (embedding -> 64 x (mixer + MLP) -> norm -> lm_head -> greedy
// pick) captured as one CUDA graph. Weights come from a synthetic generator (hlwq bench) or a
// WeightStore (qwen35_load.cpp).
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "attention.h"
#include "deltanet_step.h"
#include "device_buffer.h"
#include "q_matrix.h"

namespace hlwq {
class WeightStore;
namespace qwen35 {
struct Config;
}
namespace planner {
struct Plan;  // planner/vram_plan.h: host C++20, so .cu files see it only declared
}
}  // namespace hlwq

namespace hlwq::cuda {

class GpuSampler;  // sampling.h

// The sizes the GPU code needs (qwen35.md section 1); filled from qwen35::Config.
struct Qwen35Dims {
  int hidden = 0, layers = 0, heads = 0, kv_heads = 0, hk = 0, hv = 0, intermediate = 0, vocab = 0;
  int rotary_dim = 64;
  float rope_theta = 1e7f, eps = 1e-6f;
  std::vector<bool> full_attention;  // per layer
  int weight_bits = 5;  // synthetic models: every Linear's width (a checkpoint's come from its tensors)
  // The named preset sizes of the spec's table: "27B", "9B", "4B", "2B", "0.8B".
  static Qwen35Dims preset(const std::string& name);
};

struct QWeight {
  DeviceBuffer storage;
  QMatrix m;
  const float* codebook = nullptr;  // device, 2^m.bits centroids: the model's table for that width
};

struct LayerWeights {
  DeviceBuffer small;         // every fp32 vector of the layer in one allocation
  const float* norm1 = nullptr;
  const float* norm2 = nullptr;
  QWeight in_proj;           // DeltaNet: [qkv | z | b | a]; attention: [q/gate per head | k | v]
  QWeight out_proj;          // DeltaNet out_proj or attention o_proj
  QWeight gate_up;           // rows interleaved (gate_i, up_i)
  QWeight down;
  // DeltaNet
  const float* conv_w = nullptr;
  const float* a_log = nullptr;
  const float* dt_bias = nullptr;
  const float* out_norm = nullptr;
  // attention
  const float* q_norm = nullptr;
  const float* k_norm = nullptr;
};

struct PrefillScratch;  // qwen35_prefill.h

class Qwen35Gpu {
 public:
  // Random codes and norms (scaled so activations stay O(1)), random small vectors. The
  // embedding lives in mapped pinned host memory when embedding_on_host.
  static std::unique_ptr<Qwen35Gpu> synthetic(const Qwen35Dims& dims, uint64_t seed, bool embedding_on_host);
  // The same, every device byte from `plan` (kernels/qwen35_plan.h makes one for the dims):
  // the plan's arenas are allocated first, the embedding goes where the plan put it, and the
  // cache is ready for the plan's context and KV mode.
  static std::unique_ptr<Qwen35Gpu> synthetic(const Qwen35Dims& dims, uint64_t seed, const planner::Plan& plan);
  // A real checkpoint (qwen35_load.cpp): every Linear must be 5-, 4- or 3-bit HLWQ codes, each
  // width with one codebook; they are repacked into the GEMV layout at their own width and
  // fused (q/k/v, qkv/z/b/a, gate/up: the parts of one fused matrix must share width and
  // codebook). Throws Error{UnsupportedArch} for shapes or widths the kernels do not cover,
  // naming the tensors.
  static std::unique_ptr<Qwen35Gpu> from_weights(const qwen35::Config& config, const WeightStore& store,
                                                 bool embedding_on_host);
  static std::unique_ptr<Qwen35Gpu> from_weights(const qwen35::Config& config, const WeightStore& store,
                                                 const planner::Plan& plan);
  // Copies / restores the DeltaNet and conv state (for the backend's snapshot / rewind).
  void save_recurrent_state(std::vector<DeviceBuffer>& into) const;
  void load_recurrent_state(const std::vector<DeviceBuffer>& from);
  // Sets the token and position the next step reads (host -> device, on `stream`).
  void set_input(int32_t token, int pos, cudaStream_t stream);
  int capacity() const { return capacity_; }
  ~Qwen35Gpu();

  // Lays the KV cache out for `capacity` tokens at the given bits and clears the recurrent
  // state: re-plans the kv_cache and scratch arenas for that context and mode, in place when
  // they shrink (no allocation), else growing them after checking the device has room.
  void allocate_cache(int capacity, int k_bits, int v_bits);
  // Fills cached K/V (positions < n) and the recurrent state with random data, sets the
  // position to n: a stand-in for a prompt of n tokens when only speed matters.
  void fake_history(int n, uint64_t seed);

  // Enqueues one decode step reading *token/*pos on the device; writes the next token and
  // advances the position.
  // long_context picks the attention variant for long histories (attention.h).
  void enqueue_step(cudaStream_t stream, bool long_context = false);
  // Captures enqueue_step once per variant (after any allocate_cache) and replays the one
  // for a step at position `pos` (the host knows it: the graph reads it on the device).
  void step_graph(cudaStream_t stream, int pos);
  static constexpr int kLongContext = 2048;
  // The backend's decode_and_sample in one graph launch: the graph copies the sampler's
  // staged block (GpuSampler::stage, called before; it also carries `token` and `pos`) to
  // the device, runs the step without the greedy pick reading token and position from that
  // block, then the sampler's draw, whose id and flag it copies to the sampler's pinned
  // result. Captured once per sampler and variant. The caller synchronizes `stream` before
  // sampler.result() and before the next call (the pinned block is rewritten).
  void sampled_step_graph(cudaStream_t stream, int32_t token, int pos, GpuSampler& sampler);
  // Profiling (decode_bench --profile): when set, enqueue_step calls it after each kernel (or
  // group of kernels) with a label naming what was just enqueued, e.g. to record an event.
  // Only for eager steps: set none while capturing.
  void set_step_probe(std::function<void(const char* label)> probe) { probe_ = std::move(probe); }
  // Profiling: kinds of kernels left out of the step (wrong results, right timing for the
  // rest), so the graph's time without a kind measures what that kind costs inside the graph,
  // overlap included. Drops the captured graphs.
  enum StepDrop : unsigned { kDropEmbedding = 1, kDropDeltaNet = 2, kDropAttention = 4, kDropSampler = 8, kDropGemv = 16 };
  void set_step_drop(unsigned mask) {
    destroy_graph();
    drop_ = mask;
  }

  // Prompt processing (qwen35_prefill.cu): `count` tokens at positions pos.. as chunks of
  // prefill_chunk() rows (GEMM Linears, whole-chunk mixers), leaving the KV cache and the
  // recurrent state as `count` decode steps would. Logits of the last n_logits rows go to
  // logits_host ([n_logits][vocab]) when given; the last row's stay in logits_dev().
  // Enqueued on `stream`; the caller sets the decode input (set_input) afterwards.
  void prefill(const int32_t* tokens, int count, int pos, cudaStream_t stream, int n_logits = 1,
               float* logits_host = nullptr);
  bool prefill_supported() const;  // false for KV widths without prefill kernels
  void set_prefill_chunk(int rows);  // default 512; frees the scratch when it changes
  int prefill_chunk() const { return prefill_chunk_; }
  // Runs prefill once with events between its stages (bench): device ms per stage, summed
  // over layers and chunks, in order of first appearance.
  std::vector<std::pair<std::string, double>> prefill_stage_ms(const int32_t* tokens, int count, cudaStream_t stream);

  int32_t* token_dev() const { return token_.get<int32_t>(); }
  int* pos_dev() const { return pos_.get<int>(); }
  const float* logits_dev() const { return logits_.get<float>(); }
  const Qwen35Dims& dims() const { return dims_; }
  const std::vector<LayerWeights>& layers() const { return layers_; }
  // The weights' centroid table for `bits` (device, 2^bits floats); nullptr when no Linear
  // has that width.
  const float* codebook_dev(int bits = 5) const { return bits >= 3 && bits <= 5 ? codebooks_[bits - 3] : nullptr; }

  // Bytes one decode step must move through device memory at context `ctx` (weights once,
  // recurrent state read + written, KV read): the roofline's numerator.
  uint64_t bytes_per_token(int ctx) const;
  uint64_t weight_bytes() const;
  uint64_t kv_bytes_allocated() const;
  uint64_t state_bytes() const;

  // Device memory (qwen35_arenas.cpp). The plan this model allocates from, as re-planned by
  // the last allocate_cache.
  const planner::Plan& plan() const;
  // A buffer of the plan: `arena` is a planner::to_string(ArenaId) name ("scratch",
  // "kv_cache", "logits", ...), `buffer` the plan's name in it. Error{Internal} naming both
  // when the plan lacks it or holds fewer than `bytes`. Regions move when allocate_cache
  // re-plans: look them up again after it. Prefill and sampler buffers come from here.
  DeviceBuffer planned(const char* arena, std::string_view buffer, std::size_t bytes) const;
  DeviceBuffer scratch(std::string_view buffer, std::size_t bytes) const { return planned("scratch", buffer, bytes); }
  // The next region of the weights arena (fused matrices, per-layer vectors, codebooks).
  DeviceBuffer weight_region(std::string_view what, std::size_t bytes);
  // Hands the plan's cublas_workspace arena to `handle` (cublasSetWorkspace) and makes it
  // the handle prefill runs its GEMMs on. The caller owns it and creates it before load:
  // a handle costs device memory of its own (a second one and its first GEMMs took 64 MiB on
  // an H200), counted with the CUDA context, so it must not be made in the middle of a chat.
  void set_cublas_workspace(cublasHandle_t handle);
  cublasHandle_t cublas() const { return cublas_; }  // nullptr until set
  // Sum of the arena allocations: the plan's allocated_bytes().
  uint64_t device_bytes_allocated() const;

 private:
  Qwen35Gpu();
  struct Memory;  // the plan and its DeviceArenas, qwen35_arenas.cpp
  void adopt_plan(const planner::Plan& plan);
  bool embedding_on_device() const;
  DeviceBuffer embedding_region() const;
  void replan_cache(int capacity, int k_bits, int v_bits);
  void replan_scratch();  // after a new prefill chunk: re-lays the scratch arena, re-carves
  void allocate_planned_cache();
  std::vector<DeviceBuffer> snapshot_regions() const;
  void destroy_graph();
  // Captures what `body` enqueues on `s` as graph_[v] / graph_exec_[v] (`what` names it in
  // errors); a failure ends the capture and leaves no graph. The probe never enters a graph.
  void capture_graph(cudaStream_t s, int v, const char* what, const std::function<void()>& body);
  // embedding .. lm_head, the step's token and position read at `token` and `pos` (device)
  void enqueue_forward(cudaStream_t stream, bool long_context, const int32_t* token, const int* pos);
  void allocate_activations();
  void upload_kv_codebooks();
  // Uploads one centroid table per weight width (tables[bits], 2^bits floats; empty: unused)
  // and points every QWeight at the one for its width.
  void upload_codebooks(const std::vector<float> (&tables)[6]);

  Qwen35Dims dims_;
  std::vector<LayerWeights> layers_;
  DeviceBuffer final_norm_, kv_codebooks_;
  DeviceBuffer codebook_storage_[3];       // Q3, Q4, Q5 weight tables (empty when unused)
  const float* codebooks_[3] = {};
  QWeight lm_head_;
  DeviceBuffer embedding_dev_;
  uint16_t* embedding_host_ = nullptr;
  const uint16_t* embedding_ = nullptr;  // device-visible pointer
  // activations
  DeviceBuffer x_, proj_, mix_, h_, logits_, token_, pos_, argmax_, q_work_, partials_;
  // cache
  std::vector<DeviceBuffer> kv_;        // per attention layer: K side, V side
  std::vector<KvLayer> kv_layers_;      // per layer (empty for DeltaNet layers)
  std::vector<DeviceBuffer> delta_state_, conv_ring_;
  int capacity_ = 0, k_bits_ = 16, v_bits_ = 16, max_splits_ = 1;
  int prefill_chunk_ = 512;
  std::shared_ptr<PrefillScratch> prefill_;  // qwen35_prefill.h, made by the first prefill
  // [long context] greedy step graphs, then [2 + long context] sampled ones for graph_sampler_
  cudaGraph_t graph_[4] = {};
  cudaGraphExec_t graph_exec_[4] = {};
  const GpuSampler* graph_sampler_ = nullptr;
  std::unique_ptr<Memory> memory_;
  cublasHandle_t cublas_ = nullptr;  // not owned
  std::function<void(const char*)> probe_;
  unsigned drop_ = 0;  // StepDrop bits
};

// The converged Lloyd-Max table for `bits` (hlwq-format.md section 2), all 2^bits centroids:
// synthetic models' weights and the KV codes use it. Error{InvalidArgument} outside 2..5.
std::vector<float> converged_codebook(int bits);

// Fills n floats uniformly in [lo, hi) (synthetic parameters, test inputs).
void fill_uniform(float* dev, std::size_t n, float lo, float hi, uint64_t seed, cudaStream_t stream);

}  // namespace hlwq::cuda
