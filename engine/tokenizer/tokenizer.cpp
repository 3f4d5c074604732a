#include "tokenizer/tokenizer.h"

#include "core/error.h"
#include "tokenizer/hf_tokenizer.h"
#include "tokenizer/unicode.h"
#if HLWQ_HAVE_SENTENCEPIECE
#include "tokenizer/sentencepiece_tokenizer.h"
#endif

namespace hlwq {

namespace fs = std::filesystem;

namespace {

// Ends a run of fallback-byte tokens: its bytes if they are valid UTF-8, else U+FFFD per byte.
void end_run(std::string& run, std::string& out) {
  if (run.empty()) return;
  if (unicode::repair(run) == run) {
    out += run;
  } else {
    for (std::size_t i = 0; i < run.size(); ++i) out += "\xEF\xBF\xBD";
  }
  run.clear();
}

std::unique_ptr<Tokenizer> load_sentencepiece(const fs::path& path) {
#if HLWQ_HAVE_SENTENCEPIECE
  return std::make_unique<SentencePieceTokenizer>(path);
#else
  throw_error(ErrorKind::Tokenizer, path.string(), ": sentencepiece models need libsentencepiece, which this build lacks");
#endif
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::load(const fs::path& model_dir_or_file) {
  std::error_code ec;
  if (fs::is_directory(model_dir_or_file, ec)) {
    if (fs::exists(model_dir_or_file / "tokenizer.json")) return HfTokenizer::from_file(model_dir_or_file / "tokenizer.json");
    if (fs::exists(model_dir_or_file / "tokenizer.model")) return load_sentencepiece(model_dir_or_file / "tokenizer.model");
    throw_error(ErrorKind::Io, model_dir_or_file.string(), ": no tokenizer.json or tokenizer.model in this folder");
  }
  if (!fs::exists(model_dir_or_file, ec)) throw_error(ErrorKind::Io, model_dir_or_file.string(), ": no such file or folder");
  // A .json is HF's format; anything else is tried as a sentencepiece model (its files are
  // protobuf, which has no magic number to check).
  if (model_dir_or_file.extension() == ".json") return HfTokenizer::from_file(model_dir_or_file);
  return load_sentencepiece(model_dir_or_file);
}

void Tokenizer::check_ranges(std::string_view text, std::span<const ByteRange> ranges) {
  std::size_t after = 0;
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    const ByteRange& r = ranges[i];
    if (r.begin < after || r.end <= r.begin || r.end > text.size())
      throw_error(ErrorKind::InvalidArgument, "plain-text range ", std::to_string(i), " [", std::to_string(r.begin), ", ",
                  std::to_string(r.end), ") is empty, unsorted, overlaps the one before or lies outside the ",
                  std::to_string(text.size()), "-byte text");
    after = r.end;
  }
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
  std::string bytes, run;
  Position at;
  for (int32_t id : ids) {
    if (id < 0 || id >= vocab_size())
      throw_error(ErrorKind::InvalidArgument, "token id ", std::to_string(id), " is outside the vocabulary (size ", std::to_string(vocab_size()), ")");
    if (skip_special && is_special(id)) continue;
    const std::string b = token_bytes(id, at);
    if (is_fallback_byte(id)) {
      run += b;
    } else {
      end_run(run, bytes);
      bytes += b;
    }
    at = {at.tokens + 1, bytes.size() + run.size()};
  }
  end_run(run, bytes);
  return unicode::repair(bytes, replaces_each_invalid_byte());
}

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool skip_special) : tokenizer_(tokenizer), skip_special_(skip_special) {}

std::string StreamDecoder::push(int32_t id) {
  if (id < 0 || id >= tokenizer_.vocab_size())
    throw_error(ErrorKind::InvalidArgument, "token id ", std::to_string(id), " is outside the vocabulary (size ", std::to_string(tokenizer_.vocab_size()), ")");
  if (skip_special_ && tokenizer_.is_special(id)) return {};
  const std::string bytes = tokenizer_.token_bytes(id, at_);
  at_ = {at_.tokens + 1, at_.bytes + bytes.size()};
  if (tokenizer_.is_fallback_byte(id)) {  // held until the run ends
    run_ += bytes;
    return {};
  }
  end_run(run_, pending_);
  pending_ += bytes;
  // Everything up to a still-unfinished last character can go out now; invalid bytes become
  // U+FFFD exactly as decode() would make them, since that choice never depends on later bytes.
  const std::size_t n = unicode::complete_prefix(pending_);
  std::string out = unicode::repair(std::string_view(pending_).substr(0, n), tokenizer_.replaces_each_invalid_byte());
  pending_.erase(0, n);
  return out;
}

std::string StreamDecoder::flush() {
  end_run(run_, pending_);
  std::string out = unicode::repair(pending_, tokenizer_.replaces_each_invalid_byte());
  pending_.clear();
  at_ = {};
  return out;
}

}  // namespace hlwq
