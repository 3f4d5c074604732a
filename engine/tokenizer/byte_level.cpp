#include "tokenizer/byte_level.h"

#include "tokenizer/unicode.h"

namespace hlwq::byte_level {
namespace {

struct Tables {
  std::array<std::string, 256> to_chars;
  std::array<int16_t, 324> to_byte;  // indexed by code point; every mapped one is < 0x144
  Tables() {
    to_byte.fill(-1);
    char32_t next_extra = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      const char32_t cp = printable ? static_cast<char32_t>(b) : next_extra++;
      unicode::append(to_chars[b], cp);
      to_byte[cp] = static_cast<int16_t>(b);
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

const std::array<std::string, 256>& byte_to_chars() { return tables().to_chars; }

std::optional<uint8_t> char_to_byte(char32_t cp) {
  const auto& t = tables().to_byte;
  if (cp >= t.size() || t[cp] < 0) return std::nullopt;
  return static_cast<uint8_t>(t[cp]);
}

void encode_append(std::string_view bytes, std::string& out) {
  const auto& map = tables().to_chars;
  for (unsigned char b : bytes) out += map[b];
}

bool decode_append(std::string_view chars, std::string& out) {
  std::size_t i = 0;
  while (i < chars.size()) {
    const auto b = char_to_byte(unicode::next(chars, i));
    if (!b) return false;
    out += static_cast<char>(*b);
  }
  return true;
}

}  // namespace hlwq::byte_level
