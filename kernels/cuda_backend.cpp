#include "cuda_backend.h"

#include <cuda_runtime.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "cuda_check.h"
#include "cuda_context_probe.h"
#include "device_arenas.h"
#include "device_buffer.h"
#include "formats/weights.h"
#include "models/sampler.h"
#include "models/sampling_params_check.h"
#include "qwen35_gpu.h"
#include "qwen35_plan.h"
#include "sampling.h"

namespace hlwq::cuda {
namespace {

bool kv_bits_ok(int bits) { return bits == 16 || bits == 5 || bits == 4 || bits == 3 || bits == 2; }

GpuSamplingParams gpu_params(const SamplingParams& p) {
  GpuSamplingParams g;
  g.temperature = p.temperature;
  g.top_k = p.top_k;
  g.top_p = p.top_p;
  g.min_p = p.min_p;
  g.repetition_penalty = p.repetition_penalty;
  g.presence_penalty = p.presence_penalty;
  g.vocab_limit = p.vocab_limit;
  return g;
}

class CudaBackend final : public ModelBackend {
 public:
  CudaBackend(const ModelSource& src, const BackendOptions& opt) : config_(src.config), name_(src.name) {
    if (!src.weights) throw_error(ErrorKind::InvalidArgument, "CUDA backend: no weights for ", src.name);
    check_kv(opt.kv);
    if (opt.context_length <= 0)
      throw_error(ErrorKind::InvalidArgument, "CUDA backend: context length ", std::to_string(opt.context_length));
    cudaDeviceProp prop{};
    require_device();
    check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
    device_ = prop.name;
    check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
    // Before planning: the handle's own device memory is part of the context, not of the plan.
    check(cublasCreate(&cublas_), "cublasCreate");
    record_cuda_context_cost(device_);  // once per GPU and driver, for plans made without a device
    // Every device byte comes from this plan, the same `hlwq fit` shows: a model that does
    // not fit is refused here, at load, before anything is allocated.
    planner::PlanOptions po;
    po.context_length = opt.context_length;
    po.kv = opt.kv;
    const planner::Plan plan = plan_for_device(model_spec_for(config_, *src.weights, src.name), po);  // per-Linear widths
    if (!plan.fits())
      throw_error(ErrorKind::OutOfMemory, "CUDA backend: ", src.name, " does not fit on ", device_, ": ", describe_plan(plan));
    model_ = Qwen35Gpu::from_weights(config_, *src.weights, plan);  // cache ready for the context
    model_->set_cublas_workspace(cublas_);  // prefill's GEMMs, on the plan's workspace
    kv_ = opt.kv;
    logits_host_.resize(size_t(config_.vocab_size));
    sampler_ = std::make_unique<GpuSampler>(  // its workspace is the plan's logits/sampler buffer
        config_.vocab_size, model_->planned("logits", "sampler", GpuSampler::workspace_bytes(config_.vocab_size)));
  }
  ~CudaBackend() override {
    model_.reset();
    if (cublas_) cublasDestroy(cublas_);
    if (stream_) cudaStreamDestroy(stream_);
  }

  std::string name() const override { return "CUDA"; }
  std::string device_name() const override { return device_; }
  const qwen35::Config& config() const override { return config_; }
  int context_max() const override { return model_->capacity(); }
  int n_cached() const override { return n_cached_; }

