// `hlwq template`: renders a conversation with a model's own chat template and prints the
// prompt exactly (bytes unchanged, no newline added), for users debugging prompts and for tests.
#if HLWQ_HAVE_CHAT
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "args.h"
#include "chat/chat_template.h"
#include "command.h"
#include "core/error.h"

namespace hlwq::cli {
namespace {

constexpr const char* kUsage =
    "usage: hlwq template -m MODEL_DIR_OR_TEMPLATE_FILE --messages FILE.json [--no-generation-prompt]\n"
    "                     [--thinking on|off] [--tools FILE.json] [--chatml]\n"
    "  prints the prompt the model's chat template makes of the conversation in FILE.json (a JSON\n"
    "  array of messages, or an object with \"messages\" and optionally \"tools\"), bytes unchanged.\n"
    "  -m accepts a model directory, a .jinja file or a tokenizer_config.json. '-' reads stdin.\n"
    "  --thinking on|off  sets enable_thinking (unset: the template's default)\n"
    "  --chatml           use the plain ChatML fallback instead of the model's template\n";

nlohmann::ordered_json read_json(const std::string& path) {
  std::string text;
  if (path == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw_error(ErrorKind::Io, "cannot read ", path);
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  auto j = nlohmann::ordered_json::parse(text, nullptr, false);
  if (j.is_discarded()) throw_error(ErrorKind::BadJson, path, ": not valid JSON");
  return j;
}

int run_template(const std::vector<std::string>& argv) {
  const Args args(argv, {"m", "model", "messages", "thinking", "tools"}, {"no-generation-prompt", "chatml", "help"});
  if (args.flag("help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  auto model = args.value("m") ? args.value("m") : args.value("model");
  auto messages_path = args.value("messages");
  if ((!model && !args.flag("chatml")) || !messages_path) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  chat::RenderOptions options;
  options.add_generation_prompt = !args.flag("no-generation-prompt");
  if (auto thinking = args.value("thinking")) {
    if (*thinking != "on" && *thinking != "off")
      throw_error(ErrorKind::InvalidArgument, "--thinking takes on or off, not '", *thinking, "'");
    options.enable_thinking = *thinking == "on";
  }
  nlohmann::ordered_json doc = read_json(*messages_path);
  nlohmann::ordered_json messages = doc;
  if (doc.is_object()) {
    if (!doc.contains("messages")) throw_error(ErrorKind::BadJson, *messages_path, ": object without \"messages\"");
    messages = doc["messages"];
    if (doc.contains("tools")) options.tools = doc["tools"];
  }
  if (!messages.is_array()) throw_error(ErrorKind::BadJson, *messages_path, ": messages must be a JSON array");
  if (auto tools = args.value("tools")) {
    options.tools = read_json(*tools);
    if (!options.tools.is_array()) throw_error(ErrorKind::BadJson, *tools, ": tools must be a JSON array");
  }
  const auto tpl = args.flag("chatml") ? chat::ChatTemplate::chatml() : chat::ChatTemplate::from_model_dir(*model);
  const std::string prompt = tpl.render(messages, options);
  std::fwrite(prompt.data(), 1, prompt.size(), stdout);
  return 0;
}

}  // namespace

HLWQ_COMMAND("template", "render a conversation with a model's chat template", run_template);

}  // namespace hlwq::cli
#endif
