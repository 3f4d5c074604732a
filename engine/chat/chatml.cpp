// The fallback template the app offers when a model's own template fails: plain ChatML, the
// format Qwen models are trained on. Content may be a string or a list of {"type":"text"} parts.
#include "chat_template.h"

namespace hlwq::chat {

namespace {
constexpr const char* kChatml =
    "{%- for message in messages %}"
    "{{- '<|im_start|>' ~ message.role ~ '\\n' }}"
    "{%- if message.content is string %}{{- message.content }}"
    "{%- elif message.content is iterable and message.content is not mapping %}"
    "{%- for part in message.content %}{%- if part.text is defined %}{{- part.text }}{%- endif %}{%- endfor %}"
    "{%- endif %}"
    "{{- '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";
}  // namespace

ChatTemplate ChatTemplate::chatml() { return from_string(kChatml, "chatml"); }

}  // namespace hlwq::chat
