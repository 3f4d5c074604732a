#include "session/chat_prompt.h"

#include <set>
#include <string_view>

#include "core/error.h"
#include "tokenizer/unicode.h"

namespace hlwq {

namespace {

// While the template runs, each special-token string of the data is replaced by a private-use
// stand-in, MARKER TOKEN MARKER, and put back afterwards, which is how its place in the output
// is known even when the template moves or trims the text around it. Private-use code points
// have no case, are not whitespace, survive tojson (transformers dumps with ensure_ascii=False)
// and are never searched for by a template, so the template takes the same branches.
constexpr char32_t kTokenBase = 0xF0000;    // the stand-in for special token k is U+F0000 + k
constexpr char32_t kMarkerHigh = 0x10FFFD;  // the marker: the highest plane-16 code point ...
constexpr char32_t kMarkerLow = 0x100000;   // ... that occurs in no input

template <class Fn>
void for_each_string(const nlohmann::ordered_json& j, const Fn& fn) {
  if (j.is_string()) {
    fn(j.get_ref<const std::string&>());
  } else if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      fn(it.key());
      for_each_string(it.value(), fn);
    }
  } else if (j.is_array()) {
    for (const auto& x : j) for_each_string(x, fn);
  }
}

// The longest special-token string starting at s[pos], as an index into tokens, or -1.
int token_at(std::string_view s, std::size_t pos, const std::vector<std::string>& tokens) {
  int best = -1;
  for (std::size_t k = 0; k < tokens.size(); ++k)
    if (s.compare(pos, tokens[k].size(), tokens[k]) == 0 && (best < 0 || tokens[k].size() > tokens[best].size())) best = int(k);
  return best;
}

bool has_token(std::string_view s, const std::vector<std::string>& tokens) {
  for (const auto& t : tokens)
    if (s.find(t) != std::string_view::npos) return true;
  return false;
}

std::string escape_text(std::string_view s, const std::vector<std::string>& tokens, const std::string& marker) {
  if (!has_token(s, tokens)) return std::string(s);
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const int k = token_at(s, i, tokens);
    if (k < 0) {
      out += s[i++];
      continue;
    }
    out += marker;
    unicode::append(out, kTokenBase + char32_t(k));
    out += marker;
    i += tokens[k].size();
  }
  return out;
}

nlohmann::ordered_json escape(const nlohmann::ordered_json& j, const std::vector<std::string>& tokens, const std::string& marker) {
  if (j.is_string()) return escape_text(j.get_ref<const std::string&>(), tokens, marker);
  if (j.is_array()) {
    auto out = nlohmann::ordered_json::array();
    for (const auto& x : j) out.push_back(escape(x, tokens, marker));
    return out;
  }
  if (j.is_object()) {
    auto out = nlohmann::ordered_json::object();
    for (auto it = j.begin(); it != j.end(); ++it) out[escape_text(it.key(), tokens, marker)] = escape(it.value(), tokens, marker);
    return out;
  }
  return j;
}

// The output with every stand-in put back, and where the restored strings lie.
void restore(const std::string& rendered, const std::vector<std::string>& tokens, const std::string& marker, ChatPrompt& out) {
  out.text.clear();
  out.plain.clear();
  std::size_t i = 0;
  for (std::size_t at; (at = rendered.find(marker, i)) != std::string::npos;) {
    out.text.append(rendered, i, at - i);
    std::size_t j = at + marker.size();
    const char32_t stand_in = j < rendered.size() ? unicode::next(rendered, j) : 0;
    if (stand_in < kTokenBase || stand_in >= kTokenBase + tokens.size() || rendered.compare(j, marker.size(), marker) != 0)
      throw_error(ErrorKind::Template, "the chat template cut apart a special-token string taken from the messages (at byte ",
                  std::to_string(out.text.size()), " of the prompt)");
    const std::string& token = tokens[stand_in - kTokenBase];
    out.plain.push_back({out.text.size(), out.text.size() + token.size()});
    out.text += token;
    i = j + marker.size();
  }
  out.text.append(rendered, i);
}

}  // namespace

ChatPrompt build_chat_prompt(const chat::ChatTemplate& tpl, const Tokenizer& tokenizer, const nlohmann::ordered_json& messages,
                             const chat::RenderOptions& options) {
  const std::vector<std::string> tokens = tokenizer.special_token_texts();
  bool found = false;
  const auto look = [&](const std::string& s) { found = found || has_token(s, tokens); };
  for_each_string(messages, look);
  for_each_string(options.tools, look);
  ChatPrompt out;
  if (!found) {  // nothing to guard: exactly the plain render and encode
    out.text = tpl.render(messages, options);
    out.ids = tokenizer.encode(out.text, true);
    return out;
  }

  // A marker no input contains, so every marker in the output is one of ours.
  std::set<char32_t> used;
  const auto note = [&](const std::string& s) {
    for (std::size_t i = 0; i < s.size();)
      if (const char32_t c = unicode::next(s, i); c >= kMarkerLow) used.insert(c);
  };
  for_each_string(messages, note);
  for_each_string(options.tools, note);
  for_each_string(options.extra, note);
  note(tpl.source());
  for (const auto& s : {options.bos_token, options.eos_token, tpl.default_bos_token(), tpl.default_eos_token()})
    if (s) note(*s);
  char32_t m = kMarkerHigh;
  while (used.count(m)) --m;  // the inputs cannot hold all 65,534 of them
  std::string marker;
  unicode::append(marker, m);

  chat::RenderOptions escaped = options;
  escaped.tools = escape(options.tools, tokens, marker);
  restore(tpl.render(escape(messages, tokens, marker), escaped), tokens, marker, out);
  out.ids = tokenizer.encode_with_plain_spans(out.text, out.plain);
  return out;
}

}  // namespace hlwq
