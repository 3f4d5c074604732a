#pragma once
// tokenizer.json "model" of type BPE: vocabulary, ranked merges, and the merge loop that turns
// one pre-tokenized piece into ids (lowest rank first, leftmost first on ties, as HF does).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/json_fields.h"
#include "tokenizer/piece_cache.h"

namespace hlwq {

class BpeModel {
 public:
  BpeModel(const tokjson::Json& model, const tokjson::Where& where);

  void tokenize(std::string_view piece, std::vector<int32_t>& out) const;  // appends ids
  std::optional<int32_t> token_to_id(std::string_view token) const;
  const std::string* id_to_token(int32_t id) const;  // nullptr for an id the vocabulary lacks
  int32_t id_limit() const { return static_cast<int32_t>(tokens_.size()); }

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  struct Merge {
    int32_t rank;
    int32_t new_id;
  };
  static uint64_t pair_key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }

  void merge_word(std::string_view piece, std::vector<int32_t>& out) const;
  std::optional<int32_t> lookup(std::string_view s) const;

  std::unordered_map<std::string, int32_t, Hash, std::equal_to<>> vocab_;
  std::vector<std::string> tokens_;  // by id; ids the file skips hold ""
  std::vector<bool> has_token_;
  std::unordered_map<uint64_t, Merge> merges_;
  std::optional<int32_t> unk_id_;
  std::string continuing_subword_prefix_, end_of_word_suffix_;
  bool fuse_unk_ = false, byte_fallback_ = false, ignore_merges_ = false;

  mutable PieceCache cache_;
};

}  // namespace hlwq
