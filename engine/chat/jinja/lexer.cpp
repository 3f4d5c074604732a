#include "lexer.h"

#include <cstring>

#include "syntax_error.h"
#include "value.h"

namespace hlwq::chat::jinja {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string normalize(const std::string& source) {
  std::string s;
  s.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      s += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      s += source[i];
    }
  }
  if (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

class Lexer {
 public:
  explicit Lexer(std::string src) : s_(std::move(src)) {}

  std::vector<Token> run() {
    bool line_starting = true;
    while (pos_ < s_.size()) {
      size_t start = find_tag(pos_);
      std::string text = s_.substr(pos_, (start == std::string::npos ? s_.size() : start) - pos_);
      if (start == std::string::npos) {
        push(Tok::Text, text, pos_);
        pos_ = s_.size();
        break;
      }
      char kind = s_[start + 1];  // '{' variable, '%' block, '#' comment
      char sign = start + 2 < s_.size() ? s_[start + 2] : 0;
      if (sign == '-') {
        size_t e = text.size();
        while (e > 0 && is_space(text[e - 1])) --e;
        text.resize(e);
      } else if (sign != '+' && kind != '{') {
        size_t l_pos = text.rfind('\n');
        l_pos = l_pos == std::string::npos ? 0 : l_pos + 1;
        if (l_pos > 0 || line_starting) {
          bool blank = l_pos < text.size();
          for (size_t i = l_pos; i < text.size() && blank; ++i) blank = is_space(text[i]);
          if (blank) text.resize(l_pos);
        }
      }
      if (!text.empty()) push(Tok::Text, text, pos_);
      pos_ = start + 2 + ((sign == '-' || sign == '+') ? 1 : 0);
      if (kind == '%' && raw_block(start)) {
        // handled: the raw body is text
      } else if (kind == '#') {
        size_t end = s_.find("#}", pos_);
        if (end == std::string::npos) fail("missing end of comment tag", start);
        char before = end > pos_ ? s_[end - 1] : 0;
        pos_ = end + 2;
        finish_tag(before, true);
      } else {
        push(kind == '{' ? Tok::VarBegin : Tok::BlockBegin, "", start);
        expression(kind == '{' ? '}' : '%', start);
      }
      line_starting = pos_ > 0 && s_[pos_ - 1] == '\n';
    }
    push(Tok::Eof, "", s_.size());
    return std::move(tokens_);
  }

 private:
  size_t find_tag(size_t from) const {
    for (size_t i = s_.find('{', from); i != std::string::npos; i = s_.find('{', i + 1)) {
      if (i + 1 < s_.size() && (s_[i + 1] == '{' || s_[i + 1] == '%' || s_[i + 1] == '#')) return i;
    }
    return std::string::npos;
  }

  // `{% raw %}...{% endraw %}`: the body is text, tags inside are not interpreted. pos_ is
  // just past the opening `{%` (and its sign). Returns false when this is not a raw tag.
  bool raw_block(size_t tag_start) {
    size_t p = pos_;
    while (p < s_.size() && is_space(s_[p])) ++p;
    if (s_.compare(p, 3, "raw") != 0 || (p + 3 < s_.size() && (is_name_start(s_[p + 3]) || is_digit(s_[p + 3]))))
      return false;
    p += 3;
    while (p < s_.size() && is_space(s_[p])) ++p;
    char sign = 0;
    if (p < s_.size() && s_[p] == '-') { sign = '-'; ++p; }
    if (s_.compare(p, 2, "%}") != 0) fail("expected '%}' after 'raw'", p);
    p += 2;
    if (sign == '-')
      while (p < s_.size() && is_space(s_[p])) ++p;
    for (size_t q = s_.find("{%", p); q != std::string::npos; q = s_.find("{%", q + 2)) {
      size_t r = q + 2;
      char end_sign = (r < s_.size() && (s_[r] == '-' || s_[r] == '+')) ? s_[r++] : 0;
      while (r < s_.size() && is_space(s_[r])) ++r;
      if (s_.compare(r, 6, "endraw") != 0) continue;
      r += 6;
      while (r < s_.size() && is_space(s_[r])) ++r;
      char close_sign = (r < s_.size() && (s_[r] == '-' || s_[r] == '+')) ? s_[r++] : 0;
      if (s_.compare(r, 2, "%}") != 0) continue;
      std::string body = s_.substr(p, q - p);
      if (end_sign == '-') {
        while (!body.empty() && is_space(body.back())) body.pop_back();
      } else if (end_sign != '+') {
        size_t l_pos = body.rfind('\n');
        l_pos = l_pos == std::string::npos ? 0 : l_pos + 1;
        bool blank = l_pos < body.size();
        for (size_t i = l_pos; i < body.size() && blank; ++i) blank = body[i] == ' ' || body[i] == '\t';
        if (blank && l_pos > 0) body.resize(l_pos);
      }
      if (!body.empty()) push(Tok::Text, body, p);
      pos_ = r + 2;
      finish_tag(close_sign, true);
      return true;
    }
    fail("missing endraw for the raw block", tag_start);
  }

  // After a tag's closing delimiter: `-` strips all following whitespace; a block or
  // comment without `+` eats one newline (trim_blocks).
  void finish_tag(char sign, bool block) {
    if (sign == '-') {
      while (pos_ < s_.size() && is_space(s_[pos_])) ++pos_;
    } else if (sign != '+' && block && pos_ < s_.size() && s_[pos_] == '\n') {
      ++pos_;
    }
  }

  void expression(char closer, size_t tag_start) {
    int depth = 0;
    while (true) {
      while (pos_ < s_.size() && is_space(s_[pos_])) ++pos_;
      if (pos_ >= s_.size())
        fail(closer == '}' ? "unexpected end of template, expected '}}'" : "unexpected end of template, expected '%}'",
             tag_start);
      if (depth == 0) {
        // The end delimiter, optionally preceded by a whitespace-control sign.
        size_t p = pos_;
        char sign = 0;
        if ((s_[p] == '-' || (s_[p] == '+' && closer == '%')) && p + 2 < s_.size() + 0 && s_[p + 1] == closer &&
            s_[p + 2] == '}') {
          sign = s_[p];
          ++p;
        }
        if (p + 1 < s_.size() && s_[p] == closer && s_[p + 1] == '}') {
          push(closer == '}' ? Tok::VarEnd : Tok::BlockEnd, "", pos_);
          pos_ = p + 2;
          finish_tag(sign, closer == '%');
          return;
        }
      }
      char c = s_[pos_];
      size_t at = pos_;
      if (is_name_start(c)) {
        size_t e = pos_;
        while (e < s_.size() && (is_name_start(s_[e]) || is_digit(s_[e]))) ++e;
        push(Tok::Name, s_.substr(pos_, e - pos_), at);
        pos_ = e;
      } else if (is_digit(c)) {
        number(at);
      } else if (c == '\'' || c == '"') {
        string_literal(at);
      } else {
        static const char* ops[] = {"//", "**", "==", "!=", ">=", "<=", "+", "-", "*", "/", "%", "~", "[", "]", "(",
                                    ")", "{", "}", ">", "<", "=", ".", ":", "|", ",", ";"};
        const char* found = nullptr;
        for (const char* op : ops)
          if (s_.compare(pos_, std::strlen(op), op) == 0) { found = op; break; }
        if (!found) fail(std::string("unexpected char '") + c + "'", at);
        std::string op = found;
        if (op == "(" || op == "[" || op == "{") ++depth;
        if (op == ")" || op == "]" || op == "}") {
          if (depth == 0) fail("unexpected '" + op + "'", at);
          --depth;
        }
        push(Tok::Op, op, at);
        pos_ += op.size();
      }
    }
  }

  void number(size_t at) {
    size_t e = pos_;
    auto digits = [&] {
      while (e < s_.size() && (is_digit(s_[e]) || (s_[e] == '_' && e + 1 < s_.size() && is_digit(s_[e + 1])))) ++e;
    };
    digits();
    bool is_float = false;
    if (e + 1 < s_.size() && s_[e] == '.' && is_digit(s_[e + 1]) && !(at > 0 && s_[at - 1] == '.')) {
      is_float = true;
      ++e;
      digits();
    }
    if (e < s_.size() && (s_[e] == 'e' || s_[e] == 'E')) {
      size_t x = e + 1;
      if (x < s_.size() && (s_[x] == '+' || s_[x] == '-')) ++x;
      if (x < s_.size() && is_digit(s_[x])) {
        is_float = true;
        e = x;
        digits();
      }
    }
    std::string text;
    for (size_t i = pos_; i < e; ++i)
      if (s_[i] != '_') text += s_[i];
    Token t{is_float ? Tok::Float : Tok::Int, text};
    try {
      if (is_float) t.float_value = std::stod(text);
      else t.int_value = std::stoll(text);
    } catch (const std::exception&) {
      fail("number out of range: " + text, at);
    }
    place(t, at);
    tokens_.push_back(std::move(t));
    pos_ = e;
  }

  // Python's unicode-escape rules, as jinja2 decodes string literals.
  void string_literal(size_t at) {
    char q = s_[pos_];
    std::string out;
    size_t i = pos_ + 1;
    while (true) {
      if (i >= s_.size()) fail("unexpected end of string", at);
      char c = s_[i];
      if (c == q) break;
      if (c != '\\') { out += c; ++i; continue; }
      if (i + 1 >= s_.size()) fail("unexpected end of string", at);
      char e = s_[i + 1];
      i += 2;
      auto hex = [&](int n) {
        if (i + n > s_.size()) fail("truncated \\x/\\u escape in string", at);
        char32_t v = 0;
        for (int k = 0; k < n; ++k) {
          char h = s_[i + k];
          int d = is_digit(h) ? h - '0' : (h >= 'a' && h <= 'f') ? h - 'a' + 10 : (h >= 'A' && h <= 'F') ? h - 'A' + 10 : -1;
          if (d < 0) fail("truncated \\x/\\u escape in string", at);
          v = v * 16 + d;
        }
        i += n;
        utf8_append(out, v);
      };
      switch (e) {
        case '\n': break;
        case '\\': out += '\\'; break;
        case '\'': out += '\''; break;
        case '"': out += '"'; break;
        case 'a': out += '\a'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'v': out += '\v'; break;
        case 'x': hex(2); break;
        case 'u': hex(4); break;
        case 'U': hex(8); break;
        default:
          if (e >= '0' && e <= '7') {
            int v = e - '0';
            for (int k = 0; k < 2 && i < s_.size() && s_[i] >= '0' && s_[i] <= '7'; ++k) v = v * 8 + (s_[i++] - '0');
            utf8_append(out, static_cast<char32_t>(v));
          } else {
            out += '\\';
            out += e;
          }
      }
    }
    push(Tok::String, out, at);
    pos_ = i + 1;
  }

  void place(Token& t, size_t offset) {
    while (line_scan_ < offset) {
      if (s_[line_scan_] == '\n') { ++line_; line_start_ = line_scan_ + 1; }
      ++line_scan_;
    }
    t.line = line_;
    t.column = static_cast<int>(offset - line_start_) + 1;
  }

  void push(Tok type, std::string value, size_t offset) {
    Token t{type, std::move(value)};
    place(t, offset);
    tokens_.push_back(std::move(t));
  }

  [[noreturn]] void fail(const std::string& message, size_t offset) {
    Token t{Tok::Eof, ""};
    if (offset < line_scan_) { line_ = 1; line_start_ = 0; line_scan_ = 0; }
    place(t, offset);
    throw TemplateSyntaxError(message, t.line, t.column);
  }

  std::string s_;
  size_t pos_ = 0;
  std::vector<Token> tokens_;
  size_t line_scan_ = 0, line_start_ = 0;
  int line_ = 1;
};

}  // namespace

std::vector<Token> tokenize(const std::string& source) { return Lexer(normalize(source)).run(); }

}  // namespace hlwq::chat::jinja
