#pragma once
// A stand-in engine with the real Session's contract (streaming, cancel within one token,
// live set_kv, thread-safe stats) and made-up numbers. Used by the tests and by
// `hlwq-chat --fake-engine` (screenshots, UI work without a model).
#include <atomic>
#include <chrono>
#include <mutex>

#include "session/session.h"

namespace hlwq::app {

class FakeSession : public Session {
 public:
  struct Options {
    std::chrono::milliseconds token_delay{15};
    std::chrono::milliseconds load_time{300};
    int thinking_tokens = 12;  // how many thinking pieces before the answer
    bool gpu = false;          // report a simulated 24 GiB CUDA card instead of the CPU
  };
  FakeSession();
  explicit FakeSession(Options options);

  void load(const LoadOptions& options, const ProgressFn& progress) override;
  bool loaded() const override;
  void unload() override;
  ChatResult chat(const std::vector<ChatMessage>& messages, const GenerationOptions& options,
                  const StreamFn& on_event) override;
  void cancel() override;
  void set_kv(const KvConfig& kv) override;
  void reset() override;
  SessionStats stats() const override;

  // What the fake "model" answers to a prompt; public so tests can compare against it.
  static std::string answer_for(const std::string& prompt);
  static std::string thinking_for(const std::string& prompt);

 private:
  void refresh_memory_locked();

  Options options_;
  std::atomic<bool> cancel_{false};
  mutable std::mutex mutex_;  // guards stats_ and loaded_
  SessionStats stats_;
  bool loaded_ = false;
};

}  // namespace hlwq::app
