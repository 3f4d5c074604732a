#pragma once
// GPT-2's byte <-> printable-character map used by byte-level BPE: every byte becomes one
// visible code point (printable Latin-1 bytes map to themselves, the rest to U+0100..), so a
// vocabulary of strings can cover arbitrary bytes.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hlwq::byte_level {

// The UTF-8 spelling of the character that stands for each byte.
const std::array<std::string, 256>& byte_to_chars();
// The byte a code point stands for, if it is one of the 256.
std::optional<uint8_t> char_to_byte(char32_t cp);

void encode_append(std::string_view bytes, std::string& out);  // bytes -> mapped characters
// Mapped characters -> bytes. Returns false (and leaves out unspecified) when some character
// is not in the map; the caller then uses the token's own bytes, as HF's decoder does.
bool decode_append(std::string_view chars, std::string& out);

}  // namespace hlwq::byte_level
