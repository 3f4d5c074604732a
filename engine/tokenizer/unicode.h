#pragma once
// The few Unicode facts the tokenizers need beyond PCRE2 and utf8proc: UTF-8 walking, the
// replacement of invalid bytes (as Rust's String::from_utf8_lossy does, which HF uses), and the
// \s / \w classes HF's added-token matching uses (Rust regex semantics).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace hlwq::unicode {

// Decodes the code point at s[i] and advances i; invalid bytes yield U+FFFD and advance by the
// length of the maximal invalid subpart (at least 1).
char32_t next(std::string_view s, std::size_t& i);
// The code point that ends at s[end) (end > 0), walking back; sets start.
char32_t prev(std::string_view s, std::size_t end, std::size_t& start);
void append(std::string& out, char32_t cp);

// Valid UTF-8 with each maximal invalid subpart replaced by U+FFFD (Unicode's recommended
// practice, the same as Rust's from_utf8_lossy), or with one U+FFFD per invalid byte
// (sentencepiece's choice).
std::string repair(std::string_view bytes, bool per_byte = false);
// Length of the longest prefix of `bytes` that can be emitted now: all but a trailing,
// still-valid start of a multi-byte character.
std::size_t complete_prefix(std::string_view bytes);

bool is_white_space(char32_t cp);  // the Unicode White_Space property
bool is_word(char32_t cp);          // \w: alphabetic, marks, decimal digits, connector punctuation, joiners

}  // namespace hlwq::unicode
