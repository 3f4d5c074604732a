// Differential test: our tokenizers against HF `tokenizers` and `sentencepiece` on every book
// of the corpus plus hand-made hard cases. Pass = identical ids, exact round trip, identical
// decodes, and streaming decode equal to whole decode.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <thread>

#include "fixtures.h"
#include "tokenizer/tokenizer.h"

namespace hlwq {
namespace {

std::string snippet(const std::string& text) { return text.size() > 200 ? text.substr(0, 200) + "..." : text; }

bool valid_utf8(const std::string& s) {
  // Whatever repair() produced must be well-formed: decode it strictly.
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    int n = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (int k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += n;
  }
  return true;
}

class Differential : public ::testing::TestWithParam<std::string> {};

TEST_P(Differential, MatchesReference) {
  std::string why;
  const auto dir = test::reference_fixtures(&why);
  if (!dir) GTEST_SKIP() << why;
  if (GetParam() == "spm" && !HLWQ_TEST_HAVE_SENTENCEPIECE) GTEST_SKIP() << "built without libsentencepiece";
  const auto folder = *dir / GetParam();
  if (!std::filesystem::exists(folder / "cases.bin")) GTEST_SKIP() << "no reference fixture for " << GetParam() << " (library missing?)";
  std::unique_ptr<Tokenizer> tok;
  try {
    tok = Tokenizer::load(folder);
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  const auto cases = test::read_cases(folder / "cases.bin");
  std::size_t encoded = 0, decoded = 0, bytes = 0, failures = 0;
  // HLWQ_TEST_MAX_REPORTS raises how many mismatches are printed (default 8).
  const char* max_env = std::getenv("HLWQ_TEST_MAX_REPORTS");
  const std::size_t max_reports = max_env ? std::strtoul(max_env, nullptr, 10) : 8;
  auto report = [&](const std::string& what) {
    if (++failures <= max_reports) ADD_FAILURE() << what;
  };
  for (const auto& c : cases) {
    if (c.kind == 0 || c.kind == 4 || c.kind == 1) {
      const auto ids = tok->encode(c.text, c.kind != 1);
      ++encoded;
      bytes += c.text.size();
      if (ids != c.ids) {
        report("encode(kind " + std::to_string(c.kind) + ") of \"" + snippet(c.text) + "\"\n  ours: " + test::show_ids(ids) + "\n  ref:  " + test::show_ids(c.ids));
        continue;
      }
      if (c.kind == 0) {
        const std::string back = tok->decode(c.ids);
        if (back != c.text) report("round trip of \"" + snippet(c.text) + "\" gave \"" + snippet(back) + "\"");
      }
    } else {
      const bool skip = c.kind == 3;
      const std::string text = tok->decode(c.ids, skip);
      ++decoded;
      if (text != c.text) report("decode(skip=" + std::to_string(skip) + ") of " + test::show_ids(c.ids) + "\n  ours: \"" + snippet(text) + "\"\n  ref:  \"" + snippet(c.text) + "\"");
    }
    // Streaming: pieces are whole characters and add up to the whole decode.
    for (bool skip : {false, true}) {
      StreamDecoder stream(*tok, skip);
      std::string all;
      for (int32_t id : c.ids) {
        std::string piece = stream.push(id);
        if (!valid_utf8(piece)) report("stream piece is not valid UTF-8 for ids " + test::show_ids(c.ids));
        all += piece;
      }
      all += stream.flush();
      if (all != tok->decode(c.ids, skip)) report("stream decode differs from decode for ids " + test::show_ids(c.ids));
    }
  }
  // A loaded tokenizer is shared by the UI and the engine: encode from two threads at once
  // (the piece cache is the only mutable state) must give the reference ids too.
  std::vector<const test::Case*> sample;
  for (const auto& c : cases)
    if (c.kind == 0 && sample.size() < 400) sample.push_back(&c);
  std::atomic<std::size_t> thread_mismatches{0};
  auto worker = [&](std::size_t offset) {
    for (std::size_t k = 0; k < sample.size(); ++k) {
      const auto* c = sample[(k + offset) % sample.size()];
      if (tok->encode(c->text) != c->ids) ++thread_mismatches;
    }
  };
  std::thread a(worker, 0), b(worker, sample.size() / 2);
  a.join();
  b.join();
  EXPECT_EQ(thread_mismatches.load(), 0u) << "concurrent encodes differ from the reference";
  EXPECT_EQ(failures, 0u) << "mismatches (first 8 shown above)";
  EXPECT_GT(encoded, 100u);
  std::printf("[ %s ] %zu encodes (%zu bytes), %zu decodes compared\n", GetParam().c_str(), encoded, bytes, decoded);
}

INSTANTIATE_TEST_SUITE_P(Reference, Differential, ::testing::Values("qwen2", "qwen35", "qwen2_pairs", "llama3", "spbpe", "metaspace", "spm"));

}  // namespace
}  // namespace hlwq