  void forward(std::span<const int32_t> tokens, int pos, float* logits, int n_logits) override {
    if (pos != n_cached_)
      throw_error(ErrorKind::InvalidArgument, "CUDA backend: forward at position ", std::to_string(pos),
                  " but the cache holds ", std::to_string(n_cached_), " tokens");
    if (pos + int(tokens.size()) > context_max())
      throw_error(ErrorKind::ContextFull, "CUDA backend: ", std::to_string(pos + tokens.size()),
                  " tokens do not fit the context of ", std::to_string(context_max()));
    n_logits = std::min<int>(n_logits, int(tokens.size()));
    if (tokens.size() > 1 && model_->prefill_supported()) {
      // A prompt: whole chunks through the GEMM path, not one decode graph per token.
      for (int32_t t : tokens) check_token(t);
      model_->prefill(tokens.data(), int(tokens.size()), pos, stream_, logits ? std::max(0, n_logits) : 0, logits);
      check(cudaStreamSynchronize(stream_), "CUDA backend prefill");
      history_.insert(history_.end(), tokens.begin(), tokens.end());
      n_cached_ += int(tokens.size());
      return;
    }
    for (size_t i = 0; i < tokens.size(); ++i) {
      step(tokens[i]);
      const int from_end = int(tokens.size() - i);
      if (logits && from_end <= n_logits) {
        float* dst = logits + size_t(n_logits - from_end) * config_.vocab_size;
        check(cudaMemcpyAsync(dst, model_->logits_dev(), size_t(config_.vocab_size) * 4, cudaMemcpyDeviceToHost, stream_),
              "cudaMemcpyAsync(logits)");
      }
    }
    check(cudaStreamSynchronize(stream_), "CUDA backend forward");
  }

  int32_t decode_and_sample(int32_t token, int pos, const SamplingParams& params, std::span<const int32_t> history,
                            float uniform) override {
    // One graph launch: the step and the draw on the device (parameters staged in pinned
    // memory first); only the id comes back.
    check_sampling_params(params, config_.vocab_size);  // a bad request changes nothing
    const GpuSamplingParams gp = gpu_params(params);
    if (pos != n_cached_)
      throw_error(ErrorKind::InvalidArgument, "CUDA backend: forward at position ", std::to_string(pos),
                  " but the cache holds ", std::to_string(n_cached_), " tokens");
    if (pos + 1 > context_max())
      throw_error(ErrorKind::ContextFull, "CUDA backend: ", std::to_string(pos + 1), " tokens do not fit the context of ",
                  std::to_string(context_max()));
    if (!sampler_in_graph_) {  // the earlier path, kept for A/B timing: graph, then the draw
      step(token);
      return sampler_->sample(model_->logits_dev(), gp, history.data(), history.size(), uniform, stream_);
    }
    check_token(token);
    sampler_->stage(model_->logits_dev(), gp, history.data(), history.size(), uniform, stream_);
    try {
      model_->sampled_step_graph(stream_, token, n_cached_, *sampler_);
      check(cudaStreamSynchronize(stream_), "CUDA backend decode_and_sample");
    } catch (...) {
      sampler_->reset_history();  // the staged history ids may never have been marked
      throw;
    }
    history_.push_back(token);
    ++n_cached_;
    return sampler_->result();
  }

  void set_sampler_in_graph(bool on) { sampler_in_graph_ = on; }

  void set_kv(const KvConfig& kv) override {
    check_kv(kv);
    if (kv == kv_) return;
    // Recompute the cached tokens at the new width: exact, and the history is on the host.
    const std::vector<int32_t> replay = history_;
    try {
      model_->allocate_cache(context_max(), kv.k_bits, kv.v_bits);
    } catch (const Error&) {
      // A larger mode that does not fit: keep running the old one. A grow may already have
      // released the old cache, so rebuild it (it fitted a moment ago) before reporting.
      rebuild_cache(replay);
      throw;
    }
    kv_ = kv;
    rebuild_cache(replay, /*allocated=*/true);
  }
  KvConfig kv() const override { return kv_; }

  void snapshot() override {
    model_->save_recurrent_state(snapshot_);
    snapshot_pos_ = n_cached_;
  }
  int rewind(int n) override {
    if (n >= n_cached_) return n_cached_;
    if (snapshot_pos_ >= 0 && snapshot_pos_ <= n) {
      model_->load_recurrent_state(snapshot_);
      n_cached_ = snapshot_pos_;  // attention K/V past this position are simply overwritten
    } else {
      reset();
    }
    history_.resize(size_t(n_cached_));
    return n_cached_;
  }
  void reset() override {
    model_->allocate_cache(context_max(), kv_.k_bits, kv_.v_bits);
    n_cached_ = 0;
    history_.clear();
    snapshot_pos_ = -1;
  }

