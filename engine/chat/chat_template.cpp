#include "chat_template.h"

#include <fstream>
#include <sstream>

#include "core/error.h"
#include "jinja/template.h"

namespace hlwq::chat {
namespace {

namespace fs = std::filesystem;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_error(ErrorKind::Io, "cannot read chat template file ", path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

nlohmann::ordered_json read_json(const fs::path& path) {
  std::string text = read_file(path);
  auto j = nlohmann::ordered_json::parse(text, nullptr, false);
  if (j.is_discarded()) throw_error(ErrorKind::BadJson, path.string(), ": not valid JSON");
  return j;
}

// tokenizer_config.json stores special tokens as a string or as an AddedToken object.
std::optional<std::string> special_token(const nlohmann::ordered_json& config, const char* key) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) return (*it)["content"].get<std::string>();
  return std::nullopt;
}

}  // namespace

ChatTemplate ChatTemplate::from_string(std::string source, std::string name) {
  ChatTemplate t;
  t.name_ = name;
  t.templates_["default"] = std::make_shared<const jinja::Template>(std::move(source), std::move(name));
  return t;
}

ChatTemplate ChatTemplate::from_model_dir(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw_error(ErrorKind::Io, "chat template path does not exist: ", path.string());
  fs::path jinja_file, config_file;
  if (fs::is_directory(path, ec)) {
    if (fs::exists(path / "chat_template.jinja")) jinja_file = path / "chat_template.jinja";
    if (fs::exists(path / "tokenizer_config.json")) config_file = path / "tokenizer_config.json";
  } else if (path.extension() == ".json") {
    config_file = path;
  } else {
    jinja_file = path;
  }

  nlohmann::ordered_json config;
  if (!config_file.empty()) config = read_json(config_file);
  if (!config.is_object() && !config_file.empty())
    throw_error(ErrorKind::BadJson, config_file.string(), ": expected a JSON object");

  ChatTemplate t;
  if (!jinja_file.empty()) {
    t = from_string(read_file(jinja_file), jinja_file.string());
  } else if (config.is_object() && config.contains("chat_template")) {
    const auto& ct = config["chat_template"];
    std::string name = config_file.string();
    if (ct.is_string()) {
      t = from_string(ct.get<std::string>(), name);
    } else if (ct.is_array()) {
      t.name_ = name;
      for (const auto& entry : ct) {
        if (!entry.is_object() || !entry.contains("name") || !entry.contains("template") || !entry["name"].is_string() ||
            !entry["template"].is_string())
          throw_error(ErrorKind::BadJson, name, ": chat_template list entries need string \"name\" and \"template\"");
        std::string tname = entry["name"].get<std::string>();
        t.templates_[tname] = std::make_shared<const jinja::Template>(entry["template"].get<std::string>(), name + "#" + tname);
      }
      if (t.templates_.empty()) throw_error(ErrorKind::BadJson, name, ": chat_template is an empty list");
    } else {
      throw_error(ErrorKind::BadJson, name, ": chat_template must be a string or a list of named templates");
    }
  } else {
    throw_error(ErrorKind::Io, "no chat template in ", path.string(),
                " (looked for chat_template.jinja and the \"chat_template\" field of tokenizer_config.json)");
  }
  if (config.is_object()) {
    t.bos_token_ = special_token(config, "bos_token");
    t.eos_token_ = special_token(config, "eos_token");
  }
  return t;
}

const std::string& ChatTemplate::source() const {
  auto it = templates_.find("default");
  return (it != templates_.end() ? it->second : templates_.begin()->second)->source();
}

std::vector<std::string> ChatTemplate::template_names() const {
  std::vector<std::string> names;
  for (const auto& [k, v] : templates_) names.push_back(k);
  return names;
}

std::string ChatTemplate::render(const nlohmann::json& messages, const RenderOptions& options) const {
  return render(nlohmann::ordered_json(messages), options);
}

std::string ChatTemplate::render(const nlohmann::ordered_json& messages, const RenderOptions& options) const {
  if (!messages.is_array()) throw_error(ErrorKind::InvalidArgument, "chat template ", name_, ": messages must be a JSON array");
  if (!options.extra.is_object())
    throw_error(ErrorKind::InvalidArgument, "chat template ", name_, ": extra template variables must be a JSON object");
  bool has_tools = !options.tools.is_null();
  const jinja::Template* tpl = nullptr;
  if (has_tools && templates_.count("tool_use")) tpl = templates_.at("tool_use").get();
  else if (templates_.count("default")) tpl = templates_.at("default").get();
  else
    throw_error(ErrorKind::Template, "chat template ", name_,
                ": has several named templates and none called \"default\"; pass tools to use \"tool_use\"");

  jinja::DictObj vars;
  vars.set("messages", jinja::from_json(messages));
  vars.set("tools", jinja::from_json(options.tools));
  vars.set("documents", jinja::Value(nullptr));
  vars.set("add_generation_prompt", jinja::Value(options.add_generation_prompt));
  if (auto bos = options.bos_token ? options.bos_token : bos_token_) vars.set("bos_token", jinja::Value(*bos));
  if (auto eos = options.eos_token ? options.eos_token : eos_token_) vars.set("eos_token", jinja::Value(*eos));
  if (options.enable_thinking) vars.set("enable_thinking", jinja::Value(*options.enable_thinking));
  for (auto it = options.extra.begin(); it != options.extra.end(); ++it) vars.set(it.key(), jinja::from_json(it.value()));
  return tpl->render(vars);
}

}  // namespace hlwq::chat
