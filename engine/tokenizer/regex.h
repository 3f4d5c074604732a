#pragma once
// A PCRE2 pattern compiled once (UTF + UCP, JIT when available) and matched over whole texts.
// Tokenizer files write their split patterns for Oniguruma / Rust regex; the few places where
// PCRE2 reads them differently are translated on compile (see regex.cpp).
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace hlwq {

class Regex {
 public:
  // literal: the pattern is a plain string (HF's {"String": ...} patterns). Throws
  // Error{Tokenizer} naming `where` when PCRE2 rejects the pattern.
  Regex(std::string_view pattern, bool literal, const std::string& where);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Calls on_match(start, end) for each non-overlapping match, left to right.
  void for_each_match(std::string_view text, const std::function<void(std::size_t, std::size_t)>& on_match) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hlwq
