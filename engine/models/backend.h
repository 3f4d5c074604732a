#pragma once
// The interface every compute backend implements (CPU here, CUDA in kernels/). The session
// drives a backend: it owns the weights it was built from, the hybrid cache (K/V for
// attention layers, conv + recurrent state for DeltaNet layers) and its scratch memory.
// One backend = one sequence. Not thread-safe: the session calls it from one thread.
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "models/backend_types.h"
#include "models/qwen35/qwen35_config.h"

namespace hlwq {

class WeightStore;

class ModelBackend {
 public:
  virtual ~ModelBackend() = default;

  virtual std::string name() const = 0;         // "CPU", "CUDA"
  virtual std::string device_name() const = 0;  // CPU model or GPU name
  virtual const qwen35::Config& config() const = 0;
  virtual int context_max() const = 0;  // tokens the cache holds
  virtual int n_cached() const = 0;     // tokens currently in the cache (the next position)

  // Runs tokens at positions [pos, pos + n) and appends them to the cache; pos must equal
  // n_cached(). If logits != nullptr, writes fp32 logits of the last n_logits positions,
  // [n_logits, vocab] row-major. Throws Error{ContextFull} past context_max(),
  // Error{InvalidArgument} for a token id outside the vocabulary or pos != n_cached().
  virtual void forward(std::span<const int32_t> tokens, int pos, float* logits, int n_logits) = 0;

  // Decodes one token at `pos` and samples the next with sample_token() (sampler.h) using
  // `uniform` in [0, 1) as the random draw; only the id leaves the device. history: the ids
  // the penalties look at.
  virtual int32_t decode_and_sample(int32_t token, int pos, const SamplingParams& params,
                                    std::span<const int32_t> history, float uniform) = 0;

  // Changes the KV-cache precision; the cached tokens are converted in place.
  virtual void set_kv(const KvConfig& kv) = 0;
  virtual KvConfig kv() const = 0;

  // DeltaNet state cannot rewind, so the cache keeps one snapshot of the recurrent state,
  // taken by snapshot() at the current position (the session takes it at the end of each
  // prompt). rewind(n) shortens the cache to the longest length <= n it can restore exactly:
  // n_cached() itself, the snapshot position, or 0. Returns the new n_cached(); the caller
  // recomputes the tokens after it.
  virtual void snapshot() = 0;
  virtual int rewind(int n_tokens) = 0;
  virtual void reset() = 0;  // empty cache, no snapshot

  virtual MemoryBreakdown memory() const = 0;
};

struct BackendOptions {
  int context_length = 8192;
  KvConfig kv;
  int threads = 0;  // CPU threads, 0: all cores
};

// A loaded model as the backends receive it. The store is shared so that a backend can keep
// views into mapped files alive.
struct ModelSource {
  qwen35::Config config;
  std::shared_ptr<const WeightStore> weights;
  std::string name;  // for messages and stats
};

using BackendFactory = std::function<std::unique_ptr<ModelBackend>(const ModelSource&, const BackendOptions&)>;

// Backends register a factory for their kind (the CPU one is always there; hlwq_cuda adds
// BackendKind::Cuda). Auto picks CUDA when registered and its factory succeeds, else CPU.
void register_backend(BackendKind kind, BackendFactory factory);
bool backend_available(BackendKind kind);
// Throws Error{Device} when the kind is not registered (naming it), or the factory's error.
// With Auto, a GPU that cannot be used (none, no driver, no cuBLAS, too little memory, kernels
// that do not take the model's shape) leaves the model on the CPU, and `gpu_unused` (when given) receives why, for the user to see.
std::unique_ptr<ModelBackend> make_backend(BackendKind kind, const ModelSource& source, const BackendOptions& options,
                                           std::string* gpu_unused = nullptr);

std::unique_ptr<ModelBackend> make_cpu_backend(const ModelSource& source, const BackendOptions& options);

}  // namespace hlwq