  MemoryBreakdown memory() const override {
    MemoryBreakdown m;
    m.weights = model_->weight_bytes();
    m.embedding = uint64_t(config_.vocab_size) * config_.hidden_size * 2;  // device or mapped host: the plan's choice
    m.kv_cache = model_->kv_bytes_allocated();
    m.kv_used = context_max() ? m.kv_cache * uint64_t(n_cached_) / uint64_t(context_max()) : 0;
    m.kv_used_fp16 = uint64_t(n_cached_) * config_.num_full_attention_layers() * 2 * config_.num_key_value_heads *
                     config_.head_dim * 2;
    m.recurrent_state = model_->state_bytes();
    const planner::Plan& plan = model_->plan();  // what is really allocated, arena by arena
    m.scratch = plan.arena(planner::ArenaId::Scratch).device_bytes() + plan.arena(planner::ArenaId::Logits).device_bytes();
    m.runtime = plan.arena(planner::ArenaId::CublasWorkspace).device_bytes();
    return m;
  }

  void set_prefill_chunk(int rows) { model_->set_prefill_chunk(rows); }

 private:
  static void check_kv(const KvConfig& kv) {
    if (!kv_bits_ok(kv.k_bits) || !kv_bits_ok(kv.v_bits))
      throw_error(ErrorKind::InvalidArgument, "CUDA backend: KV cache ", kv_name(kv),
                  " is not supported on the GPU (fp16, q5, q4, q3, q2 and their K/V mixes are)");
  }

  void check_token(int32_t token) const {
    if (token < 0 || token >= config_.vocab_size)
      throw_error(ErrorKind::InvalidArgument, "CUDA backend: token id ", std::to_string(token), " outside the vocabulary of ",
                  std::to_string(config_.vocab_size));
  }

  // Allocates the cache for kv_ (unless `allocated`) and recomputes the history into it: exact,
  // since the tokens are on the host.
  void rebuild_cache(const std::vector<int32_t>& replay, bool allocated = false) {
    if (!allocated) model_->allocate_cache(context_max(), kv_.k_bits, kv_.v_bits);
    n_cached_ = 0;
    history_.clear();
    snapshot_pos_ = -1;
    if (!replay.empty()) forward(replay, 0, nullptr, 0);
  }

  void step(int32_t token) {
    check_token(token);
    model_->set_input(token, n_cached_, stream_);
    model_->step_graph(stream_, n_cached_);
    history_.push_back(token);
    ++n_cached_;
  }

  qwen35::Config config_;
  std::string name_, device_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  std::unique_ptr<Qwen35Gpu> model_;
  KvConfig kv_;
  int n_cached_ = 0, snapshot_pos_ = -1;
  std::vector<int32_t> history_;
  std::vector<DeviceBuffer> snapshot_;
  std::vector<float> logits_host_;
  std::unique_ptr<GpuSampler> sampler_;
  bool sampler_in_graph_ = true;
};

}  // namespace

std::unique_ptr<ModelBackend> make_cuda_backend(const ModelSource& source, const BackendOptions& options) {
  return std::make_unique<CudaBackend>(source, options);
}

void set_prefill_chunk(ModelBackend& backend, int rows) {
  auto* cuda = dynamic_cast<CudaBackend*>(&backend);
  if (!cuda) throw_error(ErrorKind::InvalidArgument, "set_prefill_chunk: backend ", backend.name(), " is not the CUDA one");
  cuda->set_prefill_chunk(rows);
}

void set_sampler_in_graph(ModelBackend& backend, bool on) {
  auto* cuda = dynamic_cast<CudaBackend*>(&backend);
  if (!cuda) throw_error(ErrorKind::InvalidArgument, "set_sampler_in_graph: backend ", backend.name(), " is not the CUDA one");
  cuda->set_sampler_in_graph(on);
}

void register_cuda_backend() {
  static const bool once = [] {
    register_backend(BackendKind::Cuda, make_cuda_backend);
    return true;
  }();
  (void)once;
}

}  // namespace hlwq::cuda
