#pragma once
// A template that cannot be parsed; ChatTemplate turns it into Error{Template}
// "<name>:<line>:<column>: <message>".
#include <stdexcept>
#include <string>

namespace hlwq::chat::jinja {

struct TemplateSyntaxError : std::runtime_error {
  TemplateSyntaxError(const std::string& message, int at_line, int at_column)
      : std::runtime_error(message), line(at_line), column(at_column) {}
  int line;
  int column;
};

}  // namespace hlwq::chat::jinja
