#include "tokenizer/pre_tokenizer.h"

#include "tokenizer/byte_level.h"
#include "tokenizer/regex.h"

namespace hlwq {
namespace {

using tokjson::Json;
using tokjson::Where;

enum class Behavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

Behavior parse_behavior(const std::string& s, const Where& w) {
  if (s == "Removed") return Behavior::Removed;
  if (s == "Isolated") return Behavior::Isolated;
  if (s == "MergedWithPrevious") return Behavior::MergedWithPrevious;
  if (s == "MergedWithNext") return Behavior::MergedWithNext;
  if (s == "Contiguous") return Behavior::Contiguous;
  tokjson::fail(w, "unknown split behavior '", s, "'");
}

// Splits on a regex's matches; the behavior says what happens to the matched text. The fold
// rules mirror HF's NormalizedString::split.
class Split final : public PreTokenizer {
 public:
  Split(std::string_view pattern, bool literal, Behavior behavior, bool invert, const std::string& where)
      : regex_(pattern, literal, where), behavior_(behavior), invert_(invert) {}

  void pre_tokenize(std::vector<std::string>& pieces, bool) const override {
    std::vector<std::string> out;
    std::size_t bytes = 0;
    for (const auto& p : pieces) bytes += p.size();
    out.reserve(pieces.size() + bytes / 4);  // prose averages ~4.5 bytes a piece
    struct Part {
      std::size_t s, e;
      bool match;
    };
    std::vector<Part> parts;
    for (const std::string& text : pieces) {
      parts.clear();
      std::size_t prev = 0;
      regex_.for_each_match(text, [&](std::size_t s, std::size_t e) {
        if (prev != s) parts.push_back({prev, s, invert_});
        parts.push_back({s, e, !invert_});
        prev = e;
      });
      if (prev != text.size()) parts.push_back({prev, text.size(), invert_});
      emit(text, parts, out);
    }
    pieces = std::move(out);
  }

 private:
  template <typename Parts>
  void emit(const std::string& text, const Parts& parts, std::vector<std::string>& out) const {
    const std::size_t first = out.size();
    auto push = [&](std::size_t s, std::size_t e) { out.emplace_back(text, s, e - s); };
    bool previous_match = false;
    switch (behavior_) {
      case Behavior::Isolated:
        for (const auto& p : parts) push(p.s, p.e);
        break;
      case Behavior::Removed:
        for (const auto& p : parts)
          if (!p.match) push(p.s, p.e);
        break;
      case Behavior::MergedWithPrevious:
        for (const auto& p : parts) {
          if (p.match && !previous_match && out.size() > first)
            out.back().append(text, p.s, p.e - p.s);
          else
            push(p.s, p.e);
          previous_match = p.match;
        }
        break;
      case Behavior::Contiguous:
        for (std::size_t i = 0; i < parts.size(); ++i) {
          const auto& p = parts[i];
          if (i > 0 && p.match == previous_match)
            out.back().append(text, p.s, p.e - p.s);
          else
            push(p.s, p.e);
          previous_match = p.match;
        }
        break;
      case Behavior::MergedWithNext: {
        // Walk backwards: a match joins the piece after it.
        std::vector<std::pair<std::size_t, std::size_t>> spans;
        for (std::size_t k = parts.size(); k-- > 0;) {
          const auto& p = parts[k];
          if (p.match && !previous_match && !spans.empty())
            spans.back().first = p.s;
          else
            spans.emplace_back(p.s, p.e);
          previous_match = p.match;
        }
        for (std::size_t k = spans.size(); k-- > 0;) push(spans[k].first, spans[k].second);
        break;
      }
    }
  }

