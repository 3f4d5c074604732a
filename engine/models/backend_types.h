#pragma once
// Plain types shared by the model backends (CPU, CUDA) and the session API. They live here,
// below the session, so the backends do not depend on the session (data flows one way);
// session/session.h re-exports them unchanged.
#include <cstdint>
#include <optional>
#include <string>

namespace hlwq {

enum class BackendKind { Auto, Cpu, Cuda };

// KV-cache precision of K and V, independently: 16 (fp16) or 5 / 4 / 3 / 2 bit HLWQ codes
// (hlwq-format.md section 5); 32 (fp32) is the exact mode the reference tests use.
struct KvConfig {
  int k_bits = 16;
  int v_bits = 16;
  static KvConfig uniform(int bits) { return {bits, bits}; }
  friend bool operator==(const KvConfig&, const KvConfig&) = default;
};
std::string kv_name(const KvConfig& kv);  // "fp16", "q3", "k16v4"...
// Accepts fp32, fp16, q5, q4, q3, q2 and kXvY with X, Y in {32, 16, 5, 4, 3, 2}; nullopt otherwise.
std::optional<KvConfig> parse_kv_name(const std::string& name);
bool kv_bits_supported(int bits);  // 32, 16 or 5, 4, 3, 2 (converged Lloyd-Max codes)

struct SamplingParams {
  float temperature = 0.7f;  // 0: greedy
  int top_k = 20;            // 0: off
  float top_p = 0.95f;       // 1: off
  float min_p = 0.0f;        // 0: off
  float repetition_penalty = 1.0f;
  float presence_penalty = 0.0f;
  uint64_t seed = 0;  // 0: random
  // Only ids below this are sampled (0: the whole vocabulary). The session sets it to the
  // tokenizer's size: embedding rows past it (padding) have no text.
  int32_t vocab_limit = 0;
};

struct MemoryBreakdown {  // bytes, on the device the backend runs on
  uint64_t weights = 0;
  uint64_t embedding = 0;        // counted separately: may live in host memory
  uint64_t kv_cache = 0;         // allocated for the full context
  uint64_t kv_used = 0;          // bytes holding the current context's tokens
  uint64_t kv_used_fp16 = 0;     // what the same tokens would take at fp16
  uint64_t recurrent_state = 0;  // DeltaNet state + conv state
  uint64_t scratch = 0;
  uint64_t runtime = 0;  // CUDA context, cuBLAS workspace
};

}  // namespace hlwq

namespace hlwq {
// "auto", "cpu", "cuda"; throws Error{InvalidArgument} naming the value.
BackendKind parse_backend_kind(const std::string& name);
}  // namespace hlwq
