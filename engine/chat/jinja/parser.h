#pragma once
// Recursive-descent parser for the jinja2 subset chat templates use, with jinja2's operator
// precedence. Unknown tags, filters and tests are syntax errors, as in jinja2.
#include "ast.h"
#include "lexer.h"

namespace hlwq::chat::jinja {

Body parse(const std::vector<Token>& tokens);  // throws TemplateSyntaxError

}  // namespace hlwq::chat::jinja
