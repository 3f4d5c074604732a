#pragma once
// Walks the parsed template and writes the output. Scopes follow jinja2: `for` bodies and
// macros get their own (so `set` inside a loop does not leak; namespace() does), `if` does not.
#include <memory>
#include <string>
#include <unordered_map>

#include "ast.h"

namespace hlwq::chat::jinja {

struct Scope {
  std::unordered_map<std::string, Value> vars;
  std::shared_ptr<Scope> parent;
};

class Interpreter {
 public:
  // `root` holds the render variables; its parent the globals.
  explicit Interpreter(std::shared_ptr<Scope> root) : root_(std::move(root)) {}
  void run(const Body& body, std::string& out) { exec_body(body, root_, out); }
  int current_line() const { return line_; }

 private:
  enum class Flow { Normal, Break, Continue };
  Flow exec_body(const Body& body, const std::shared_ptr<Scope>& scope, std::string& out);
  Flow exec(const Stmt& s, const std::shared_ptr<Scope>& scope, std::string& out);
  Flow exec_for(const Stmt& s, const std::shared_ptr<Scope>& scope, std::string& out);
  Value make_macro(const Stmt& s, const Body& body, const std::vector<MacroParam>& params, const std::string& name,
                   const std::shared_ptr<Scope>& scope);
  Value eval(const Expr& e, const std::shared_ptr<Scope>& scope);
  Value eval_binary(const Expr& e, const std::shared_ptr<Scope>& scope);
  Value eval_compare(const Expr& e, const std::shared_ptr<Scope>& scope);
  CallArgs eval_args(const Expr& e, const std::shared_ptr<Scope>& scope, size_t first);
  Value lookup(const std::string& name, const std::shared_ptr<Scope>& scope) const;
  void assign(const std::vector<std::string>& targets, bool unpack, const Value& v, Scope& scope);

  std::shared_ptr<Scope> root_;
  int line_ = 0;
  int depth_ = 0;  // macro recursion guard
};

// Python's binary operators on template values (exposed for filters such as sum).
Value py_add(const Value& a, const Value& b);
bool py_contains(const Value& container, const Value& item);

}  // namespace hlwq::chat::jinja
