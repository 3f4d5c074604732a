// The splitter must give the same reasoning/answer whatever the piece boundaries: checked
// against a whole-text reference at every split point (and every pair of split points) of
// sample streams, including tags cut in the middle and look-alike text.
#include <gtest/gtest.h>

#include "chat/reasoning_splitter.h"

using hlwq::chat::ReasoningDelta;
using hlwq::chat::ReasoningSplitter;

namespace {

// Reference on the complete text: find tags left to right, no streaming involved.
ReasoningDelta reference_split(const std::string& text, const ReasoningSplitter::Options& o) {
  ReasoningDelta out;
  bool in = o.start_in_reasoning;
  size_t pos = 0;
  auto add = [&](std::string part, bool reasoning, bool ends_with_tag) {
    if (o.strip_tag_newlines) {
      size_t b = part.find_first_not_of('\n');
      part = b == std::string::npos ? "" : part.substr(b);
      if (reasoning && ends_with_tag)
        while (!part.empty() && part.back() == '\n') part.pop_back();
    }
    (reasoning ? out.reasoning : out.answer) += part;
  };
  while (true) {
    const std::string& tag = in ? o.close_tag : o.open_tag;
    size_t f = text.find(tag, pos);
    if (f == std::string::npos) {
      std::string rest = text.substr(pos);
      add(rest, in, in);  // end of stream: trailing newlines of reasoning are dropped too
      return out;
    }
    add(text.substr(pos, f - pos), in, true);
    pos = f + tag.size();
    in = !in;
  }
}

ReasoningDelta stream(const std::vector<std::string>& pieces, const ReasoningSplitter::Options& o) {
  ReasoningSplitter s(o);
  ReasoningDelta total;
  for (const auto& p : pieces) {
    auto d = s.feed(p);
    total.reasoning += d.reasoning;
    total.answer += d.answer;
  }
  auto d = s.finish();
  total.reasoning += d.reasoning;
  total.answer += d.answer;
  return total;
}

const std::vector<std::string> kSamples = {
    "Let me think.\nStep 1.\n</think>\n\nThe answer is 42.",
    "\n</think>\n\nNo thoughts.",
    "<think>\nreasoning here\n</think>\n\nanswer",
    "plain answer with < and </ and </thi but no tag",
    "thinking with a fake </think tag and </thinking> words\n\n</think>answer <think> stays text?",
    "unterminated reasoning that ends mid-tag </thi",
    "多语言推理 🙂\n</think>\n\n答案：是的。",
    "",
};

void check_all_splits(const ReasoningSplitter::Options& o) {
  for (const auto& text : kSamples) {
    SCOPED_TRACE(text);
    ReasoningDelta expected = reference_split(text, o);
    EXPECT_EQ(stream({text}, o), expected);
    for (size_t i = 0; i <= text.size(); ++i) {
      EXPECT_EQ(stream({text.substr(0, i), text.substr(i)}, o), expected) << "split at " << i;
      for (size_t j = i; j <= text.size(); ++j)
        ASSERT_EQ(stream({text.substr(0, i), text.substr(i, j - i), text.substr(j)}, o), expected)
            << "split at " << i << "," << j;
    }
    std::vector<std::string> bytes;
    for (char c : text) bytes.emplace_back(1, c);
    EXPECT_EQ(stream(bytes, o), expected) << "byte by byte";
  }
}

}  // namespace

TEST(ReasoningSplitter, StartingInsideReasoningAnySplit) {
  ReasoningSplitter::Options o;
  o.start_in_reasoning = true;
  check_all_splits(o);
}

TEST(ReasoningSplitter, StartingOutsideAnySplit) { check_all_splits({}); }

TEST(ReasoningSplitter, KeepNewlinesAndCustomTags) {
  ReasoningSplitter::Options o;
  o.open_tag = "[THINK]";
  o.close_tag = "[/THINK]";
  o.strip_tag_newlines = false;
  for (const std::string& text : {std::string("[THINK]\nhmm\n[/THINK]\nyes"), std::string("[TH[THINK]x[/THIN[/THINK]")}) {
    ReasoningDelta expected = reference_split(text, o);
    for (size_t i = 0; i <= text.size(); ++i)
      EXPECT_EQ(stream({text.substr(0, i), text.substr(i)}, o), expected) << text << " split at " << i;
  }
}

TEST(ReasoningSplitter, QwenStreamConcreteResult) {
  ReasoningSplitter::Options o;
  o.start_in_reasoning = true;
  auto r = stream({"The user", " greets.\n</th", "ink>\n\nHel", "lo!"}, o);
  EXPECT_EQ(r.reasoning, "The user greets.");
  EXPECT_EQ(r.answer, "Hello!");
}

TEST(ReasoningSplitter, EmitsEagerly) {
  ReasoningSplitter::Options o;
  o.start_in_reasoning = true;
  ReasoningSplitter s(o);
  EXPECT_EQ(s.feed("abc").reasoning, "abc");  // nothing held back without a possible tag
  EXPECT_EQ(s.feed("de</").reasoning, "de");  // "</" might start </think>
  EXPECT_EQ(s.feed("b>").reasoning, "</b>");  // it did not
  EXPECT_TRUE(s.in_reasoning());
}
