#include "tokenizer/decoder.h"

#include <vector>

#include "tokenizer/byte_level.h"
#include "tokenizer/regex.h"
#include "tokenizer/unicode.h"

namespace hlwq {
namespace {

using tokjson::Json;
using tokjson::Where;

class ByteLevel final : public Decoder {
 public:
  void decode(std::string& token, std::size_t) const override {
    std::string bytes;
    bytes.reserve(token.size());
    // A token with a character outside the map (an added token like "a b") keeps its bytes.
    if (byte_level::decode_append(token, bytes)) token.swap(bytes);
  }
};

class Replace final : public Decoder {
 public:
  Replace(std::string_view pattern, bool literal, std::string content, const std::string& where)
      : regex_(pattern, literal, where), content_(std::move(content)) {}
  void decode(std::string& token, std::size_t) const override {
    std::string out;
    std::size_t last = 0;
    regex_.for_each_match(token, [&](std::size_t s, std::size_t e) {
      out.append(token, last, s - last);
      out += content_;
      last = e;
    });
    out.append(token, last, std::string::npos);
    token.swap(out);
  }

 private:
  Regex regex_;
  std::string content_;
};

// "<0x0A>" tokens of sentencepiece-style vocabularies stand for one raw byte.
class ByteFallback final : public Decoder {
 public:
  void decode(std::string& token, std::size_t) const override {
    if (token.size() != 6 || token.compare(0, 3, "<0x") != 0 || token[5] != '>') return;
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      return -1;
    };
    const int hi = hex(token[3]), lo = hex(token[4]);
    if (hi < 0 || lo < 0) return;
    token.assign(1, static_cast<char>(hi * 16 + lo));
  }
  bool has_byte_fallback() const override { return true; }
};

// Removes up to `start` leading and `stop` trailing copies of a character. After a Fuse the
// whole text is one token, so only the first token's start is stripped then (`fused`); a
// trailing strip of fused text is not applied while streaming.
class Strip final : public Decoder {
 public:
  Strip(std::string content, std::size_t start, std::size_t stop, bool fused)
      : content_(std::move(content)), start_(start), stop_(stop), fused_(fused) {}
  void decode(std::string& token, std::size_t index) const override {
    if (content_.empty()) return;
    if (!fused_ || index == 0)
      for (std::size_t k = 0; k < start_ && token.compare(0, content_.size(), content_) == 0; ++k) token.erase(0, content_.size());
    if (!fused_)
      for (std::size_t k = 0; k < stop_ && token.size() >= content_.size() &&
                              token.compare(token.size() - content_.size(), content_.size(), content_) == 0;
           ++k)
        token.resize(token.size() - content_.size());
  }

 private:
  std::string content_;
  std::size_t start_, stop_;
  bool fused_;
};

class Metaspace final : public Decoder {
 public:
  Metaspace(std::string replacement, bool strip_first) : replacement_(std::move(replacement)), strip_first_(strip_first) {}
  void decode(std::string& token, std::size_t index) const override {
    std::string out;
    std::size_t i = 0;
    while (i < token.size()) {
      if (token.compare(i, replacement_.size(), replacement_) == 0) {
        if (!(index == 0 && strip_first_)) out += ' ';
        i += replacement_.size();
      } else {
        out += token[i++];
      }
    }
    token.swap(out);
  }

 private:
  std::string replacement_;
  bool strip_first_;
};

class Identity final : public Decoder {
 public:
  void decode(std::string&, std::size_t) const override {}
};

class Sequence final : public Decoder {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Decoder>> parts) : parts_(std::move(parts)) {}
  void decode(std::string& token, std::size_t index) const override {
    for (const auto& p : parts_) p->decode(token, index);
  }
  bool has_byte_fallback() const override {
    for (const auto& p : parts_)
      if (p->has_byte_fallback()) return true;
    return false;
  }

 private:
  std::vector<std::unique_ptr<Decoder>> parts_;
};

std::unique_ptr<Decoder> make(const Json& j, const Where& w, bool& fused) {
  const std::string type = tokjson::type_of(j, w);
  if (type == "ByteLevel") return std::make_unique<ByteLevel>();
  if (type == "ByteFallback") return std::make_unique<ByteFallback>();
  if (type == "Fuse") {  // concatenation is what decoding does anyway
    fused = true;
    return std::make_unique<Identity>();
  }
  if (type == "Replace") {
    auto [pattern, literal] = tokjson::read_pattern(tokjson::member(j, "pattern", w), w / "pattern");
    return std::make_unique<Replace>(pattern, literal, tokjson::string_field(j, "content", w), tokjson::describe(w / "pattern"));
  }
  if (type == "Strip") {
    const std::string content = tokjson::string_field(j, "content", w);
    const long long start = tokjson::int_field(j, "start", w), stop = tokjson::int_field(j, "stop", w);
    if (start < 0 || stop < 0) tokjson::fail(w, "start and stop must be >= 0");
    return std::make_unique<Strip>(content, static_cast<std::size_t>(start), static_cast<std::size_t>(stop), fused);
  }
  if (type == "Metaspace") {
    std::string replacement = tokjson::optional_string(j, "replacement", w).value_or("\xE2\x96\x81");
    bool strip_first = tokjson::bool_field(j, "add_prefix_space", true, w);
    if (auto scheme = tokjson::optional_string(j, "prepend_scheme", w)) strip_first = *scheme != "never";
    return std::make_unique<Metaspace>(replacement, strip_first);
  }
  if (type == "Sequence") {
    const Json& list = tokjson::array_field(j, "decoders", w);
    std::vector<std::unique_ptr<Decoder>> parts;
    for (std::size_t i = 0; i < list.size(); ++i)
      if (auto d = make(list[i], (w / "decoders")[i], fused)) parts.push_back(std::move(d));
    return std::make_unique<Sequence>(std::move(parts));
  }
  tokjson::fail(w / "type", "unsupported decoder '", type, "' (supported: ByteLevel, ByteFallback, Fuse, Replace, Strip, Metaspace, Sequence)");
}

}  // namespace

std::unique_ptr<Decoder> make_decoder(const Json& j, const Where& w) {
  if (j.is_null()) return nullptr;
  bool fused = false;
  return make(j, w, fused);
}

}  // namespace hlwq
