#pragma once
// Separates a model's reasoning (<think>...</think>) from its answer while text streams in.
// Pieces may split a tag anywhere ("</th" + "ink>"); text that could still be the start of a
// tag is held back until the next piece (or finish()) decides it. Everything else is emitted
// as soon as it arrives, so the UI streams without delay.
#include <string>
#include <string_view>

namespace hlwq::chat {

struct ReasoningDelta {
  std::string reasoning;  // new text inside <think>...</think>
  std::string answer;     // new text outside
  bool operator==(const ReasoningDelta&) const = default;
};

class ReasoningSplitter {
 public:
  struct Options {
    std::string open_tag = "<think>";
    std::string close_tag = "</think>";
    // Qwen3.5 prompts end with "<think>\n", so the reply starts inside the reasoning.
    bool start_in_reasoning = false;
    // Drop the newlines the chat format puts right after the tags ("<think>\n",
    // "</think>\n\n"), which belong to the format, not to the text.
    bool strip_tag_newlines = true;
  };

  ReasoningSplitter();
  explicit ReasoningSplitter(Options options);

  ReasoningDelta feed(std::string_view piece);
  ReasoningDelta finish();  // end of stream: releases any held-back partial tag as text
  bool in_reasoning() const { return in_reasoning_; }

 private:
  void emit(ReasoningDelta& out, std::string_view text);
  Options options_;
  bool in_reasoning_;
  bool at_section_start_;  // just after a tag: leading newlines are still being dropped
  std::string pending_;    // a suffix that may be the beginning of a tag
};

}  // namespace hlwq::chat
