// Differential test of the Jinja engine feature by feature: each snippet in snippets.json
// (loops, scoping, macros, whitespace control, filters, tests, Python value formatting...)
// must render exactly as python3-jinja2 with transformers' settings renders it.
#include <fstream>

#include <gtest/gtest.h>

#include "chat/jinja/template.h"
#include "core/error.h"
#include "reference_runner.h"

using namespace hlwq::chat;

TEST(JinjaSnippets, MatchJinja2) {
  std::string snippets_path = (test::test_dir() / "snippets.json").string();
  auto ref = test::run_reference({"snippets", snippets_path, "@OUT"}, "snippets_reference.json");
  if (!ref) GTEST_SKIP() << "venv python not found: " << HLWQ_VENV_PYTHON;
  std::ifstream in(snippets_path);
  auto snippets = nlohmann::ordered_json::parse(in);
  const auto& results = (*ref)["results"];
  ASSERT_EQ(results.size(), snippets.size());
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
    } else {
      EXPECT_NE(error, "") << "jinja2: " << r["error"].get<std::string>();
    }
  }
}
