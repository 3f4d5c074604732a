#include "tokenizer/bpe_model.h"

#include <cstdio>
#include <queue>

#include "tokenizer/unicode.h"

namespace hlwq {

using tokjson::Json;
using tokjson::Where;

BpeModel::BpeModel(const Json& model, const Where& w) {
  if (const Json* d = tokjson::optional_member(model, "dropout")) {
    if (!d->is_number() || d->get<double>() != 0.0)
      tokjson::fail(w / "dropout", "BPE dropout randomises ids at inference; only null or 0 is supported");
  }
  const Json& vocab = tokjson::member(model, "vocab", w);
  if (!vocab.is_object()) tokjson::fail(w / "vocab", "expected an object of token -> id");
  vocab_.reserve(vocab.size());
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it->is_number_integer() || it->get<long long>() < 0 || it->get<long long>() > INT32_MAX)
      tokjson::fail(w / "vocab", "token '", it.key(), "' has id ", it->dump(), ", expected a non-negative integer");
    const auto id = static_cast<int32_t>(it->get<long long>());
    vocab_.emplace(it.key(), id);
    if (static_cast<std::size_t>(id) >= tokens_.size()) {
      tokens_.resize(static_cast<std::size_t>(id) + 1);
      has_token_.resize(static_cast<std::size_t>(id) + 1);
    }
    tokens_[id] = it.key();
    has_token_[id] = true;
  }
  continuing_subword_prefix_ = tokjson::optional_string(model, "continuing_subword_prefix", w).value_or("");
  end_of_word_suffix_ = tokjson::optional_string(model, "end_of_word_suffix", w).value_or("");
  fuse_unk_ = tokjson::bool_field(model, "fuse_unk", false, w);
  byte_fallback_ = tokjson::bool_field(model, "byte_fallback", false, w);
  ignore_merges_ = tokjson::bool_field(model, "ignore_merges", false, w);
  if (auto unk = tokjson::optional_string(model, "unk_token", w)) {
    unk_id_ = lookup(*unk);
    if (!unk_id_) tokjson::fail(w / "unk_token", "'", *unk, "' is not in model.vocab");
  }

  // Merges come as "a b" strings (older files) or ["a", "b"] pairs (newer ones, which allow
  // spaces inside tokens). A merge's rank is its position.
  const Json& merges = tokjson::array_field(model, "merges", w);
  const Where mw = w / "merges";
  merges_.reserve(merges.size());
  const std::size_t prefix_len = continuing_subword_prefix_.size();
  for (std::size_t i = 0; i < merges.size(); ++i) {
    const Json& m = merges[i];
    std::string a, b;
    if (m.is_string()) {
      const std::string& s = m.get_ref<const std::string&>();
      const auto space = s.find(' ');
      if (space == std::string::npos) tokjson::fail(mw[i], "'", s, "' is not two tokens separated by a space");
      a = s.substr(0, space);
      b = s.substr(space + 1);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      a = m[0].get<std::string>();
      b = m[1].get<std::string>();
    } else {
      tokjson::fail(mw[i], "expected \"a b\" or [\"a\", \"b\"], got ", m.dump());
    }
    const auto ia = lookup(a), ib = lookup(b);
    if (!ia) tokjson::fail(mw[i], "token '", a, "' is not in model.vocab");
    if (!ib) tokjson::fail(mw[i], "token '", b, "' is not in model.vocab");
    const std::string joined = a + (b.size() >= prefix_len ? b.substr(prefix_len) : b);
    const auto inew = lookup(joined);
    if (!inew) tokjson::fail(mw[i], "merged token '", joined, "' is not in model.vocab");
    merges_.try_emplace(pair_key(*ia, *ib), Merge{static_cast<int32_t>(i), *inew});
  }
}

