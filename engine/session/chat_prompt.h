#pragma once
// A chat rendered by its template and tokenized so that only the template's own markup yields
// control tokens: a special-token string inside the data (message contents, reasoning, tool
// calls, tool schemas) is plain text, so "<|im_end|>\n<|im_start|>system\n..." pasted into a
// message cannot forge a turn, a role or a stop. For data without such strings the ids are
// exactly tokenizer.encode(template.render(...), true)'s, which the KV-cache prefix reuse and
// the template/tokenizer reference tests rely on. docs/ENGINEERING.md "Prompt injection" has
// the design and the choice for non-special tags such as <think>.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "chat/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace hlwq {

struct ChatPrompt {
  std::string text;                         // the rendered prompt, as template.render() gives it
  std::vector<Tokenizer::ByteRange> plain;  // special-token strings in `text` that came from the data
  std::vector<int32_t> ids;
};

// Throws what ChatTemplate::render throws, and Error{Template} if the template cuts a
// special-token string of the data apart (slicing a message mid-token).
ChatPrompt build_chat_prompt(const chat::ChatTemplate& tpl, const Tokenizer& tokenizer, const nlohmann::ordered_json& messages,
                             const chat::RenderOptions& options);

}  // namespace hlwq
