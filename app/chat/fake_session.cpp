#include "fake_session.h"

#include <thread>

#include "core/error.h"

namespace hlwq::app {
namespace {
// Sizes of a made-up 27B-class model so the live panel has realistic proportions.
constexpr uint64_t kMiB = 1024ull * 1024;
constexpr uint64_t kWeights = 16800 * kMiB;
constexpr uint64_t kEmbedding = 1270 * kMiB;
constexpr uint64_t kRecurrent = 147 * kMiB;
constexpr uint64_t kScratch = 610 * kMiB;
constexpr uint64_t kRuntime = 520 * kMiB;
constexpr uint64_t kDeviceTotal = 24576 * kMiB;
constexpr uint64_t kFp16BytesPerToken = 65536;  // 16 layers x 2 x 4 heads x 256 dim x 2 bytes

uint64_t kv_bytes_per_token(const KvConfig& kv) {
  auto half = [](int bits) -> uint64_t {  // one of K or V
    return bits >= 16 ? kFp16BytesPerToken / 2 : 16ull * 4 * (256ull * bits / 8 + 2);
  };
  return half(kv.k_bits) + half(kv.v_bits);
}

// Splits text into word-sized pieces the way a tokenizer stream would arrive.
std::vector<std::string> pieces(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : text) {
    cur += c;
    if (c == ' ' || c == '\n') {
      out.push_back(cur);
      cur.clear();
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}
}  // namespace

FakeSession::FakeSession() : FakeSession(Options{}) {}
FakeSession::FakeSession(Options options) : options_(options) {}

void FakeSession::load(const LoadOptions& options, const ProgressFn& progress) {
  if (options.model.empty()) throw_error(ErrorKind::InvalidArgument, "fake session: no model path given");
  if (options.model.filename() == "missing")
    throw_error(ErrorKind::Io, "fake session: cannot open ", options.model.string());
  const int steps = 10;
  for (int i = 0; i <= steps; ++i) {
    if (progress) progress(double(i) / steps, i < steps ? "weights" : "done");
    std::this_thread::sleep_for(options_.load_time / steps);
  }
  std::lock_guard lock(mutex_);
  loaded_ = true;
  stats_ = {};
  stats_.backend = options_.gpu ? "CUDA" : "CPU";
  stats_.device = options_.gpu ? "Simulated 24 GB GPU (fake engine)" : "Fake CPU (test engine)";
  stats_.model_name = options.model.filename().string();
  stats_.context_max = options.context_length;
  stats_.kv = options.kv;
  stats_.device_total = options_.gpu ? kDeviceTotal : 0;  // the CPU backend reports no device memory
  refresh_memory_locked();
}

bool FakeSession::loaded() const {
  std::lock_guard lock(mutex_);
  return loaded_;
}

void FakeSession::unload() {
  std::lock_guard lock(mutex_);
  loaded_ = false;
  stats_ = {};
}

std::string FakeSession::thinking_for(const std::string& prompt) {
  return "The user wrote \"" + prompt + "\". I should answer briefly and show a small code example.";
}

std::string FakeSession::answer_for(const std::string& prompt) {
  return "Here is a **short** answer to: " + prompt +
         "\n\n- first point\n- second point\n\n```cpp\nint main() { return 0; }\n```\n\nDone.";
}

ChatResult FakeSession::chat(const std::vector<ChatMessage>& messages, const GenerationOptions& options,
                             const StreamFn& on_event) {
  if (!loaded()) throw_error(ErrorKind::InvalidArgument, "fake session: chat() before load()");
  if (messages.empty() || messages.back().role != "user")
    throw_error(ErrorKind::InvalidArgument, "fake session: the last message must be role \"user\"");
  cancel_ = false;
  const auto start = std::chrono::steady_clock::now();
  int prompt_tokens = 0;
  for (const auto& m : messages) prompt_tokens += int(pieces(m.content).size()) + 4;

  ChatResult result;
  result.stop_reason = "stop";
  int generated = 0;
  double ttft = 0;
  auto emit_all = [&](StreamEvent::Channel channel, const std::vector<std::string>& parts, std::string& sink) {
    for (const auto& p : parts) {
      if (cancel_) {
        result.stop_reason = "cancelled";
        return false;
      }
      if (generated >= options.max_new_tokens) {
        result.stop_reason = "length";
        return false;
      }
      std::this_thread::sleep_for(options_.token_delay);
      if (generated == 0)
        ttft = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      sink += p;
      ++generated;
      {
        std::lock_guard lock(mutex_);
        stats_.context_used = std::min(stats_.context_max, prompt_tokens + generated);
        refresh_memory_locked();
      }
      if (on_event) on_event({channel, p, 1000 + generated});
    }
    return true;
  };
  const std::string& prompt = messages.back().content;
  auto think = pieces(thinking_for(prompt));
  if (int(think.size()) > options_.thinking_tokens) think.resize(size_t(options_.thinking_tokens));
  bool go = true;
  if (options.enable_thinking) go = emit_all(StreamEvent::Channel::Thinking, think, result.reasoning);
  if (go) emit_all(StreamEvent::Channel::Answer, pieces(answer_for(prompt)), result.answer);

  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::lock_guard lock(mutex_);
  stats_.prompt_tokens = prompt_tokens;
  stats_.generated_tokens = generated;
  stats_.time_to_first_token_s = ttft;
  stats_.generation_tokens_per_s = secs > ttft && generated > 1 ? (generated - 1) / (secs - ttft) : 0;
  stats_.prompt_tokens_per_s = ttft > 0 ? prompt_tokens / ttft : 0;
  result.stats = stats_;
  return result;
}

void FakeSession::cancel() { cancel_ = true; }

void FakeSession::set_kv(const KvConfig& kv) {
  for (int bits : {kv.k_bits, kv.v_bits})
    if (bits != 16 && bits != 4 && bits != 3 && bits != 2)
      throw_error(ErrorKind::InvalidArgument, "fake session: KV bits ", std::to_string(bits), " (want 16, 4, 3 or 2)");
  std::lock_guard lock(mutex_);
  stats_.kv = kv;
  refresh_memory_locked();
}

void FakeSession::reset() {
  std::lock_guard lock(mutex_);
  stats_.context_used = 0;
  refresh_memory_locked();
}

SessionStats FakeSession::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void FakeSession::refresh_memory_locked() {
  auto& m = stats_.memory;
  if (!loaded_) {
    m = {};
    stats_.device_free = stats_.device_total;
    return;
  }
  m.weights = kWeights;
  m.embedding = kEmbedding;
  m.recurrent_state = kRecurrent;
  m.scratch = kScratch;
  m.runtime = kRuntime;
  m.kv_cache = kv_bytes_per_token(stats_.kv) * uint64_t(stats_.context_max);
  m.kv_used = kv_bytes_per_token(stats_.kv) * uint64_t(stats_.context_used);
  m.kv_used_fp16 = kFp16BytesPerToken * uint64_t(stats_.context_used);
  const uint64_t used = m.weights + m.embedding + m.recurrent_state + m.scratch + m.runtime + m.kv_cache;
  stats_.device_free = used < stats_.device_total ? stats_.device_total - used : 0;
  if (!options_.gpu) stats_.device_free = 0;
}

}  // namespace hlwq::app
