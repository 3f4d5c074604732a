#include "tokenizer/normalizer.h"

#if HLWQ_HAVE_UTF8PROC
#include <utf8proc.h>
#endif

#include <cstdlib>
#include <vector>

#include "tokenizer/regex.h"
#include "tokenizer/unicode.h"

namespace hlwq {
namespace {

using tokjson::Json;
using tokjson::Where;

#if HLWQ_HAVE_UTF8PROC
// Unicode normal forms through utf8proc (Debian's libutf8proc: small, works on UTF-8 directly;
// ICU would bring 30 MB of data and UTF-16 conversions for the same four functions).
class UnicodeForm final : public Normalizer {
 public:
  explicit UnicodeForm(int options) : options_(options) {}
  void normalize(std::string& text) const override {
    // Characters below U+0300 are starters that no normal form changes (below U+00A0 with the
    // compatibility flag), and none of them is ever the second half of a composition. So only
    // runs of other characters, plus the one character before each run (a possible base for
    // its marks), need utf8proc; English prose then stays off the slow path.
    const unsigned char limit = (options_ & UTF8PROC_COMPAT) ? 0xC2 : 0xCC;
    auto simple_at = [&](std::size_t i) {  // i is the start of a character
      const auto c = static_cast<unsigned char>(text[i]);
      return c < 0x80 || (c >= 0xC0 && c < limit);
    };
    // Bytes below `limit` are ASCII, continuation bytes or leads of simple characters.
    std::size_t i = 0;
    while (i < text.size() && static_cast<unsigned char>(text[i]) < limit) ++i;
    if (i == text.size()) return;
    std::string out;
    out.reserve(text.size() + 16);
    std::size_t copied = 0, prev_char = 0;  // start of the character before position i
    if (i > 0) unicode::prev(text, i, prev_char);
    while (i < text.size()) {
      // [start, end): the complex run and the character before it.
      const std::size_t start = i > 0 ? prev_char : 0;
      std::size_t end = i;
      while (end < text.size() && !simple_at(end)) unicode::next(text, end);
      out.append(text, copied, start - copied);
      utf8proc_uint8_t* mapped = nullptr;
      const auto n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data() + start), static_cast<utf8proc_ssize_t>(end - start),
                                  &mapped, static_cast<utf8proc_option_t>(options_));
      if (n < 0) throw_error(ErrorKind::InvalidArgument, "unicode normalisation failed: ", utf8proc_errmsg(n));
      out.append(reinterpret_cast<const char*>(mapped), static_cast<std::size_t>(n));
      std::free(mapped);
      copied = end;
      // Skip the following simple characters, remembering where the last one starts.
      i = end;
      prev_char = i;
      while (i < text.size() && simple_at(i)) {
        prev_char = i;
        unicode::next(text, i);
      }
    }
    out.append(text, copied, std::string::npos);
    text = std::move(out);
  }

 private:
  int options_;
};

class Lowercase final : public Normalizer {
 public:
  void normalize(std::string& text) const override {
    std::string out;
    out.reserve(text.size());
    std::size_t i = 0;
    while (i < text.size()) unicode::append(out, static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(unicode::next(text, i)))));
    text = std::move(out);
  }
};

#endif

class Sequence final : public Normalizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Normalizer>> parts) : parts_(std::move(parts)) {}
  void normalize(std::string& text) const override {
    for (const auto& p : parts_) p->normalize(text);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

class Replace final : public Normalizer {
 public:
  Replace(std::string_view pattern, bool literal, std::string content, const std::string& where)
      : regex_(pattern, literal, where), content_(std::move(content)) {}
  void normalize(std::string& text) const override {
    std::string out;
    std::size_t last = 0;
    regex_.for_each_match(text, [&](std::size_t s, std::size_t e) {
      out.append(text, last, s - last);
      out += content_;
      last = e;
    });
    out.append(text, last, std::string::npos);
    text = std::move(out);
  }

 private:
  Regex regex_;
  std::string content_;
};

class Prepend final : public Normalizer {
 public:
  explicit Prepend(std::string prefix) : prefix_(std::move(prefix)) {}
  void normalize(std::string& text) const override {
    if (!text.empty()) text.insert(0, prefix_);
  }

 private:
  std::string prefix_;
};

class Strip final : public Normalizer {
 public:
  Strip(bool left, bool right) : left_(left), right_(right) {}
  void normalize(std::string& text) const override {
    std::size_t b = 0, e = text.size();
    if (left_)
      while (b < e) {
        std::size_t i = b;
        if (!unicode::is_white_space(unicode::next(text, i))) break;
        b = i;
      }
    if (right_)
      while (e > b) {
        std::size_t s;
        if (!unicode::is_white_space(unicode::prev(text, e, s))) break;
        e = s;
      }
    text = text.substr(b, e - b);
  }

 private:
  bool left_, right_;
};

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const Json& j, const Where& w) {
  if (j.is_null()) return nullptr;
  const std::string type = tokjson::type_of(j, w);
#if HLWQ_HAVE_UTF8PROC
  if (type == "NFC") return std::make_unique<UnicodeForm>(UTF8PROC_STABLE | UTF8PROC_COMPOSE);
  if (type == "NFD") return std::make_unique<UnicodeForm>(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE);
  if (type == "NFKC") return std::make_unique<UnicodeForm>(UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT);
  if (type == "NFKD") return std::make_unique<UnicodeForm>(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT);
  if (type == "Lowercase") return std::make_unique<Lowercase>();
#else
  if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD" || type == "Lowercase")
    tokjson::fail(w / "type", "normalizer '", type, "' needs libutf8proc, which this build lacks");
#endif
  if (type == "Sequence") {
    const Json& list = tokjson::array_field(j, "normalizers", w);
    std::vector<std::unique_ptr<Normalizer>> parts;
    for (std::size_t i = 0; i < list.size(); ++i)
      if (auto n = make_normalizer(list[i], (w / "normalizers")[i])) parts.push_back(std::move(n));
    return std::make_unique<Sequence>(std::move(parts));
  }
  if (type == "Replace") {
    auto [pattern, literal] = tokjson::read_pattern(tokjson::member(j, "pattern", w), w / "pattern");
    return std::make_unique<Replace>(pattern, literal, tokjson::string_field(j, "content", w), tokjson::describe(w / "pattern"));
  }
  if (type == "Prepend") return std::make_unique<Prepend>(tokjson::string_field(j, "prepend", w));
  if (type == "Strip")
    return std::make_unique<Strip>(tokjson::bool_field(j, "strip_left", false, w), tokjson::bool_field(j, "strip_right", false, w));
  tokjson::fail(w / "type", "unsupported normalizer '", type, "' (supported: NFC, NFD, NFKC, NFKD, Lowercase, Sequence, Replace, Prepend, Strip)");
}

}  // namespace hlwq
