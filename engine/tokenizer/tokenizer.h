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

  // Bytes [begin, end) of a text.
  struct ByteRange {
    std::size_t begin = 0, end = 0;
  };
  // encode(text, true), except that a special token is not matched where its string overlaps
  // one of `plain` (non-empty, sorted, non-overlapping): there it is plain text, as encode(text, false)
  // makes it everywhere. A chat prompt passes the special-token strings that came from the
  // messages, so the template's markup keeps its control tokens while a user's "<|im_end|>"
  // cannot end a turn. Non-special added tokens (<think>) still match, as in HF's
  // encode_special_tokens. With no ranges the ids are exactly encode(text, true)'s.
  // Throws Error{InvalidArgument} for a range that is unsorted or outside the text.
  virtual std::vector<int32_t> encode_with_plain_spans(std::string_view text, std::span<const ByteRange> plain) const = 0;
  // The strings encode(text, true) turns into special tokens (what encode_with_plain_spans
  // can switch off); empty when the format never matches control tokens in text.
  virtual std::vector<std::string> special_token_texts() const = 0;

  // Always valid UTF-8: bytes that do not form a character become U+FFFD.
  // Throws Error{InvalidArgument} for an id outside [0, vocab_size()).
  virtual std::string decode(std::span<const int32_t> ids, bool skip_special = false) const;

  virtual std::optional<int32_t> token_to_id(std::string_view token) const = 0;
  virtual std::string id_to_token(int32_t id) const = 0;  // the vocabulary's spelling
  virtual int32_t vocab_size() const = 0;                 // highest id + 1, added tokens included
  virtual bool is_special(int32_t id) const = 0;          // control tokens (<|im_end|>, <s>)

  // Where a token lands in decoded text: how many tokens were kept before it and how many
  // bytes they produced (decoders drop a leading space at the start of the text).
  struct Position {
    std::size_t tokens = 0;
    std::size_t bytes = 0;
  };
  // The raw bytes token `id` adds to decoded text at `at`. May end inside a UTF-8 character;
  // decode() is the concatenation with invalid bytes repaired, which is what lets
  // StreamDecoder emit text token by token. Callers drop special tokens they skip first.
  virtual std::string token_bytes(int32_t id, Position at) const = 0;
  // How invalid bytes are repaired: one U+FFFD per maximal invalid subpart (HF, Rust), or one
  // per byte (sentencepiece).
  virtual bool replaces_each_invalid_byte() const { return false; }
  // A token that stands for one raw byte under HF's ByteFallback decoder, which judges a run of
  // them as a whole: a run that is not valid UTF-8 becomes one U+FFFD per byte.
  virtual bool is_fallback_byte(int32_t) const { return false; }

 protected:
  // The check encode_with_plain_spans promises: throws Error{InvalidArgument} naming the range.
  static void check_ranges(std::string_view text, std::span<const ByteRange> ranges);
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
  Tokenizer::Position at_;
  std::string run_;        // bytes of consecutive fallback-byte tokens, judged when the run ends
  std::string pending_;    // bytes of a character still missing its continuation bytes
};

}  // namespace hlwq
