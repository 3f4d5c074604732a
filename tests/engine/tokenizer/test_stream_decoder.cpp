// StreamDecoder on a hand-built byte-level vocabulary: splits inside characters, invalid bytes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace hlwq {
namespace {

// A vocabulary of the 256 byte-level characters only (no merges): every id is one raw byte,
// which is the hardest case for a streaming decoder. Bytes are mapped as GPT-2 does.
std::filesystem::path byte_vocab_file() {
  std::string json = R"({"model": {"type": "BPE", "vocab": {)";
  int cp = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    const int c = printable ? b : cp++;
    std::string u8;
    if (c < 0x80) {
      u8 = std::string(1, static_cast<char>(c));
      if (c == '"' || c == '\\') u8 = "\\" + u8;
    } else {
      u8 += static_cast<char>(0xC0 | (c >> 6));
      u8 += static_cast<char>(0x80 | (c & 0x3F));
    }
    json += (b ? "," : "") + std::string("\"") + u8 + "\": " + std::to_string(b);
  }
  json += R"(}, "merges": []}, "decoder": {"type": "ByteLevel"},
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false},
    "added_tokens": [{"id": 256, "content": "<|im_end|>", "special": true}]})";
  const auto path = std::filesystem::temp_directory_path() / ("hlwq_byte_vocab_" + std::to_string(::getpid()) + ".json");
  std::ofstream(path) << json;
  return path;
}

std::vector<int32_t> bytes_of(const std::string& s) {
  std::vector<int32_t> ids;
  for (unsigned char c : s) ids.push_back(c);
  return ids;
}

TEST(StreamDecoder, NeverSplitsCharactersNorDropsBytes) {
  const auto path = byte_vocab_file();
  auto tok = Tokenizer::load(path);
  std::filesystem::remove(path);
  const std::string text = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80z";  // a é € 😀 z
  StreamDecoder s(*tok);
  std::vector<std::string> pieces;
  for (int32_t id : bytes_of(text)) pieces.push_back(s.push(id));
  pieces.push_back(s.flush());
  const std::vector<std::string> want = {"a", "", "\xC3\xA9", "", "", "\xE2\x82\xAC", "", "", "", "\xF0\x9F\x98\x80", "z", ""};
  EXPECT_EQ(pieces, want);
  EXPECT_EQ(tok->encode(text), bytes_of(text));
}

TEST(StreamDecoder, InvalidBytesBecomeReplacementLikeDecode) {
  const auto path = byte_vocab_file();
  auto tok = Tokenizer::load(path);
  std::filesystem::remove(path);
  // A lone continuation byte, a lead byte followed by ASCII, a truncated character at the end.
  const std::string bytes = "x\x80y\xE2\x82z\xF0\x9F\x98";
  const auto ids = bytes_of(bytes);
  StreamDecoder s(*tok);
  std::string all;
  for (int32_t id : ids) all += s.push(id);
  all += s.flush();
  // U+FFFD per maximal invalid subpart (Unicode's recommended practice, Rust's from_utf8_lossy).
  EXPECT_EQ(all, "x\xEF\xBF\xBDy\xEF\xBF\xBDz\xEF\xBF\xBD");
  EXPECT_EQ(all, tok->decode(ids));
}

TEST(StreamDecoder, SkipsSpecialTokensWhenAsked) {
  const auto path = byte_vocab_file();
  auto tok = Tokenizer::load(path);
  std::filesystem::remove(path);
  StreamDecoder keep(*tok), skip(*tok, true);
  EXPECT_EQ(keep.push(256), "<|im_end|>");
  EXPECT_EQ(skip.push(256), "");
  EXPECT_TRUE(tok->is_special(256));
  EXPECT_EQ(tok->encode("hi<|im_end|>"), (std::vector<int32_t>{'h', 'i', 256}));
  EXPECT_EQ(tok->encode("<|im_end|>", false).size(), 10u);
  EXPECT_THROW(keep.push(257), Error);
}

}  // namespace
}  // namespace hlwq