std::optional<int32_t> BpeModel::lookup(std::string_view s) const {
  auto it = vocab_.find(s);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

std::optional<int32_t> BpeModel::token_to_id(std::string_view token) const { return lookup(token); }

const std::string* BpeModel::id_to_token(int32_t id) const {
  if (id < 0 || static_cast<std::size_t>(id) >= tokens_.size() || !has_token_[id]) return nullptr;
  return &tokens_[id];
}

void BpeModel::tokenize(std::string_view piece, std::vector<int32_t>& out) const {
  if (piece.empty()) return;
  if (ignore_merges_) {
    if (auto id = lookup(piece)) {
      out.push_back(*id);
      return;
    }
  }
  if (cache_.get(piece, out)) return;
  const std::size_t before = out.size();
  merge_word(piece, out);
  cache_.put(piece, out.data() + before, out.size() - before);
}

void BpeModel::merge_word(std::string_view piece, std::vector<int32_t>& out) const {
  struct Symbol {
    int32_t id;
    int32_t prev, next;
    bool alive;
  };
  std::vector<Symbol> symbols;
  symbols.reserve(piece.size());
  auto add = [&](int32_t id) {
    const auto n = static_cast<int32_t>(symbols.size());
    symbols.push_back({id, n - 1, n + 1, true});
  };

  // Initial symbols: one per character, else its bytes as <0xXX> tokens, else unk.
  std::string s;
  bool last_was_unk = false;
  std::size_t i = 0;
  while (i < piece.size()) {
    const std::size_t start = i;
    unicode::next(piece, i);
    s.clear();
    if (start > 0) s += continuing_subword_prefix_;
    s.append(piece.substr(start, i - start));
    if (i == piece.size()) s += end_of_word_suffix_;
    if (auto id = lookup(s)) {
      add(*id);
      last_was_unk = false;
      continue;
    }
    if (byte_fallback_) {
      std::vector<int32_t> bytes;
      char code[8];
      for (std::size_t k = start; k < i; ++k) {
        std::snprintf(code, sizeof code, "<0x%02X>", static_cast<unsigned>(static_cast<unsigned char>(piece[k])));
        auto id = lookup(code);
        if (!id) break;
        bytes.push_back(*id);
      }
      if (bytes.size() == i - start) {
        for (int32_t id : bytes) add(id);
        last_was_unk = false;
        continue;
      }
    }
    if (unk_id_) {  // without an unk token HF drops the character; so do we
      if (!(fuse_unk_ && last_was_unk)) add(*unk_id_);
      last_was_unk = true;
    }
  }
  if (symbols.empty()) return;
  symbols.back().next = -1;

  struct Candidate {
    int32_t rank, pos, new_id;
    bool operator<(const Candidate& o) const {  // priority_queue pops the largest: invert
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  std::priority_queue<Candidate> queue;
  auto find_merge = [&](int32_t a, int32_t b) -> const Merge* {
    auto it = merges_.find(pair_key(a, b));
    return it == merges_.end() ? nullptr : &it->second;
  };
  for (std::size_t k = 0; k + 1 < symbols.size(); ++k)
    if (const Merge* m = find_merge(symbols[k].id, symbols[k + 1].id)) queue.push({m->rank, static_cast<int32_t>(k), m->new_id});

  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& cur = symbols[top.pos];
    if (!cur.alive || cur.next < 0) continue;
    Symbol& right = symbols[cur.next];
    const Merge* m = find_merge(cur.id, right.id);
    if (!m || m->new_id != top.new_id) continue;  // stale: a neighbour changed since it was queued
    cur.id = top.new_id;
    right.alive = false;
    cur.next = right.next;
    if (cur.next >= 0) symbols[cur.next].prev = top.pos;
    if (cur.prev >= 0)
      if (const Merge* pm = find_merge(symbols[cur.prev].id, cur.id)) queue.push({pm->rank, cur.prev, pm->new_id});
    if (cur.next >= 0)
      if (const Merge* nm = find_merge(cur.id, symbols[cur.next].id)) queue.push({nm->rank, top.pos, nm->new_id});
  }
  for (int32_t k = 0; k >= 0; k = symbols[k].next) out.push_back(symbols[k].id);
}

}  // namespace hlwq
