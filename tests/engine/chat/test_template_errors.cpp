// Failures a user can cause: each is Error{Template} (or Io/BadJson for files) with a message
// that says where and what.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "chat/chat_template.h"
#include "core/error.h"

using hlwq::Error;
using hlwq::ErrorKind;
using hlwq::chat::ChatTemplate;
using hlwq::chat::RenderOptions;
namespace fs = std::filesystem;

namespace {

std::string error_of(const std::function<void()>& fn, ErrorKind expected_kind = ErrorKind::Template) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), expected_kind) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error thrown";
  return "";
}

nlohmann::ordered_json one_user() { return nlohmann::ordered_json::parse(R"([{"role":"user","content":"hi"}])"); }

fs::path temp_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("hlwq_chat_test_" + name + "_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}

void write(const fs::path& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; }

}  // namespace

TEST(ChatTemplateErrors, SyntaxErrorNamesTemplateLineAndColumn) {
  // Line 3, column 4 is where the unknown tag's name starts.
  std::string msg = error_of([] { ChatTemplate::from_string("line one\n{{ x }}\n{% frobnicate %}\n", "bad.jinja"); });
  EXPECT_NE(msg.find("bad.jinja:3:4"), std::string::npos) << msg;
  EXPECT_NE(msg.find("frobnicate"), std::string::npos) << msg;

  msg = error_of([] { ChatTemplate::from_string("{% if x %}\nunclosed", "open.jinja"); });
  EXPECT_NE(msg.find("open.jinja:2:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("endif"), std::string::npos) << msg;

  msg = error_of([] { ChatTemplate::from_string("ok\n  {{ 1 + }}", "expr.jinja"); });
  EXPECT_NE(msg.find("expr.jinja:2:10"), std::string::npos) << msg;

  msg = error_of([] { ChatTemplate::from_string("{{ 'abc }}", "str.jinja"); });
  EXPECT_NE(msg.find("str.jinja:1:4"), std::string::npos) << msg;

  msg = error_of([] { ChatTemplate::from_string("{{ x|nosuchfilter }}", "filter.jinja"); });
  EXPECT_NE(msg.find("nosuchfilter"), std::string::npos) << msg;
}

TEST(ChatTemplateErrors, UndefinedVariableMisuseIsAnError) {
  auto t = ChatTemplate::from_string("a\n{{ nothing.attr }}", "undef.jinja");
  std::string msg = error_of([&] { t.render(one_user()); });
  EXPECT_NE(msg.find("undef.jinja:2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'nothing' is undefined"), std::string::npos) << msg;

  auto t2 = ChatTemplate::from_string("{{ messages[0].nope + 'x' }}", "undef2.jinja");
  msg = error_of([&] { t2.render(one_user()); });
  EXPECT_NE(msg.find("has no attribute 'nope'"), std::string::npos) << msg;

  // Merely printing or testing an undefined value is fine, as in jinja2.
  auto ok = ChatTemplate::from_string("[{{ nothing }}{{ nothing is defined }}]", "ok.jinja");
  EXPECT_EQ(ok.render(one_user()), "[False]");
}

TEST(ChatTemplateErrors, RaiseExceptionCarriesTheTemplatesMessage) {
  auto t = ChatTemplate::from_string("{% if messages|length < 2 %}\n{{ raise_exception('Need two messages, got ' ~ messages|length) }}{% endif %}",
                                     "raise.jinja");
  std::string msg = error_of([&] { t.render(one_user()); });
  EXPECT_NE(msg.find("Need two messages, got 1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("raise.jinja"), std::string::npos) << msg;
}

TEST(ChatTemplateErrors, TypeErrorsAreReported) {
  auto t = ChatTemplate::from_string("{{ 'a' + 1 }}", "type.jinja");
  std::string msg = error_of([&] { t.render(one_user()); });
  EXPECT_NE(msg.find("can only concatenate str"), std::string::npos) << msg;
  auto t2 = ChatTemplate::from_string("{% for x in 5 %}{% endfor %}", "iter.jinja");
  msg = error_of([&] { t2.render(one_user()); });
  EXPECT_NE(msg.find("not iterable"), std::string::npos) << msg;
}

TEST(ChatTemplateErrors, BadInputsAndFiles) {
  auto t = ChatTemplate::chatml();
  error_of([&] { t.render(nlohmann::ordered_json::object()); }, ErrorKind::InvalidArgument);
  std::string msg = error_of([] { ChatTemplate::from_model_dir("/nonexistent/model"); }, ErrorKind::Io);
  EXPECT_NE(msg.find("/nonexistent/model"), std::string::npos);

  fs::path dir = temp_dir("errors");
  msg = error_of([&] { ChatTemplate::from_model_dir(dir); }, ErrorKind::Io);
  EXPECT_NE(msg.find("chat_template"), std::string::npos) << msg;
  write(dir / "tokenizer_config.json", "{ not json");
  error_of([&] { ChatTemplate::from_model_dir(dir); }, ErrorKind::BadJson);
  write(dir / "tokenizer_config.json", R"({"chat_template": 5})");
  error_of([&] { ChatTemplate::from_model_dir(dir); }, ErrorKind::BadJson);
  fs::remove_all(dir);
}

TEST(ChatTemplateLoading, TokenizerConfigStringListAndSpecialTokens) {
  fs::path dir = temp_dir("loading");
  write(dir / "tokenizer_config.json",
        R"({"bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>",
            "chat_template": [{"name": "default", "template": "{{ bos_token }}D{{ messages|length }}{{ eos_token }}"},
                              {"name": "tool_use", "template": "T{{ tools|length }}"}]})");
  auto t = ChatTemplate::from_model_dir(dir);
  EXPECT_EQ(t.template_names(), (std::vector<std::string>{"default", "tool_use"}));
  EXPECT_EQ(t.render(one_user()), "<s>D1</s>");
  RenderOptions with_tools;
  with_tools.tools = nlohmann::ordered_json::parse(R"([{"type":"function"}])");
  EXPECT_EQ(t.render(one_user(), with_tools), "T1");
  RenderOptions override_tokens;
  override_tokens.bos_token = "[B]";
  EXPECT_EQ(t.render(one_user(), override_tokens), "[B]D1</s>");

  // chat_template.jinja wins over the config's template; the config still gives the tokens.
  write(dir / "chat_template.jinja", "J{{ eos_token }}{% if enable_thinking is defined %}{{ enable_thinking }}{% endif %}\n");
  auto j = ChatTemplate::from_model_dir(dir);
  EXPECT_EQ(j.render(one_user()), "J</s>");
  RenderOptions thinking;
  thinking.enable_thinking = false;
  thinking.extra = {{"eos_token", "E"}};
  EXPECT_EQ(j.render(one_user(), thinking), "JEFalse");
  fs::remove_all(dir);
}

TEST(ChatTemplateLoading, ChatmlFallbackRendersPlainChatml) {
  auto t = ChatTemplate::chatml();
  auto msgs = nlohmann::ordered_json::parse(
      R"([{"role":"system","content":"S"},{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},
          {"role":"assistant","content":"c"}])");
  EXPECT_EQ(t.render(msgs),
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nab<|im_end|>\n<|im_start|>assistant\nc<|im_end|>\n"
            "<|im_start|>assistant\n");
  RenderOptions no_prompt;
  no_prompt.add_generation_prompt = false;
  EXPECT_EQ(t.render(nlohmann::json::parse(R"([{"role":"user","content":"x"}])"), no_prompt),
            "<|im_start|>user\nx<|im_end|>\n");
}

TEST(ChatTemplateErrors, HostileTemplatesFailCleanly) {
  // Deep nesting is refused at parse time instead of exhausting the stack.
  std::string deep = "{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}";
  std::string msg = error_of([&] { ChatTemplate::from_string(deep, "deep.jinja"); });
  EXPECT_NE(msg.find("nested too deeply"), std::string::npos) << msg;
  std::string blocks;
  for (int i = 0; i < 2000; ++i) blocks += "{% if true %}";
  error_of([&] { ChatTemplate::from_string(blocks, "blocks.jinja"); });

  // Runaway recursion, huge repetitions and 64-bit overflow are render errors.
  auto rec = ChatTemplate::from_string("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "rec.jinja");
  msg = error_of([&] { rec.render(one_user()); });
  EXPECT_NE(msg.find("recursed too deeply"), std::string::npos) << msg;
  auto big = ChatTemplate::from_string("{{ 'x' * 10000000000 }}", "big.jinja");
  error_of([&] { big.render(one_user()); });
  auto ovf = ChatTemplate::from_string("{{ 2 ** 64 }}", "ovf.jinja");
  msg = error_of([&] { ovf.render(one_user()); });
  EXPECT_NE(msg.find("overflow"), std::string::npos) << msg;
  auto range = ChatTemplate::from_string("{{ range(1000000)|length }}", "range.jinja");
  error_of([&] { range.render(one_user()); });
}
