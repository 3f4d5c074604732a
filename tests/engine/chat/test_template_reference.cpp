// Differential test: every template in $HLWQ_REFERENCE_DATA/chat-templates and in
// templates/ here, times 68 generated conversations, must render byte-identically to
// python3-jinja2 set up as transformers sets it up; where jinja2 fails, we must fail too.
#include <chrono>
#include <filesystem>

#include <gtest/gtest.h>

#include "chat/chat_template.h"
#include "core/error.h"
#include "reference_runner.h"

namespace fs = std::filesystem;
using hlwq::chat::ChatTemplate;
using hlwq::chat::RenderOptions;

namespace {

std::vector<std::string> template_files() {
  std::vector<std::string> files;
  for (const fs::path& dir : {fs::path(hlwq::chat::test::reference_data_dir()) / "chat-templates",
                              hlwq::chat::test::test_dir() / "templates"}) {
    for (const auto& e : fs::directory_iterator(dir))
      if (e.path().extension() == ".jinja") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

RenderOptions options_for(const nlohmann::ordered_json& c) {
  RenderOptions o;
  o.add_generation_prompt = c.at("add_generation_prompt").get<bool>();
  if (c.contains("tools")) o.tools = c["tools"];
  if (c.contains("enable_thinking")) o.enable_thinking = c["enable_thinking"].get<bool>();
  if (c.contains("bos_token")) o.bos_token = c["bos_token"].get<std::string>();
  if (c.contains("eos_token")) o.eos_token = c["eos_token"].get<std::string>();
  return o;
}

}  // namespace

TEST(ChatTemplateReference, ConversationsMatchJinja2ByteForByte) {
  if (hlwq::chat::test::reference_data_dir().empty()) GTEST_SKIP() << "HLWQ_REFERENCE_DATA not set";
  auto files = template_files();
  ASSERT_GE(files.size(), 10u);
  std::vector<std::string> args{"conversations", "@OUT"};
  args.insert(args.end(), files.begin(), files.end());
  auto ref = hlwq::chat::test::run_reference(args, "template_reference.json");
  if (!ref) GTEST_SKIP() << "venv python not found: " << HLWQ_VENV_PYTHON;

  std::map<std::string, nlohmann::ordered_json> cases;
  for (const auto& c : (*ref)["cases"]) cases[c["id"].get<std::string>()] = c;
  ASSERT_GE(cases.size(), 50u);

  std::map<std::string, ChatTemplate> templates;
  for (const auto& f : files) templates.emplace(f, ChatTemplate::from_model_dir(f));

  int compared = 0, identical = 0, both_failed = 0;
  auto start = std::chrono::steady_clock::now();
  for (const auto& r : (*ref)["results"]) {
    const std::string tpl = r["template"].get<std::string>();
    const std::string id = r["case"].get<std::string>();
    const auto& c = cases.at(id);
    SCOPED_TRACE(tpl + " x " + id);
    ++compared;
    std::string got, error;
    try {
      got = templates.at(tpl).render(c["messages"], options_for(c));
    } catch (const hlwq::Error& e) {
      error = e.what();
      EXPECT_EQ(e.kind(), hlwq::ErrorKind::Template);
    }
    if (r["ok"].get<bool>()) {
      EXPECT_EQ(error, "");
      EXPECT_EQ(got, r["output"].get<std::string>());
      if (error.empty() && got == r["output"].get<std::string>()) ++identical;
    } else {
      EXPECT_NE(error, "") << "jinja2 failed with " << r["error"].get<std::string>() << " but we rendered:\n" << got;
      if (!error.empty()) ++both_failed;
    }
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "[chat] " << files.size() << " templates x " << cases.size() << " conversations: " << compared
            << " compared, " << identical << " byte-identical, " << both_failed << " rejected by both; C++ render time " << seconds * 1e3 / compared << " ms per conversation\n";
}
