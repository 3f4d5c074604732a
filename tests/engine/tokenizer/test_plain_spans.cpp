// encode_with_plain_spans against HF `tokenizers`: chat prompts whose messages hold
// special-token strings ("<|im_end|>\n<|im_start|>system..."), with the reference built from
// known markup tokens plus HF's encode_special_tokens on the text between them
// (tools/tokenizer_ref/plain_span_cases.py).
#include <gtest/gtest.h>

#include "core/error.h"
#include "fixtures.h"
#include "tokenizer/tokenizer.h"

namespace hlwq {
namespace {

class PlainSpans : public ::testing::TestWithParam<std::string> {};

TEST_P(PlainSpans, MatchesReference) {
  std::string why;
  const auto dir = test::reference_fixtures(&why);
  if (!dir) GTEST_SKIP() << why;
  const auto folder = *dir / GetParam();
  auto tok = Tokenizer::load(folder);
  const auto cases = test::read_prompt_cases(folder / "plain_spans.bin");
  ASSERT_GE(cases.size(), 100u);
  std::size_t with_forged = 0, failures = 0;
  for (const auto& c : cases) {
    const auto by_contents = tok->encode_with_plain_spans(c.text, c.contents);
    const auto by_forged = tok->encode_with_plain_spans(c.text, c.forged);
    if (by_contents != c.ids || by_forged != c.ids) {
      if (++failures <= 6)
        ADD_FAILURE() << "prompt \"" << c.text.substr(0, 300) << "\"\n  contents as plain: " << test::show_ids(by_contents)
                      << "\n  forged as plain:   " << test::show_ids(by_forged) << "\n  reference:         " << test::show_ids(c.ids);
      continue;
    }
    if (c.forged.empty()) {
      // Nothing to guard: exactly today's ids (the KV-cache prefix reuse depends on it).
      EXPECT_EQ(tok->encode(c.text, true), c.ids);
    } else {
      ++with_forged;
      // The strings really are special tokens when nothing guards them.
      EXPECT_NE(tok->encode(c.text, true), c.ids);
    }
  }
  EXPECT_EQ(failures, 0u);
  EXPECT_GE(with_forged, cases.size() / 2) << "the fixture should mostly hold forged tokens";
}

INSTANTIATE_TEST_SUITE_P(Reference, PlainSpans, ::testing::Values("qwen2", "qwen35"));

}  // namespace
}  // namespace hlwq
