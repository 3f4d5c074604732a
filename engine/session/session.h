#pragma once
// The session API: the one door to the engine for the desktop app, the CLI and a future
// server. A Session is used from one thread (the app's worker thread); only cancel() and
// stats() may be called from another thread.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/backend_types.h"  // BackendKind, KvConfig, SamplingParams, MemoryBreakdown

namespace hlwq {

enum class ContextPolicy {
  Error,          // a turn that does not fit is refused with Error{ContextFull}
  SlidingWindow,  // drop the oldest whole turns (never the system prompt) until it fits
};

struct LoadOptions {
  std::filesystem::path model;   // a model directory (or a file inside one)
  BackendKind backend = BackendKind::Auto;
  int context_length = 8192;     // tokens
  KvConfig kv;
  int threads = 0;               // CPU threads, 0: all cores
  int quantize_bits = 5;         // for BF16 sources quantized at load time
};

struct GenerationOptions {
  SamplingParams sampling;
  int max_new_tokens = 2048;
  bool enable_thinking = true;
  std::vector<std::string> stop_strings;
  ContextPolicy context_policy = ContextPolicy::Error;
  nlohmann::json tools;          // optional tool definitions for the template
};

struct ChatMessage {
  std::string role;              // system | user | assistant | tool
  std::string content;
  std::string reasoning;         // assistant thinking, if any
  nlohmann::json tool_calls;     // assistant tool calls (array) or null
  std::string tool_call_id;      // for role "tool"
};

// One streamed piece of output. Text is always whole UTF-8 characters.
struct StreamEvent {
  enum class Channel { Thinking, Answer };
  Channel channel = Channel::Answer;
  std::string text;
  int token_id = -1;
};

struct SessionStats {
  std::string backend;          // "CPU" or "CUDA"
  std::string device;           // "NVIDIA H100 80GB HBM3" or the CPU model
  std::string gpu_unused;       // why a backend "auto" load stayed on the CPU ("" otherwise)
  std::string model_name;
  int prompt_tokens = 0;        // of the last turn
  int generated_tokens = 0;     // of the last turn
  double prompt_tokens_per_s = 0;
  double generation_tokens_per_s = 0;
  double time_to_first_token_s = 0;
  int context_used = 0;
  int context_max = 0;
  KvConfig kv;
  MemoryBreakdown memory;
  uint64_t device_total = 0;    // device memory, 0 when unknown (CPU)
  uint64_t device_free = 0;
};

struct ChatResult {
  std::string answer;
  std::string reasoning;
  std::string stop_reason;      // "stop", "length", "cancelled", "stop_string"
  SessionStats stats;
};

using ProgressFn = std::function<void(double fraction, const std::string& stage)>;
using StreamFn = std::function<void(const StreamEvent&)>;

class Session {
 public:
  virtual ~Session() = default;

  virtual void load(const LoadOptions& options, const ProgressFn& progress) = 0;
  virtual bool loaded() const = 0;
  virtual void unload() = 0;

  // Renders the conversation with the model's chat template, reuses the cached prefix that
  // matches the previous turn, generates, and streams thinking and answer separately.
  virtual ChatResult chat(const std::vector<ChatMessage>& messages, const GenerationOptions& options,
                          const StreamFn& on_event) = 0;

  // Thread-safe: the running chat() stops within one token and returns stop_reason "cancelled".
  virtual void cancel() = 0;

  // Converts the existing KV cache in place; the conversation continues.
  virtual void set_kv(const KvConfig& kv) = 0;

  virtual void reset() = 0;  // forget the conversation cache
  virtual SessionStats stats() const = 0;  // thread-safe snapshot
};

// The real engine. Throws nothing until load().
std::unique_ptr<Session> make_engine_session();

}  // namespace hlwq
