#pragma once
// tokenizer.json "added_tokens": strings matched whole before any normalisation or BPE
// (<|im_start|>, <think>), with HF's flags: special (skippable in decode, can be disabled as
// text), lstrip/rstrip (swallow neighbouring whitespace), single_word (only between
// non-word characters), normalized (matched against the normalised text).
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/json_fields.h"
#include "tokenizer/tokenizer.h"

namespace hlwq {

class Normalizer;

struct AddedToken {
  int32_t id = 0;
  std::string content;
  bool special = false, lstrip = false, rstrip = false, single_word = false, normalized = true;
};

class AddedVocabulary {
 public:
  AddedVocabulary() = default;
  AddedVocabulary(std::vector<AddedToken> tokens, const Normalizer* normalizer);

  struct Span {
    std::size_t begin, end;
    int32_t id;  // -1: plain text between added tokens
  };
  // Splits text into added-token matches and the text between them (HF's leftmost-longest,
  // non-overlapping scan). normalized_set: match the tokens flagged normalized (their content
  // normalised) instead of the others. A special token whose match overlaps one of `plain`
  // (sorted byte ranges of text) stays text; the scan still resumes after it, as HF's does.
  void split(std::string_view text, bool normalized_set, std::span<const Tokenizer::ByteRange> plain,
             std::vector<Span>& out) const;

  // Whether [begin, end) overlaps one of `ranges` (sorted, non-overlapping).
  static bool overlaps(std::span<const Tokenizer::ByteRange> ranges, std::size_t begin, std::size_t end);

  const AddedToken* by_id(int32_t id) const;
  const AddedToken* by_content(std::string_view content) const;
  const std::vector<AddedToken>& tokens() const { return tokens_; }

 private:
  struct Trie {
    struct Node {
      std::vector<std::pair<unsigned char, int32_t>> children;
      int32_t token = -1;  // index into tokens_ when a pattern ends here
    };
    std::vector<Node> nodes{Node{}};
    bool first_byte[256] = {};
    void insert(std::string_view pattern, int32_t token);
  };
  std::vector<AddedToken> tokens_;
  Trie tries_[2];  // [0]: raw, [1]: normalized
};

}  // namespace hlwq
