#include "tokenizer/added_vocabulary.h"

#include <algorithm>

#include "tokenizer/normalizer.h"
#include "tokenizer/unicode.h"

namespace hlwq {

void AddedVocabulary::Trie::insert(std::string_view pattern, int32_t token) {
  if (pattern.empty()) return;
  first_byte[static_cast<unsigned char>(pattern[0])] = true;
  int32_t node = 0;
  for (unsigned char c : pattern) {
    auto& ch = nodes[node].children;
    auto it = std::find_if(ch.begin(), ch.end(), [c](const auto& p) { return p.first == c; });
    if (it == ch.end()) {
      const auto next = static_cast<int32_t>(nodes.size());
      nodes[node].children.emplace_back(c, next);
      nodes.emplace_back();
      node = next;
    } else {
      node = it->second;
    }
  }
  // HF lists special tokens before the others; the first pattern for a string wins.
  if (nodes[node].token < 0) nodes[node].token = token;
}

AddedVocabulary::AddedVocabulary(std::vector<AddedToken> tokens, const Normalizer* normalizer) : tokens_(std::move(tokens)) {
  // Special tokens first (HF builds its matcher from special then classic tokens).
  for (int pass = 0; pass < 2; ++pass)
    for (std::size_t i = 0; i < tokens_.size(); ++i) {
      const AddedToken& t = tokens_[i];
      if (t.special != (pass == 0)) continue;
      if (t.normalized) {
        std::string content = t.content;
        if (normalizer) normalizer->normalize(content);
        tries_[1].insert(content, static_cast<int32_t>(i));
      } else {
        tries_[0].insert(t.content, static_cast<int32_t>(i));
      }
    }
}

const AddedToken* AddedVocabulary::by_id(int32_t id) const {
  for (const auto& t : tokens_)
    if (t.id == id) return &t;
  return nullptr;
}

const AddedToken* AddedVocabulary::by_content(std::string_view content) const {
  for (const auto& t : tokens_)
    if (t.content == content) return &t;
  return nullptr;
}

bool AddedVocabulary::overlaps(std::span<const Tokenizer::ByteRange> ranges, std::size_t begin, std::size_t end) {
  const auto it = std::upper_bound(ranges.begin(), ranges.end(), begin,
                                   [](std::size_t at, const Tokenizer::ByteRange& r) { return at < r.end; });
  return it != ranges.end() && it->begin < end;
}

void AddedVocabulary::split(std::string_view text, bool normalized_set, std::span<const Tokenizer::ByteRange> plain,
                            std::vector<Span>& out) const {
  const Trie& trie = tries_[normalized_set ? 1 : 0];
  std::size_t emitted = 0;  // text before this is already in `out`
  std::size_t pos = 0;
  const std::size_t n = text.size();
  if (trie.nodes.size() > 1) {
    while (pos < n) {
      if (!trie.first_byte[static_cast<unsigned char>(text[pos])]) {
        ++pos;
        continue;
      }
      // Longest pattern starting at pos.
      int32_t node = 0, best = -1;
      std::size_t best_end = 0;
      for (std::size_t k = pos; k < n; ++k) {
        const auto c = static_cast<unsigned char>(text[k]);
        const auto& ch = trie.nodes[node].children;
        auto it = std::find_if(ch.begin(), ch.end(), [c](const auto& p) { return p.first == c; });
        if (it == ch.end()) break;
        node = it->second;
        if (trie.nodes[node].token >= 0) {
          best = trie.nodes[node].token;
          best_end = k + 1;
        }
      }
      if (best < 0) {
        ++pos;
        continue;
      }
      const AddedToken& t = tokens_[best];
      std::size_t start = pos, stop = best_end;
      pos = best_end;  // the scan resumes after a match, kept or not
      if (t.special && overlaps(plain, start, stop)) continue;
      if (t.single_word) {
        std::size_t s;
        const bool start_ok = start == 0 || !unicode::is_word(unicode::prev(text, start, s));
        std::size_t e = stop;
        const bool stop_ok = stop == n || !unicode::is_word(unicode::next(text, e));
        if (!start_ok || !stop_ok) continue;
      }
      if (t.lstrip) {
        while (start > emitted) {
          std::size_t s;
          if (!unicode::is_white_space(unicode::prev(text, start, s))) break;
          start = std::max(s, emitted);
        }
      }
      if (t.rstrip) {
        while (stop < n) {
          std::size_t e = stop;
          if (!unicode::is_white_space(unicode::next(text, e))) break;
          stop = e;
        }
        pos = stop;
      }
      if (emitted < start) out.push_back({emitted, start, -1});
      out.push_back({start, stop, t.id});
      emitted = stop;
    }
  }
  if (emitted < n) out.push_back({emitted, n, -1});
}

}  // namespace hlwq
