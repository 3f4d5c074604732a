#include "tokenizer/sentencepiece_tokenizer.h"

#include <sentencepiece_processor.h>

#include "core/error.h"

namespace hlwq {

namespace {
constexpr std::string_view kSpaceSymbol = "\xE2\x96\x81";  // U+2581, sentencepiece's space
}

SentencePieceTokenizer::SentencePieceTokenizer(const std::filesystem::path& model_file)
    : sp_(std::make_unique<sentencepiece::SentencePieceProcessor>()), path_(model_file) {
  if (!std::filesystem::exists(model_file)) throw_error(ErrorKind::Io, model_file.string(), ": no such file");
  const auto status = sp_->Load(model_file.string());
  if (!status.ok()) throw_error(ErrorKind::Tokenizer, model_file.string(), ": not a sentencepiece model: ", status.ToString());
}

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

// sentencepiece never matches control pieces (<s>, </s>) in text, so allow_special has
// nothing to switch off; user-defined pieces always match, as in the reference library.
std::vector<int32_t> SentencePieceTokenizer::encode(std::string_view text, bool) const {
  std::vector<int> ids;
  const auto status = sp_->Encode(text, &ids);
  if (!status.ok()) throw_error(ErrorKind::InvalidArgument, path_.string(), ": cannot encode text: ", status.ToString());
  return {ids.begin(), ids.end()};
}

std::vector<int32_t> SentencePieceTokenizer::encode_with_plain_spans(std::string_view text, std::span<const ByteRange> plain) const {
  check_ranges(text, plain);
  return encode(text);
}

std::string SentencePieceTokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
  std::vector<int> keep;
  keep.reserve(ids.size());
  for (int32_t id : ids) {
    if (id < 0 || id >= vocab_size())
      throw_error(ErrorKind::InvalidArgument, "token id ", std::to_string(id), " is outside the vocabulary (size ", std::to_string(vocab_size()), ")");
    if (!(skip_special && is_special(id))) keep.push_back(id);
  }
  std::string out;
  const auto status = sp_->Decode(keep, &out);
  if (!status.ok()) throw_error(ErrorKind::InvalidArgument, path_.string(), ": cannot decode ids: ", status.ToString());
  return out;
}

std::optional<int32_t> SentencePieceTokenizer::token_to_id(std::string_view token) const {
  const int id = sp_->PieceToId(token);
  // PieceToId answers unk for unknown pieces; only the unk piece itself maps to it.
  if (id == sp_->unk_id() && sp_->IdToPiece(id) != token) return std::nullopt;
  return id;
}

std::string SentencePieceTokenizer::id_to_token(int32_t id) const {
  if (id < 0 || id >= vocab_size()) throw_error(ErrorKind::InvalidArgument, "token id ", std::to_string(id), " is outside the vocabulary (size ", std::to_string(vocab_size()), ")");
  return sp_->IdToPiece(id);
}

int32_t SentencePieceTokenizer::vocab_size() const { return sp_->GetPieceSize(); }

bool SentencePieceTokenizer::is_special(int32_t id) const { return id >= 0 && id < vocab_size() && sp_->IsControl(id); }

// Mirrors sentencepiece's own decoder piece by piece: control pieces are invisible, <0xXX>
// pieces are one byte, U+2581 is a space, and the first space of the text is dropped.
std::string SentencePieceTokenizer::token_bytes(int32_t id, Position at) const {
  if (sp_->IsControl(id)) return {};
  if (sp_->IsUnknown(id)) {
    std::string out;
    sp_->Decode(std::vector<int>{id}, &out).IgnoreError();
    return out;
  }
  std::string piece = sp_->IdToPiece(id);
  if (sp_->IsByte(id) && piece.size() == 6) return std::string(1, static_cast<char>(std::stoi(piece.substr(3, 2), nullptr, 16)));
  std::string_view p = piece;
  if (at.bytes == 0 && p.substr(0, kSpaceSymbol.size()) == kSpaceSymbol) p.remove_prefix(kSpaceSymbol.size());
  std::string out;
  for (std::size_t i = 0; i < p.size();) {
    if (p.compare(i, kSpaceSymbol.size(), kSpaceSymbol) == 0) {
      out += ' ';
      i += kSpaceSymbol.size();
    } else {
      out += p[i++];
    }
  }
  return out;
}

}  // namespace hlwq
