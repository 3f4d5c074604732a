#pragma once
// Text <-> token ids for every model family the engine runs: Hugging Face tokenizer.json (BPE,
// byte-level or sentencepiece-style) and sentencepiece tokenizer.model files, behind one
// interface. Ids must match the reference libraries exactly: one wrong id quietly degrades a
// model, so the implementations are tested differentially against HF `tokenizers` and
// `sentencepiece`.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hlwq {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // A model directory (tokenizer.json, else tokenizer.model) or one of those files.
  // Throws Error{Io} for a missing file, Error{Tokenizer} for a file we cannot use (the message
  // names the file and the field), Error{BadJson} for unparsable JSON.
  static std::unique_ptr<Tokenizer> load(const std::filesystem::path& model_dir_or_file);

  // Never adds BOS/EOS: the chat template's text carries them (as transformers'
  // apply_chat_template does). allow_special=false treats special-token strings in `text` as
  // plain text (user input that contains "<|im_end|>" must not end a turn).
  virtual std::vector<int32_t> encode(std::string_view text, bool allow_special = true) const = 0;

  // Always valid UTF-8: bytes that do not form a character become U+FFFD.
  // Throws Error{InvalidArgument} for an id outside [0, vocab_size()).
  virtual std::string decode(std::span<const int32_t> ids, bool skip_special = false) const;

  virtual std::optional<int32_t> token_to_id(std::string_view token) const = 0;
  virtual std::string id_to_token(int32_t id) const = 0;  // the vocabulary's spelling
  virtual int32_t vocab_size() const = 0;                 // highest id + 1, added tokens included
  virtual bool is_special(int32_t id) const = 0;          // control tokens (<|im_end|>, <s>)

  // The raw bytes token `id` adds to decoded text when it is the `index`-th token kept (0 =
  // first; some decoders drop a leading space there). May end inside a UTF-8 character;
  // decode() is the concatenation with invalid bytes repaired, which is what lets
  // StreamDecoder emit text token by token. Empty for a special token when skip_special.
  virtual std::string token_bytes(int32_t id, std::size_t index, bool skip_special) const = 0;
};

// Turns a stream of generated ids into text pieces: never emits half a UTF-8 character and
// never drops bytes. The concatenation of every push() and flush() equals
// tokenizer.decode(all ids, skip_special).
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool skip_special = false);
  std::string push(int32_t id);  // text completed by this id (may be empty)
  std::string flush();           // what is left (an unfinished character becomes U+FFFD); resets

 private:
  const Tokenizer& tokenizer_;
  bool skip_special_;
  std::size_t index_ = 0;  // tokens kept so far
  std::string pending_;    // bytes of a character still missing its continuation bytes
};

}  // namespace hlwq
