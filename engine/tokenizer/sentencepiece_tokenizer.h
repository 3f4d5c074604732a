#pragma once
// tokenizer.model files (Llama 2, Gemma, Mistral...) through Debian's libsentencepiece, so ids
// are the library's own.
#include <filesystem>
#include <memory>

#include "tokenizer/tokenizer.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace hlwq {

class SentencePieceTokenizer final : public Tokenizer {
 public:
  explicit SentencePieceTokenizer(const std::filesystem::path& model_file);
  ~SentencePieceTokenizer() override;

  std::vector<int32_t> encode(std::string_view text, bool allow_special = true) const override;
  std::vector<int32_t> encode_with_plain_spans(std::string_view text, std::span<const ByteRange> plain) const override;
  std::vector<std::string> special_token_texts() const override { return {}; }
  std::string decode(std::span<const int32_t> ids, bool skip_special = false) const override;
  std::optional<int32_t> token_to_id(std::string_view token) const override;
  std::string id_to_token(int32_t id) const override;
  int32_t vocab_size() const override;
  bool is_special(int32_t id) const override;
  std::string token_bytes(int32_t id, Position at) const override;
  bool replaces_each_invalid_byte() const override { return true; }

 private:
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
  std::filesystem::path path_;
};

}  // namespace hlwq
