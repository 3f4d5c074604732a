#include "tokenizer/unicode.h"

#if HLWQ_HAVE_UTF8PROC
#include <utf8proc.h>
#endif

namespace hlwq::unicode {
namespace {

constexpr char32_t kReplacement = 0xFFFD;

// Length a lead byte promises and the allowed range of the second byte (which excludes
// overlong forms, surrogates and code points above U+10FFFF), per Unicode table 3-7.
struct Lead {
  int len;
  unsigned char lo, hi;
};

Lead lead(unsigned char b) {
  if (b < 0x80) return {1, 0, 0};
  if (b >= 0xC2 && b <= 0xDF) return {2, 0x80, 0xBF};
  if (b == 0xE0) return {3, 0xA0, 0xBF};
  if (b == 0xED) return {3, 0x80, 0x9F};
  if (b >= 0xE1 && b <= 0xEF) return {3, 0x80, 0xBF};
  if (b == 0xF0) return {4, 0x90, 0xBF};
  if (b >= 0xF1 && b <= 0xF3) return {4, 0x80, 0xBF};
  if (b == 0xF4) return {4, 0x80, 0x8F};
  return {0, 0, 0};
}

// Number of bytes of a valid sequence at s[i] (1..4), or -k where k >= 1 is the length of the
// maximal invalid subpart; `truncated` is set when the sequence is valid so far but s ends.
int sequence(std::string_view s, std::size_t i, bool& truncated) {
  truncated = false;
  const auto b = static_cast<unsigned char>(s[i]);
  const Lead l = lead(b);
  if (l.len == 1) return 1;
  if (l.len == 0) return -1;
  for (int k = 1; k < l.len; ++k) {
    if (i + k >= s.size()) {
      truncated = true;
      return -k;
    }
    const auto c = static_cast<unsigned char>(s[i + k]);
    const unsigned char lo = k == 1 ? l.lo : 0x80, hi = k == 1 ? l.hi : 0xBF;
    if (c < lo || c > hi) return -k;
  }
  return l.len;
}

}  // namespace

char32_t next(std::string_view s, std::size_t& i) {
  bool truncated;
  const int n = sequence(s, i, truncated);
  if (n < 0) {
    i += static_cast<std::size_t>(-n);
    return kReplacement;
  }
  const auto* p = reinterpret_cast<const unsigned char*>(s.data() + i);
  char32_t cp;
  switch (n) {
    case 1: cp = p[0]; break;
    case 2: cp = ((p[0] & 0x1Fu) << 6) | (p[1] & 0x3Fu); break;
    case 3: cp = ((p[0] & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu); break;
    default: cp = ((p[0] & 0x07u) << 18) | ((p[1] & 0x3Fu) << 12) | ((p[2] & 0x3Fu) << 6) | (p[3] & 0x3Fu);
  }
  i += static_cast<std::size_t>(n);
  return cp;
}

char32_t prev(std::string_view s, std::size_t end, std::size_t& start) {
  // Step back over at most 3 continuation bytes to a lead byte, then decode forward.
  std::size_t b = end - 1;
  for (int k = 0; k < 3 && b > 0 && (static_cast<unsigned char>(s[b]) & 0xC0) == 0x80; ++k) --b;
  std::size_t i = b;
  char32_t cp = next(s, i);
  if (i != end) {  // not one well-formed character ending exactly at end: treat the byte alone
    start = end - 1;
    return kReplacement;
  }
  start = b;
  return cp;
}

void append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string repair(std::string_view bytes, bool per_byte) {
  std::string out;
  out.reserve(bytes.size());
  std::size_t i = 0;
  while (i < bytes.size()) {
    bool truncated;
    const int n = sequence(bytes, i, truncated);
    if (n > 0) {
      out.append(bytes.data() + i, static_cast<std::size_t>(n));
      i += static_cast<std::size_t>(n);
    } else {
      for (int k = 0; k < (per_byte ? -n : 1); ++k) append(out, kReplacement);
      i += static_cast<std::size_t>(-n);
    }
  }
  return out;
}

std::size_t complete_prefix(std::string_view bytes) {
  // Only the last 3 bytes can hold an unfinished character.
  std::size_t i = bytes.size() > 3 ? bytes.size() - 3 : 0;
  while (i > 0 && (static_cast<unsigned char>(bytes[i]) & 0xC0) == 0x80) --i;
  while (i < bytes.size()) {
    bool truncated;
    const int n = sequence(bytes, i, truncated);
    if (truncated) return i;
    i += static_cast<std::size_t>(n > 0 ? n : -n);
  }
  return bytes.size();
}

bool is_white_space(char32_t cp) {
  switch (cp) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x20: case 0x85: case 0xA0:
    case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

bool is_word(char32_t cp) {
  if (cp < 0x80) return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || cp == '_';
  if (cp == 0x200C || cp == 0x200D) return true;  // Join_Control
#if !HLWQ_HAVE_UTF8PROC
  return true;  // without Unicode tables, treat other scripts as letters (the common case)
#else
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_PC:
      return true;
    default:
      return false;
  }
#endif
}

}  // namespace hlwq::unicode
