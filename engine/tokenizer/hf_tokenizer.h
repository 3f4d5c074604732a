#pragma once
// A Hugging Face tokenizer.json with a BPE model: added tokens, normalizer, pre-tokenizer,
// model and decoder, run in HF's order.
#include <filesystem>
#include <memory>
#include <vector>

#include "tokenizer/added_vocabulary.h"
#include "tokenizer/bpe_model.h"
#include "tokenizer/decoder.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace hlwq {

class HfTokenizer final : public Tokenizer {
 public:
  // `source` names the file in error messages.
  HfTokenizer(const tokjson::Json& doc, const std::string& source);
  static std::unique_ptr<HfTokenizer> from_file(const std::filesystem::path& path);

  std::vector<int32_t> encode(std::string_view text, bool allow_special = true) const override;
  std::vector<int32_t> encode_with_plain_spans(std::string_view text, std::span<const ByteRange> plain) const override;
  std::vector<std::string> special_token_texts() const override;
  std::optional<int32_t> token_to_id(std::string_view token) const override;
  std::string id_to_token(int32_t id) const override;
  int32_t vocab_size() const override { return id_limit_; }
  bool is_special(int32_t id) const override;
  std::string token_bytes(int32_t id, Position at) const override;
  bool is_fallback_byte(int32_t id) const override {
    return id >= 0 && static_cast<std::size_t>(id) < fallback_byte_.size() && fallback_byte_[id];
  }

 private:
  void encode_text(std::string text, bool at_text_start, std::vector<int32_t>& out) const;

  std::unique_ptr<Normalizer> normalizer_;
  std::unique_ptr<PreTokenizer> pre_tokenizer_;
  std::unique_ptr<BpeModel> model_;
  std::unique_ptr<Decoder> decoder_;
  AddedVocabulary added_;
  std::vector<const AddedToken*> added_by_id_;
  std::vector<bool> fallback_byte_;  // by id: a <0xXX> model token under a ByteFallback decoder
  int32_t id_limit_ = 0;
};

}  // namespace hlwq