  Regex regex_;
  Behavior behavior_;
  bool invert_;
};

constexpr std::string_view kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class ByteLevel final : public PreTokenizer {
 public:
  ByteLevel(bool add_prefix_space, bool use_regex, const std::string& where) : add_prefix_space_(add_prefix_space) {
    if (use_regex) split_ = std::make_unique<Split>(kGpt2Pattern, false, Behavior::Isolated, false, where);
  }
  void pre_tokenize(std::vector<std::string>& pieces, bool at_text_start) const override {
    if (add_prefix_space_)
      for (auto& p : pieces)
        if (p.front() != ' ') p.insert(0, 1, ' ');
    if (split_) split_->pre_tokenize(pieces, at_text_start);
    std::string mapped;
    for (auto& p : pieces) {
      mapped.clear();
      byte_level::encode_append(p, mapped);
      p.swap(mapped);
    }
  }
  bool is_byte_level() const override { return true; }

 private:
  bool add_prefix_space_;
  std::unique_ptr<Split> split_;
};

class Metaspace final : public PreTokenizer {
 public:
  enum class Prepend { Always, First, Never };
  Metaspace(std::string replacement, Prepend prepend, bool split, const std::string& where)
      : replacement_(std::move(replacement)), prepend_(prepend) {
    if (split) split_ = std::make_unique<Split>(replacement_, true, Behavior::MergedWithNext, false, where);
  }
  void pre_tokenize(std::vector<std::string>& pieces, bool at_text_start) const override {
    for (std::size_t i = 0; i < pieces.size(); ++i) {
      std::string& p = pieces[i];
      std::string r;
      for (char c : p) {
        if (c == ' ')
          r += replacement_;
        else
          r += c;
      }
      const bool want = prepend_ == Prepend::Always || (prepend_ == Prepend::First && i == 0 && at_text_start);
      if (want && r.compare(0, replacement_.size(), replacement_) != 0) r.insert(0, replacement_);
      p.swap(r);
    }
    if (split_) split_->pre_tokenize(pieces, at_text_start);
  }

 private:
  std::string replacement_;
  Prepend prepend_;
  std::unique_ptr<Split> split_;
};

class Sequence final : public PreTokenizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<PreTokenizer>> parts) : parts_(std::move(parts)) {}
  void pre_tokenize(std::vector<std::string>& pieces, bool at_text_start) const override {
    for (const auto& p : parts_) p->pre_tokenize(pieces, at_text_start);
  }
  bool is_byte_level() const override {
    for (const auto& p : parts_)
      if (p->is_byte_level()) return true;
    return false;
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

}  // namespace

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const Json& j, const Where& w) {
  if (j.is_null()) return nullptr;
  const std::string type = tokjson::type_of(j, w);
  const std::string where = tokjson::describe(w);
  if (type == "Sequence") {
    const Json& list = tokjson::array_field(j, "pretokenizers", w);
    std::vector<std::unique_ptr<PreTokenizer>> parts;
    for (std::size_t i = 0; i < list.size(); ++i)
      if (auto p = make_pre_tokenizer(list[i], (w / "pretokenizers")[i])) parts.push_back(std::move(p));
    return std::make_unique<Sequence>(std::move(parts));
  }
  if (type == "Split") {
    auto [pattern, literal] = tokjson::read_pattern(tokjson::member(j, "pattern", w), w / "pattern");
    return std::make_unique<Split>(pattern, literal, parse_behavior(tokjson::string_field(j, "behavior", w), w / "behavior"),
                                   tokjson::bool_field(j, "invert", false, w), tokjson::describe(w / "pattern"));
  }
  if (type == "ByteLevel")
    return std::make_unique<ByteLevel>(tokjson::bool_field(j, "add_prefix_space", true, w), tokjson::bool_field(j, "use_regex", true, w), where);
  if (type == "Metaspace") {
    std::string replacement = tokjson::optional_string(j, "replacement", w).value_or("\xE2\x96\x81");
    Metaspace::Prepend prepend = tokjson::bool_field(j, "add_prefix_space", true, w) ? Metaspace::Prepend::Always : Metaspace::Prepend::Never;
    if (auto scheme = tokjson::optional_string(j, "prepend_scheme", w)) {
      if (*scheme == "always") prepend = Metaspace::Prepend::Always;
      else if (*scheme == "first") prepend = Metaspace::Prepend::First;
      else if (*scheme == "never") prepend = Metaspace::Prepend::Never;
      else tokjson::fail(w / "prepend_scheme", "unknown value '", *scheme, "'");
    }
    return std::make_unique<Metaspace>(replacement, prepend, tokjson::bool_field(j, "split", true, w), where);
  }
  if (type == "Digits")
    return std::make_unique<Split>(R"(\p{N})", false, tokjson::bool_field(j, "individual_digits", false, w) ? Behavior::Isolated : Behavior::Contiguous,
                                   false, where);
  if (type == "Whitespace") return std::make_unique<Split>(R"(\w+|[^\w\s]+)", false, Behavior::Removed, true, where);
  if (type == "WhitespaceSplit") return std::make_unique<Split>(R"(\s+)", false, Behavior::Removed, false, where);
  tokjson::fail(w / "type", "unsupported pre_tokenizer '", type,
                "' (supported: Sequence, Split, ByteLevel, Metaspace, Digits, Whitespace, WhitespaceSplit)");
}

}  // namespace hlwq
