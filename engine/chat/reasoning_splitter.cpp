#include "reasoning_splitter.h"

#include <utility>

namespace hlwq::chat {

ReasoningSplitter::ReasoningSplitter() : ReasoningSplitter(Options{}) {}

ReasoningSplitter::ReasoningSplitter(Options options)
    : options_(std::move(options)), in_reasoning_(options_.start_in_reasoning), at_section_start_(true) {}

void ReasoningSplitter::emit(ReasoningDelta& out, std::string_view text) {
  if (options_.strip_tag_newlines && at_section_start_) {
    size_t n = 0;
    while (n < text.size() && text[n] == '\n') ++n;
    text.remove_prefix(n);
  }
  if (text.empty()) return;
  at_section_start_ = false;
  (in_reasoning_ ? out.reasoning : out.answer).append(text);
}

ReasoningDelta ReasoningSplitter::feed(std::string_view piece) {
  ReasoningDelta out;
  std::string buf = std::move(pending_);
  pending_.clear();
  buf.append(piece);
  std::string_view rest(buf);
  while (!rest.empty()) {
    const std::string& tag = in_reasoning_ ? options_.close_tag : options_.open_tag;
    size_t pos = tag.empty() ? std::string_view::npos : rest.find(tag);
    if (pos != std::string_view::npos) {
      std::string_view before = rest.substr(0, pos);
      if (in_reasoning_ && options_.strip_tag_newlines)
        while (!before.empty() && before.back() == '\n') before.remove_suffix(1);
      emit(out, before);
      in_reasoning_ = !in_reasoning_;
      at_section_start_ = true;
      rest.remove_prefix(pos + tag.size());
      continue;
    }
    // Hold back the longest suffix that could start the tag, and (inside reasoning) the
    // newlines before it, which vanish if the close tag follows.
    size_t hold = 0;
    for (size_t k = std::min(tag.size() - 1, rest.size()); k > 0; --k) {
      if (rest.substr(rest.size() - k) == std::string_view(tag).substr(0, k)) {
        hold = k;
        break;
      }
    }
    if (in_reasoning_ && options_.strip_tag_newlines)
      while (hold < rest.size() && rest[rest.size() - hold - 1] == '\n') ++hold;
    emit(out, rest.substr(0, rest.size() - hold));
    pending_ = std::string(rest.substr(rest.size() - hold));
    break;
  }
  return out;
}

ReasoningDelta ReasoningSplitter::finish() {
  ReasoningDelta out;
  std::string rest = std::move(pending_);
  pending_.clear();
  if (in_reasoning_ && options_.strip_tag_newlines)
    while (!rest.empty() && rest.back() == '\n') rest.pop_back();
  emit(out, rest);
  return out;
}

}  // namespace hlwq::chat
