#pragma once
// A model's chat template, rendered exactly as Hugging Face transformers renders it
// (jinja2 sandbox, trim_blocks + lstrip_blocks, loopcontrols, its own tojson, raise_exception,
// strftime_now). The prompt bytes decide what the model sees, so "close" is not good enough:
// the differential tests compare byte for byte against python3-jinja2.
//
// Messages, tools and extra variables are taken as nlohmann::ordered_json because key order
// is visible in the prompt (tools go through `tojson`); a plain nlohmann::json is accepted too
// and then renders with its keys sorted.
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace hlwq::chat {

namespace jinja {
class Template;
}

struct RenderOptions {
  bool add_generation_prompt = true;
  // Passed as the template variable `enable_thinking` only when set; unset leaves it
  // undefined, which is what the templates treat as their default.
  std::optional<bool> enable_thinking;
  // The `tools` variable: a JSON array of tool schemas, or null (transformers passes None).
  nlohmann::ordered_json tools = nullptr;
  // Special-token variables. Unset: the values read from tokenizer_config.json by
  // from_model_dir (transformers passes its special_tokens_map); absent there: undefined.
  std::optional<std::string> bos_token;
  std::optional<std::string> eos_token;
  // Any further template variables (e.g. {"preserve_thinking": true}); an object. These
  // override everything above, as transformers' **kwargs do.
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();
};

class ChatTemplate {
 public:
  // A model directory (chat_template.jinja, else tokenizer_config.json's "chat_template",
  // string or [{"name","template"}] list), a .jinja file, or a tokenizer_config.json file.
  // Throws Error{Io} / Error{BadJson} / Error{Template} naming the file.
  static ChatTemplate from_model_dir(const std::filesystem::path& path);
  // Parses now: a syntax error throws Error{Template} "<name>:<line>:<column>: ...".
  static ChatTemplate from_string(std::string source, std::string name);
  // Plain ChatML (<|im_start|>role\ncontent<|im_end|>\n), the fallback the app offers when a
  // model's template fails to parse or render.
  static ChatTemplate chatml();

  // Renders the prompt. Throws Error{Template} naming the template for raise_exception(),
  // misuse of an undefined value, type errors, and the like.
  std::string render(const nlohmann::ordered_json& messages, const RenderOptions& options = {}) const;
  std::string render(const nlohmann::json& messages, const RenderOptions& options = {}) const;

  const std::string& name() const { return name_; }
  const std::string& source() const;  // the template in use (the "default" one of a set)
  // Named templates of a list-form tokenizer_config ("default", "tool_use", ...); a
  // single template is named "default". render() uses "tool_use" when tools are given and
  // it exists, else "default", as transformers does.
  std::vector<std::string> template_names() const;

  // Special tokens found next to the template (tokenizer_config.json), used when
  // RenderOptions leaves them unset.
  const std::optional<std::string>& default_bos_token() const { return bos_token_; }
  const std::optional<std::string>& default_eos_token() const { return eos_token_; }

 private:
  ChatTemplate() = default;
  std::string name_;
  std::map<std::string, std::shared_ptr<const jinja::Template>> templates_;
  std::optional<std::string> bos_token_;
  std::optional<std::string> eos_token_;
};

}  // namespace hlwq::chat
