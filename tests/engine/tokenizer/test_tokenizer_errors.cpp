// Bad tokenizer files give an Error that names the file and the field at fault.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace hlwq {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() : path_(fs::temp_directory_path() / ("hlwq_tok_err_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++))) {
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  fs::path write(const std::string& name, const std::string& body) const {
    std::ofstream(path_ / name, std::ios::binary) << body;
    return path_ / name;
  }
  const fs::path& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

const char* kGood = R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}})";

// Loads `json` as a tokenizer.json and returns the error (kind and message) it raises.
Error load_error(const std::string& json) {
  TempDir dir;
  const auto path = dir.write("tokenizer.json", json);
  try {
    Tokenizer::load(path);
  } catch (const Error& e) {
    return e;
  }
  return Error(ErrorKind::Internal, "no error");
}

void expect_error(const std::string& json, ErrorKind kind, const std::vector<std::string>& fragments) {
  const Error e = load_error(json);
  EXPECT_EQ(e.kind(), kind) << e.what();
  for (const auto& f : fragments) EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << "'" << f << "' not in: " << e.what();
}

TEST(TokenizerErrors, GoodMinimalFileLoads) {
  TempDir dir;
  auto tok = Tokenizer::load(dir.write("tokenizer.json", kGood));
  EXPECT_EQ(tok->encode("abab"), (std::vector<int32_t>{2, 2}));
  EXPECT_EQ(tok->vocab_size(), 3);
}

TEST(TokenizerErrors, BadPlainRangesNameTheRange) {
  TempDir dir;
  auto tok = Tokenizer::load(dir.write("tokenizer.json", R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2},
      "merges": ["a b"]}, "added_tokens": [{"id": 3, "content": "<e>", "special": true}]})"));
  const std::string text = "ab<e>ab";
  using R = Tokenizer::ByteRange;
  EXPECT_EQ(tok->encode_with_plain_spans(text, {}), tok->encode(text, true));
  EXPECT_EQ(tok->encode_with_plain_spans(text, std::vector<R>{{2, 5}}), tok->encode(text, false));
  EXPECT_EQ(tok->encode_with_plain_spans(text, std::vector<R>{{4, 6}}), tok->encode(text, false));  // overlap is enough
  EXPECT_EQ(tok->encode_with_plain_spans(text, std::vector<R>{{0, 2}, {5, 7}}), tok->encode(text, true));
  for (const auto& bad : {std::vector<R>{{3, 9}}, std::vector<R>{{4, 4}}, std::vector<R>{{4, 6}, {0, 2}}, std::vector<R>{{0, 3}, {2, 4}}}) {
    try {
      tok->encode_with_plain_spans(text, bad);
      ADD_FAILURE() << "no error for a bad range";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument);
      EXPECT_NE(std::string(e.what()).find("plain-text range"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(tok->special_token_texts(), std::vector<std::string>{"<e>"});
}

TEST(TokenizerErrors, UnparsableJson) { expect_error("{\"model\": ", ErrorKind::BadJson, {"tokenizer.json"}); }

TEST(TokenizerErrors, UnknownModelType) {
  expect_error(R"({"model": {"type": "WordPiece", "vocab": {}}})", ErrorKind::Tokenizer, {"tokenizer.json", "model.type", "WordPiece"});
  expect_error(R"({"model": {"type": "Unigram", "vocab": []}})", ErrorKind::Tokenizer, {"model.type", "Unigram"});
}

TEST(TokenizerErrors, MissingOrMistypedFieldsAreNamed) {
  expect_error(R"({"normalizer": null})", ErrorKind::Tokenizer, {"model", "missing"});
  expect_error(R"({"model": {"type": "BPE", "merges": []}})", ErrorKind::Tokenizer, {"model.vocab", "missing"});
  expect_error(R"({"model": {"type": "BPE", "vocab": {"a": "zero"}, "merges": []}})", ErrorKind::Tokenizer, {"model.vocab", "'a'"});
  expect_error(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": "a b"}})", ErrorKind::Tokenizer, {"model.merges", "array"});
  expect_error(R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["ab"]}})", ErrorKind::Tokenizer, {"model.merges[0]"});
  expect_error(R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": [["a", "b"]]}})", ErrorKind::Tokenizer,
               {"model.merges[0]", "'ab'"});
  expect_error(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [["a", "c"]]}})", ErrorKind::Tokenizer, {"model.merges[0]", "'c'"});
  expect_error(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [], "unk_token": "<unk>"}})", ErrorKind::Tokenizer,
               {"model.unk_token", "<unk>"});
  expect_error(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [], "dropout": 0.1}})", ErrorKind::Tokenizer, {"model.dropout"});
  expect_error(R"({"model": {"type": "BPE", "vocab": {}, "merges": []}, "added_tokens": [{"content": "<s>"}]})", ErrorKind::Tokenizer,
               {"added_tokens[0].id", "missing"});
  expect_error(R"({"model": {"type": "BPE", "vocab": {}, "merges": []}, "added_tokens": [{"id": 0, "content": "<s>", "special": "yes"}]})",
               ErrorKind::Tokenizer, {"added_tokens[0].special"});
}

TEST(TokenizerErrors, UnknownComponentsAreNamed) {
  const std::string model = R"("model": {"type": "BPE", "vocab": {"a": 0}, "merges": []})";
  expect_error("{" + model + R"(, "normalizer": {"type": "Fancy"}})", ErrorKind::Tokenizer, {"normalizer.type", "Fancy"});
  expect_error("{" + model + R"(, "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "Nope"}]}})",
               ErrorKind::Tokenizer, {"normalizer.normalizers[1].type", "Nope"});
  expect_error("{" + model + R"(, "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(unclosed"}, "behavior": "Isolated"}})",
               ErrorKind::Tokenizer, {"pre_tokenizer.pattern", "(unclosed"});
  expect_error("{" + model + R"(, "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "a"}, "behavior": "Sideways"}})",
               ErrorKind::Tokenizer, {"pre_tokenizer.behavior", "Sideways"});
  expect_error("{" + model + R"(, "decoder": {"type": "Mystery"}})", ErrorKind::Tokenizer, {"decoder.type", "Mystery"});
}

TEST(TokenizerErrors, MissingFilesAndFolders) {
  TempDir dir;
  EXPECT_THROW(
      {
        try {
          Tokenizer::load(dir.path());
        } catch (const Error& e) {
          EXPECT_EQ(e.kind(), ErrorKind::Io);
          EXPECT_NE(std::string(e.what()).find("tokenizer.json"), std::string::npos);
          throw;
        }
      },
      Error);
  EXPECT_THROW(Tokenizer::load(dir.path() / "nope.json"), Error);
  // A file that is neither JSON nor a sentencepiece model.
  const auto junk = dir.write("tokenizer.model", "definitely not protobuf");
  try {
    Tokenizer::load(junk);
    ADD_FAILURE() << "junk tokenizer.model loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer.model"), std::string::npos) << e.what();
  }
}

TEST(TokenizerErrors, BadInputsToEncodeAndDecode) {
  TempDir dir;
  auto tok = Tokenizer::load(dir.write("tokenizer.json", kGood));
  EXPECT_THROW(tok->encode("a\xFF"), Error);
  const std::vector<int32_t> bad = {0, 7};
  EXPECT_THROW(tok->decode(bad), Error);
  EXPECT_THROW(tok->id_to_token(-1), Error);
  EXPECT_EQ(tok->token_to_id("ab"), 2);
  EXPECT_FALSE(tok->token_to_id("zz").has_value());
}

}  // namespace
}  // namespace hlwq
