// The engine behind the Session API: loads a model onto a backend, renders chats with the
// model's template, reuses the cached prefix, generates and streams thinking and answer.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <random>

#include "chat/chat_template.h"
#include "chat/reasoning_splitter.h"
#include "core/error.h"
#include "models/backend.h"
#include "models/sampler.h"
#include "session/chat_prompt.h"
#include "session/model_loader.h"
#include "session/session.h"
#include "session/stop_strings.h"
#include "tokenizer/tokenizer.h"

#if HLWQ_HAVE_CUDA
namespace hlwq::cuda {
void register_cuda_backend();  // kernels/cuda_backend.h; called here so static linking keeps it
}
#endif

namespace hlwq {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

size_t common_prefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
  return n;
}

nlohmann::ordered_json to_template_messages(const std::vector<ChatMessage>& messages) {
  auto out = nlohmann::ordered_json::array();
  for (const auto& m : messages) {
    nlohmann::ordered_json j;
    j["role"] = m.role;
    j["content"] = m.content;
    if (!m.reasoning.empty()) j["reasoning_content"] = m.reasoning;
    if (!m.tool_calls.is_null()) j["tool_calls"] = nlohmann::ordered_json::parse(m.tool_calls.dump());
    if (!m.tool_call_id.empty()) j["tool_call_id"] = m.tool_call_id;
    out.push_back(std::move(j));
  }
  return out;
}

