// Differential tests of the Jinja engine against python3-jinja2 (transformers' settings):
// - snippets.json: one small template per feature (loops, scoping, macros, whitespace
//   control, filters, tests, Python value formatting...);
// - a fuzzer's mutations of the real templates, where jinja2's verdict (output or failure)
//   must be ours too.
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "chat/jinja/template.h"
#include "core/error.h"
#include "reference_runner.h"

using namespace hlwq::chat;
namespace fs = std::filesystem;

namespace {

void compare_with_reference(const std::string& snippets_path, const std::string& out_name) {
  auto ref = test::run_reference({"snippets", snippets_path, "@OUT"}, out_name);
  if (!ref) GTEST_SKIP() << "venv python not found: " << HLWQ_VENV_PYTHON;
  std::ifstream in(snippets_path);
  auto snippets = nlohmann::ordered_json::parse(in);
  const auto& results = (*ref)["results"];
  ASSERT_EQ(results.size(), snippets.size());
  int rendered = 0;
  for (size_t i = 0; i < snippets.size(); ++i) {
    const auto& s = snippets[i];
    const auto& r = results[i];
    SCOPED_TRACE(s["name"].get<std::string>());
    jinja::DictObj vars;
    for (auto it = s["vars"].begin(); it != s["vars"].end(); ++it) vars.set(it.key(), jinja::from_json(it.value()));
    std::string got, error;
    try {
      jinja::Template t(s["template"].get<std::string>(), s["name"].get<std::string>());
      got = t.render(vars);
    } catch (const hlwq::Error& e) {
      error = e.what();
    }
    if (r["ok"].get<bool>()) {
      EXPECT_EQ(error, "");
      EXPECT_EQ(got, r["output"].get<std::string>());
      ++rendered;
    } else {
      EXPECT_NE(error, "") << "jinja2: " << r["error"].get<std::string>();
    }
  }
  std::cout << "[chat] " << snippets.size() << " snippets, " << rendered << " rendered by jinja2, all compared\n";
}

}  // namespace

TEST(JinjaSnippets, MatchJinja2) {
  // HLWQ_CHAT_SNIPPETS swaps in another snippet file.
  const char* override_path = std::getenv("HLWQ_CHAT_SNIPPETS");
  compare_with_reference(override_path ? override_path : (test::test_dir() / "snippets.json").string(),
                         "snippets_reference.json");
}

TEST(JinjaSnippets, MutatedRealTemplatesMatchJinja2) {
  if (test::reference_data_dir().empty()) GTEST_SKIP() << "HLWQ_REFERENCE_DATA not set";
  if (!fs::exists(HLWQ_VENV_PYTHON)) GTEST_SKIP() << "venv python not found";
  std::vector<std::string> templates;
  for (const fs::path& dir : {fs::path(test::reference_data_dir()) / "chat-templates", test::test_dir() / "templates"})
    for (const auto& e : fs::directory_iterator(dir))
      if (e.path().extension() == ".jinja") templates.push_back(e.path().string());
  fs::path fuzz = fs::path(HLWQ_CHAT_TEST_OUT) / "fuzz_snippets.json";
  std::string cmd = std::string("'") + HLWQ_VENV_PYTHON + "' '" + fs::path(HLWQ_TEMPLATE_REF_SCRIPT).parent_path().string() +
                    "/fuzz_snippets.py' '" + fuzz.string() + "' 7 300";
  for (const auto& t : templates) cmd += " '" + t + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  compare_with_reference(fuzz.string(), "fuzz_reference.json");
}
