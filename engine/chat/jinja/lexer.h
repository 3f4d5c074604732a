#pragma once
// Splits template source into tokens the way jinja2's lexer does with transformers' settings:
// trim_blocks (a block tag eats one following newline), lstrip_blocks (spaces before a block
// tag on its own line vanish), `-`/`+` whitespace control, comments, \r\n -> \n, and one
// trailing newline of the source dropped (keep_trailing_newline=False).
#include <cstdint>
#include <string>
#include <vector>

namespace hlwq::chat::jinja {

enum class Tok { Text, VarBegin, VarEnd, BlockBegin, BlockEnd, Name, String, Int, Float, Op, Eof };

struct Token {
  Tok type;
  std::string value;  // text, name, decoded string literal, or operator
  int64_t int_value = 0;
  double float_value = 0;
  int line = 1;
  int column = 1;
};

// Throws TemplateSyntaxError (see syntax_error.h) with line and column.
std::vector<Token> tokenize(const std::string& source);

}  // namespace hlwq::chat::jinja