class EngineSession final : public Session {
 public:
  void load(const LoadOptions& options, const ProgressFn& progress) override {
    unload();
    const auto report = [&](double f, const std::string& what) {
      if (progress) progress(f, what);
    };
#if HLWQ_HAVE_CUDA
    static std::once_flag cuda_once;
    std::call_once(cuda_once, [] { cuda::register_cuda_backend(); });
#endif
    report(0.0, "reading the model");
    // The CPU reads BF16 directly; a GPU wants codes (quantized once, cached on disk).
    const bool cpu = options.backend == BackendKind::Cpu || !backend_available(BackendKind::Cuda);
    model_ = load_model(options.model, cpu ? 0 : options.quantize_bits,
                        [&](double f, const std::string& what) { report(0.8 * f, what); });
    report(0.8, "tokenizer");
    tokenizer_ = Tokenizer::load(model_.dir);
    try {
      template_ = std::make_unique<chat::ChatTemplate>(chat::ChatTemplate::from_model_dir(model_.dir));
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::Io) throw;
      template_ = std::make_unique<chat::ChatTemplate>(chat::ChatTemplate::chatml());  // no template shipped
    }
    stop_ids_ = model_.eos_ids;
    for (const char* t : {"<|im_end|>", "<|endoftext|>"})
      if (auto id = tokenizer_->token_to_id(t); id && std::find(stop_ids_.begin(), stop_ids_.end(), *id) == stop_ids_.end())
        stop_ids_.push_back(*id);
    report(0.85, "preparing the backend");
    BackendOptions bo;
    bo.context_length = options.context_length;
    bo.kv = options.kv;
    bo.threads = options.threads;
    std::string gpu_unused;
    backend_ = make_backend(options.backend, model_.source, bo, &gpu_unused);
    cached_.clear();
    std::lock_guard lock(stats_mutex_);
    stats_ = SessionStats{};
    stats_.gpu_unused = gpu_unused;
    refresh_stats_locked();
    report(1.0, "ready");
  }

  bool loaded() const override { return backend_ != nullptr; }

  void unload() override {
    backend_.reset();
    tokenizer_.reset();
    template_.reset();
    model_ = LoadedModel{};
    cached_.clear();
  }

  ChatResult chat(const std::vector<ChatMessage>& messages, const GenerationOptions& options,
                  const StreamFn& on_event) override {
    if (!backend_) throw_error(ErrorKind::InvalidArgument, "chat: no model is loaded");
    cancel_.store(false);
    const auto t0 = Clock::now();
    std::vector<ChatMessage> msgs = messages;
    std::vector<int32_t> prompt, history_part;
    std::string generation_prompt;
    const int ctx = backend_->context_max();
    // Render and tokenize; the sliding policy drops the oldest whole turns (never the system
    // prompt, never the last message) until the prompt and one new token fit.
    for (;;) {
      render(msgs, options, generation_prompt, prompt, history_part);
      if (int64_t(prompt.size()) + 1 <= ctx) break;
      if (options.context_policy == ContextPolicy::Error || !drop_oldest_turn(msgs))
        throw_error(ErrorKind::ContextFull, "the conversation needs ", std::to_string(prompt.size()),
                    " tokens, the context holds ", std::to_string(ctx),
                    options.context_policy == ContextPolicy::Error ? " (start a new chat or enable the sliding window)" : "");
    }

    // Reuse the cached prefix. The recurrent state can only go back to the snapshot taken at
    // the end of the previous conversation history, so everything after it is recomputed.
    size_t keep = std::min(common_prefix(cached_, prompt), prompt.size() - 1);
    keep = size_t(backend_->rewind(int(keep)));
    cached_.resize(keep);
    const size_t snap = history_part.size();  // end of the conversation before the generation prompt
    std::vector<float> logits(size_t(backend_->config().vocab_size));
    int computed = 0;
    if (keep < snap && snap < prompt.size()) {
      backend_->forward(std::span(prompt).subspan(keep, snap - keep), int(keep), nullptr, 0);
      computed += int(snap - keep);
      keep = snap;
      backend_->snapshot();
    }
    backend_->forward(std::span(prompt).subspan(keep), int(keep), logits.data(), 1);
    computed += int(prompt.size() - keep);
    cached_ = prompt;
    const double prompt_s = seconds_since(t0);

    // Generation.
    ChatResult result;
    SamplingParams sp = options.sampling;
    sp.vocab_limit = tokenizer_->vocab_size();
    const uint64_t seed = sp.seed ? sp.seed : (uint64_t(std::random_device{}()) << 32 | std::random_device{}());
    std::vector<int32_t> history = prompt;
    StreamDecoder decoder(*tokenizer_, false);
    chat::ReasoningSplitter::Options so;
    so.start_in_reasoning = starts_in_reasoning(generation_prompt);
    chat::ReasoningSplitter splitter(so);
    StopStringFilter stops(options.stop_strings);
    bool stopped_by_string = false;
    const auto emit = [&](const chat::ReasoningDelta& d, int id) {
      if (!d.reasoning.empty()) {
        result.reasoning += d.reasoning;
        if (on_event) on_event({StreamEvent::Channel::Thinking, d.reasoning, id});
      }
      if (!d.answer.empty() && !stopped_by_string) {
        auto r = stops.push(d.answer);
        result.answer += r.text;
        if (!r.text.empty() && on_event) on_event({StreamEvent::Channel::Answer, r.text, id});
        stopped_by_string = r.stopped;
      }
    };
    int generated = 0;
    double ttft = 0;
    const auto g0 = Clock::now();
    int32_t next = sample_token(logits, sp, history, sampling_uniform(seed, 0));
    result.stop_reason = "length";
    while (true) {
      if (generated == 0) ttft = seconds_since(t0);
      if (std::find(stop_ids_.begin(), stop_ids_.end(), next) != stop_ids_.end()) {
        result.stop_reason = "stop";
        break;
      }
      ++generated;
      history.push_back(next);
      emit(splitter.feed(decoder.push(next)), next);
      if (stopped_by_string) {
        result.stop_reason = "stop_string";
        break;
      }
      if (cancel_.load()) {
        result.stop_reason = "cancelled";
        break;
      }
      if (generated >= options.max_new_tokens || int(cached_.size()) + 1 > ctx) break;
      const int pos = int(cached_.size());
      next = backend_->decode_and_sample(next, pos, sp, history, sampling_uniform(seed, uint64_t(generated)));
      cached_.push_back(history.back());
      update_live_stats(computed, prompt_s, generated, seconds_since(g0), ttft);
    }
    if (!stopped_by_string) {
      auto rest = decoder.flush();
      emit(splitter.feed(rest), -1);
      emit(splitter.finish(), -1);
      if (!stopped_by_string) {
        const std::string tail = stops.flush();
        result.answer += tail;
        if (!tail.empty() && on_event) on_event({StreamEvent::Channel::Answer, tail, -1});
      }
    }
    update_live_stats(computed, prompt_s, generated, seconds_since(g0), ttft);
    result.stats = stats();
    return result;
  }

  void cancel() override { cancel_.store(true); }

  void set_kv(const KvConfig& kv) override {
    if (!backend_) throw_error(ErrorKind::InvalidArgument, "set_kv: no model is loaded");
    backend_->set_kv(kv);
    std::lock_guard lock(stats_mutex_);
    refresh_stats_locked();
  }

  void reset() override {
    if (backend_) backend_->reset();
    cached_.clear();
    std::lock_guard lock(stats_mutex_);
    if (backend_) refresh_stats_locked();
  }

  SessionStats stats() const override {
    std::lock_guard lock(stats_mutex_);
    return stats_;
  }

 private:
  // `generation_prompt`: what the template adds after the conversation to start the reply
  // (markup only, unlike the rest of the prompt, which holds the messages).
  void render(const std::vector<ChatMessage>& msgs, const GenerationOptions& options, std::string& generation_prompt,
              std::vector<int32_t>& prompt, std::vector<int32_t>& history_part) const {
    chat::RenderOptions ro;
    ro.enable_thinking = options.enable_thinking;
    if (!options.tools.is_null()) ro.tools = nlohmann::ordered_json::parse(options.tools.dump());
    const auto j = to_template_messages(msgs);
    ChatPrompt full = build_chat_prompt(*template_, *tokenizer_, j, ro);
    if (full.ids.empty()) throw_error(ErrorKind::Template, "the chat template rendered an empty prompt");
    ro.add_generation_prompt = false;
    ChatPrompt history = build_chat_prompt(*template_, *tokenizer_, j, ro);
    // A template whose history is not a prefix of the full prompt: the whole prompt is the
    // only place to look for the reply's start.
    generation_prompt = full.text.compare(0, history.text.size(), history.text) == 0 ? full.text.substr(history.text.size()) : full.text;
    prompt = std::move(full.ids);
    history_part = std::move(history.ids);
    history_part.resize(common_prefix(history_part, prompt));
  }

  static bool drop_oldest_turn(std::vector<ChatMessage>& msgs) {
    // The first non-system message, and everything up to the next user message with it.
    size_t i = 0;
    while (i < msgs.size() && msgs[i].role == "system") ++i;
    if (i + 1 >= msgs.size()) return false;
    size_t j = i + 1;
    while (j + 1 < msgs.size() && msgs[j].role != "user") ++j;
    msgs.erase(msgs.begin() + std::ptrdiff_t(i), msgs.begin() + std::ptrdiff_t(j));
    return true;
  }

  // Only the generation prompt counts: a "<think>" a user typed into a message must not make
  // the whole reply count as reasoning.
  static bool starts_in_reasoning(const std::string& generation_prompt) {
    const auto open = generation_prompt.rfind("<think>");
    return open != std::string::npos && generation_prompt.find("</think>", open) == std::string::npos;
  }

  void update_live_stats(int prompt_tokens, double prompt_s, int generated, double gen_s, double ttft) {
    std::lock_guard lock(stats_mutex_);
    stats_.prompt_tokens = prompt_tokens;
    stats_.prompt_tokens_per_s = prompt_s > 0 ? prompt_tokens / prompt_s : 0;
    stats_.generated_tokens = generated;
    stats_.generation_tokens_per_s = gen_s > 0 && generated > 1 ? (generated - 1) / gen_s : 0;
    stats_.time_to_first_token_s = ttft;
    refresh_stats_locked();
  }

  void refresh_stats_locked() {
    stats_.backend = backend_->name();
    stats_.device = backend_->device_name();
    stats_.model_name = model_.source.name;
    stats_.context_used = backend_->n_cached();
    stats_.context_max = backend_->context_max();
    stats_.kv = backend_->kv();
    stats_.memory = backend_->memory();
  }

  LoadedModel model_;
  std::unique_ptr<ModelBackend> backend_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<chat::ChatTemplate> template_;
  std::vector<int32_t> stop_ids_;
  std::vector<int32_t> cached_;  // the tokens the backend's cache holds
  std::atomic<bool> cancel_{false};
  mutable std::mutex stats_mutex_;
  SessionStats stats_;
};

}  // namespace

std::unique_ptr<Session> make_engine_session() { return std::make_unique<EngineSession>(); }

}  // namespace hlwq
