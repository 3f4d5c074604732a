// Robustness: thousands of randomly mutated real templates (characters deleted, duplicated,
// swapped for template syntax) must each either render or fail with hlwq::Error; never crash,
// hang or throw anything else. Deterministic seed, so a failure is reproducible.
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <gtest/gtest.h>

#include "chat/chat_template.h"
#include "core/error.h"
#include "reference_runner.h"

namespace fs = std::filesystem;
using hlwq::chat::ChatTemplate;

TEST(ChatTemplateFuzz, MutatedTemplatesRenderOrFailCleanly) {
  std::vector<std::string> sources;
  for (const auto& e : fs::directory_iterator(hlwq::chat::test::test_dir() / "templates")) {
    if (e.path().extension() != ".jinja") continue;
    std::ifstream in(e.path());
    std::stringstream ss;
    ss << in.rdbuf();
    sources.push_back(ss.str());
  }
  ASSERT_FALSE(sources.empty());
  auto messages = nlohmann::ordered_json::parse(R"([
    {"role":"system","content":"sys"},{"role":"user","content":"hi"},
    {"role":"assistant","content":"<think>r</think>a","tool_calls":[{"id":"abcdefghi","function":{"name":"f","arguments":{"x":[1,2.5,null]}}}]},
    {"role":"tool","tool_call_id":"abcdefghi","content":"ok"},{"role":"user","content":[{"type":"text","text":"t"}]}])");
  hlwq::chat::RenderOptions options;
  options.tools = nlohmann::ordered_json::parse(R"([{"type":"function","function":{"name":"f","parameters":{}}}])");
  options.bos_token = "<s>";
  options.eos_token = "</s>";
  const char* snippets[] = {"{{", "}}", "{%", "%}", "{%-", "-%}", "(", ")", "[", "]", "|", "|length", " is ", " not ",
                            "'", "\"", ".", ":", "::-1", " + ", " ~ ", "{% endif %}", "{% endfor %}", "loop.", "ns.",
                            " if ", " else ", "*", "**", "//", "%", "-", "0", "1e999", "99999999999999999999", "\\"};
  std::mt19937 rng(12345);
  int rendered = 0, rejected = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::string s = sources[rng() % sources.size()];
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < edits && !s.empty(); ++k) {
      size_t pos = rng() % s.size();
      switch (rng() % 3) {
        case 0: s.erase(pos, 1 + rng() % 8); break;
        case 1: s.insert(pos, snippets[rng() % std::size(snippets)]); break;
        default: s.insert(pos, s.substr(rng() % s.size(), rng() % 40)); break;
      }
    }
    try {
      auto t = ChatTemplate::from_string(s, "fuzz");
      t.render(messages, options);
      ++rendered;
    } catch (const hlwq::Error& e) {
      ASSERT_EQ(e.kind(), hlwq::ErrorKind::Template) << e.what();
      ++rejected;
    } catch (const std::exception& e) {
      FAIL() << "non-hlwq exception " << e.what() << " for template:\n" << s;
    }
  }
  std::cout << "[chat fuzz] " << rendered << " rendered, " << rejected << " rejected with Error{Template}\n";
}
