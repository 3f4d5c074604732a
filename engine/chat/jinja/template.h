#pragma once
// One parsed template. Rendering is const and allocates its own scopes, so a Template can be
// shared between threads.
#include <string>

#include "ast.h"

namespace hlwq::chat::jinja {

class Template {
 public:
  // Throws Error{Template} "<name>:<line>:<column>: <message>" on a syntax error.
  Template(std::string source, std::string name);
  // `variables` is an object of template variables (messages, tools, ...). Throws
  // Error{Template} "<name>:<line>: <message>"; raise_exception() messages are quoted as given.
  std::string render(const DictObj& variables) const;

  const std::string& source() const { return source_; }
  const std::string& name() const { return name_; }

 private:
  std::string source_;
  std::string name_;
  Body body_;
};

}  // namespace hlwq::chat::jinja
