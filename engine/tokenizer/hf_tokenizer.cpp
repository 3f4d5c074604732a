#include "tokenizer/hf_tokenizer.h"

#include <algorithm>
#include <cstdio>

#include "core/error.h"
#include "core/mapped_file.h"
#include "tokenizer/unicode.h"

namespace hlwq {

using tokjson::Json;
using tokjson::Where;

namespace {

std::vector<AddedToken> read_added_tokens(const Json& doc, const Where& root) {
  std::vector<AddedToken> out;
  const Json* list = tokjson::optional_member(doc, "added_tokens");
  if (!list) return out;
  const Where w = root / "added_tokens";
  if (!list->is_array()) tokjson::fail(w, "expected an array");
  for (std::size_t i = 0; i < list->size(); ++i) {
    const Json& j = (*list)[i];
    const Where wi = w[i];
    AddedToken t;
    const long long id = tokjson::int_field(j, "id", wi);
    if (id < 0 || id > INT32_MAX) tokjson::fail(wi / "id", "out of range: ", std::to_string(id));
    t.id = static_cast<int32_t>(id);
    t.content = tokjson::string_field(j, "content", wi);
    if (t.content.empty()) tokjson::fail(wi / "content", "empty");
    t.special = tokjson::bool_field(j, "special", false, wi);
    t.lstrip = tokjson::bool_field(j, "lstrip", false, wi);
    t.rstrip = tokjson::bool_field(j, "rstrip", false, wi);
    t.single_word = tokjson::bool_field(j, "single_word", false, wi);
    t.normalized = tokjson::bool_field(j, "normalized", !t.special, wi);
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace

HfTokenizer::HfTokenizer(const Json& doc, const std::string& source) {
  const Where root{source, ""};
  if (!doc.is_object()) tokjson::fail(Where{source, "(root)"}, "expected a JSON object");
  const Json& model = tokjson::member(doc, "model", Where{source, "(root)"});
  const Where mw = root / "model";
  // Files written by older versions omit model.type; a vocab with merges is BPE.
  std::string type = tokjson::optional_string(model, "type", mw).value_or(model.contains("merges") ? "BPE" : "");
  if (type != "BPE")
    throw_error(ErrorKind::Tokenizer, source, ": model.type: unsupported tokenizer model '", type,
                "' (supported: BPE; sentencepiece models load from tokenizer.model)");
  model_ = std::make_unique<BpeModel>(model, mw);
  if (const Json* n = tokjson::optional_member(doc, "normalizer")) normalizer_ = make_normalizer(*n, root / "normalizer");
  if (const Json* p = tokjson::optional_member(doc, "pre_tokenizer")) pre_tokenizer_ = make_pre_tokenizer(*p, root / "pre_tokenizer");
  if (const Json* d = tokjson::optional_member(doc, "decoder")) decoder_ = make_decoder(*d, root / "decoder");
  added_ = AddedVocabulary(read_added_tokens(doc, root), normalizer_.get());

  id_limit_ = model_->id_limit();
  for (const auto& t : added_.tokens()) id_limit_ = std::max(id_limit_, t.id + 1);
  added_by_id_.assign(static_cast<std::size_t>(id_limit_), nullptr);
  for (const auto& t : added_.tokens()) added_by_id_[t.id] = &t;
  if (decoder_ && decoder_->has_byte_fallback()) {
    fallback_byte_.assign(static_cast<std::size_t>(id_limit_), false);
    char name[8];
    for (int b = 0; b < 256; ++b) {
      std::snprintf(name, sizeof name, "<0x%02X>", b);
      if (auto id = model_->token_to_id(name)) fallback_byte_[*id] = true;
    }
  }
}

std::unique_ptr<HfTokenizer> HfTokenizer::from_file(const std::filesystem::path& path) {
  const MappedFile file(path);
  Json doc;
  try {
    doc = Json::parse(reinterpret_cast<const char*>(file.data()), reinterpret_cast<const char*>(file.data()) + file.size());
  } catch (const Json::exception& e) {
    throw_error(ErrorKind::BadJson, path.string(), ": ", e.what());
  }
  return std::make_unique<HfTokenizer>(doc, path.string());
}

std::vector<int32_t> HfTokenizer::encode(std::string_view text, bool allow_special) const {
  const ByteRange all{0, text.size()};
  return encode_with_plain_spans(text, allow_special || text.empty() ? std::span<const ByteRange>{} : std::span(&all, 1));
}

std::vector<int32_t> HfTokenizer::encode_with_plain_spans(std::string_view text, std::span<const ByteRange> plain) const {
  check_ranges(text, plain);
  // PCRE2 and the normalizer need valid UTF-8; say where it breaks instead of guessing.
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t at = i;
    if (unicode::next(text, i) == 0xFFFD && text.compare(at, 3, "\xEF\xBF\xBD") != 0)
      throw_error(ErrorKind::InvalidArgument, "text to encode is not valid UTF-8 at byte ", std::to_string(at));
  }
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  // 1. Tokens matched on the raw text; 2. in each gap, normalise, then tokens matched on the
  // normalised text; 3. the rest goes through the pre-tokenizer and the model.
  std::vector<AddedVocabulary::Span> raw, normed;
  added_.split(text, false, plain, raw);
  for (const auto& span : raw) {
    if (span.id >= 0) {
      ids.push_back(span.id);
      continue;
    }
    std::string piece(text.substr(span.begin, span.end - span.begin));
    if (normalizer_) normalizer_->normalize(piece);
    // Offsets do not survive normalisation, so a gap that touches a plain range matches no
    // special token flagged `normalized` anywhere (such tokens are rare: HF defaults special
    // tokens to normalized=false).
    const ByteRange whole{0, piece.size()};
    const bool gap_plain = !piece.empty() && AddedVocabulary::overlaps(plain, span.begin, span.end);
    normed.clear();
    added_.split(piece, true, gap_plain ? std::span(&whole, 1) : std::span<const ByteRange>{}, normed);
    for (const auto& n : normed) {
      if (n.id >= 0)
        ids.push_back(n.id);
      else
        encode_text(piece.substr(n.begin, n.end - n.begin), span.begin == 0 && n.begin == 0, ids);
    }
  }
  return ids;
}

std::vector<std::string> HfTokenizer::special_token_texts() const {
  std::vector<std::string> out;
  for (const auto& t : added_.tokens())
    if (t.special) out.push_back(t.content);
  return out;
}

void HfTokenizer::encode_text(std::string text, bool at_text_start, std::vector<int32_t>& out) const {
  if (text.empty()) return;
  std::vector<std::string> pieces;
  pieces.push_back(std::move(text));
  if (pre_tokenizer_) pre_tokenizer_->pre_tokenize(pieces, at_text_start);
  for (const auto& p : pieces) model_->tokenize(p, out);
}

std::optional<int32_t> HfTokenizer::token_to_id(std::string_view token) const {
  if (const AddedToken* t = added_.by_content(token)) return t->id;
  return model_->token_to_id(token);
}

std::string HfTokenizer::id_to_token(int32_t id) const {
  if (id < 0 || id >= id_limit_) throw_error(ErrorKind::InvalidArgument, "token id ", std::to_string(id), " is outside the vocabulary (size ", std::to_string(id_limit_), ")");
  if (const AddedToken* t = added_by_id_[id]) return t->content;
  if (const std::string* s = model_->id_to_token(id)) return *s;
  throw_error(ErrorKind::InvalidArgument, "token id ", std::to_string(id), " is not in the vocabulary");
}

bool HfTokenizer::is_special(int32_t id) const {
  if (id < 0 || id >= id_limit_) return false;
  const AddedToken* t = added_by_id_[id];
  return t && t->special;
}

std::string HfTokenizer::token_bytes(int32_t id, Position at) const {
  std::string token = id_to_token(id);
  if (!decoder_) return at.tokens == 0 ? token : " " + token;  // HF joins undecoded tokens with spaces
  decoder_->decode(token, at.tokens);
  return token;
}

}  // namespace hlwq
