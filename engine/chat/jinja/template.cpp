#include "template.h"

#include "builtins.h"
#include "core/error.h"
#include "interpreter.h"
#include "lexer.h"
#include "parser.h"
#include "syntax_error.h"

namespace hlwq::chat::jinja {

Template::Template(std::string source, std::string name) : source_(std::move(source)), name_(std::move(name)) {
  try {
    body_ = parse(tokenize(source_));
  } catch (const TemplateSyntaxError& e) {
    throw_error(ErrorKind::Template, "chat template ", name_, ":", std::to_string(e.line), ":",
                std::to_string(e.column), ": syntax error: ", e.what());
  } catch (const RenderError& e) {  // a bad literal found while parsing
    throw_error(ErrorKind::Template, "chat template ", name_, ": syntax error: ", e.what());
  }
}

std::string Template::render(const DictObj& variables) const {
  auto globals = std::make_shared<Scope>();
  DictObj g;
  install_globals(g);
  for (auto& [k, v] : g.items) globals->vars[k] = v;
  auto root = std::make_shared<Scope>();
  root->parent = globals;
  for (const auto& [k, v] : variables.items) root->vars[k] = v;
  Interpreter interpreter(root);
  std::string out;
  try {
    interpreter.run(body_, out);
  } catch (const TemplateRaised& e) {
    throw_error(ErrorKind::Template, "chat template ", name_, ":", std::to_string(interpreter.current_line()),
                ": the template refused this conversation: ", e.what());
  } catch (const RenderError& e) {
    throw_error(ErrorKind::Template, "chat template ", name_, ":", std::to_string(interpreter.current_line()),
                ": ", e.what());
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    // A case the engine does not model (a bad argument type deep in a filter, say): still a
    // template error the user can act on, never a crash.
    throw_error(ErrorKind::Template, "chat template ", name_, ":", std::to_string(interpreter.current_line()),
                ": cannot render: ", e.what());
  }
  return out;
}

}  // namespace hlwq::chat::jinja
