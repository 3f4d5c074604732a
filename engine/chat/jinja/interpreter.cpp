#include "interpreter.h"

#include <cmath>

#include "builtins.h"
#include "py_format.h"

namespace hlwq::chat::jinja {
namespace {

[[noreturn]] void type_error(const std::string& op, const Value& a, const Value& b) {
  throw RenderError("unsupported operand type(s) for " + op + ": '" + a.type_name() + "' and '" + b.type_name() + "'");
}

int64_t int_of(const Value& v) { return v.is_bool() ? int64_t{v.as_bool()} : v.as_int(); }

// Python's ints are unbounded; ours are 64-bit, so say so instead of wrapping around.
[[noreturn]] void overflow() { throw RenderError("integer overflow: the result does not fit in 64 bits"); }

// `'x' * n` / `[..] * n` beyond this is a template bug or an attack, not a prompt.
constexpr uint64_t kMaxRepeatBytes = uint64_t{256} << 20;

Value arith(const std::string& op, const Value& a, const Value& b) {
  if (a.is_undefined()) fail_undefined(a);
  if (b.is_undefined()) fail_undefined(b);
  if (op == "+") return py_add(a, b);
  if (a.is_number() && b.is_number()) {
    bool fl = a.is_float() || b.is_float();
    int64_t r = 0;
    if (op == "-") {
      if (fl) return Value(a.as_double() - b.as_double());
      if (__builtin_sub_overflow(int_of(a), int_of(b), &r)) overflow();
      return Value(r);
    }
    if (op == "*") {
      if (fl) return Value(a.as_double() * b.as_double());
      if (__builtin_mul_overflow(int_of(a), int_of(b), &r)) overflow();
      return Value(r);
    }
    if (op == "/") {
      if (b.as_double() == 0) throw RenderError("division by zero");
      return Value(a.as_double() / b.as_double());
    }
    if (op == "//" || op == "%") {
      if (b.as_double() == 0) throw RenderError(op == "//" ? "integer division or modulo by zero" : "modulo by zero");
      if (fl) {
        double x = a.as_double(), y = b.as_double();
        double m = std::fmod(x, y);
        if (m != 0 && ((m < 0) != (y < 0))) m += y;
        return op == "%" ? Value(m) : Value(std::floor((x - m) / y + 0.5));
      }
      int64_t x = int_of(a), y = int_of(b);
      int64_t q = x / y, m = x % y;
      if (m != 0 && ((m < 0) != (y < 0))) { m += y; --q; }
      return op == "%" ? Value(m) : Value(q);
    }
    if (op == "**") {
      if (!fl && int_of(b) >= 0) {
        int64_t p = 1, base = int_of(a);
        for (int64_t e = int_of(b); e > 0; --e)
          if (__builtin_mul_overflow(p, base, &p)) overflow();
        return Value(p);
      }
      return Value(std::pow(a.as_double(), b.as_double()));
    }
  }
  if (op == "*") {
    const Value* seq = (a.is_string() || a.is_list()) ? &a : (b.is_string() || b.is_list()) ? &b : nullptr;
    const Value* n = seq == &a ? &b : &a;
    if (seq && (n->is_int() || n->is_bool())) {
      int64_t times = int_of(*n);
      size_t unit = seq->is_string() ? seq->str().size() : seq->list().items.size() * sizeof(Value);
      if (times > 0 && unit > 0 && static_cast<uint64_t>(times) > kMaxRepeatBytes / unit)
        throw RenderError("repetition result would exceed " + std::to_string(kMaxRepeatBytes >> 20) + " MiB");
      if (seq->is_string()) {
        std::string r;
        for (int64_t i = 0; i < times; ++i) r += seq->str();
        return Value(r, seq->is_safe());
      }
      std::vector<Value> items;
      for (int64_t i = 0; i < times; ++i)
        items.insert(items.end(), seq->list().items.begin(), seq->list().items.end());
      return make_list(std::move(items), seq->list().tuple);
    }
  }
  if (op == "%" && a.is_string()) throw RenderError("printf-style '%' formatting of strings is not supported");
  type_error(op, a, b);
}

}  // namespace

Value py_add(const Value& a, const Value& b) {
  if (a.is_undefined()) fail_undefined(a);
  if (b.is_undefined()) fail_undefined(b);
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return Value(a.as_double() + b.as_double());
    int64_t r = 0;
    if (__builtin_add_overflow(int_of(a), int_of(b), &r)) overflow();
    return Value(r);
  }
  if (a.is_string() && b.is_string()) {
    // markupsafe: Markup + str escapes the plain side, and so does str + Markup.
    if (a.is_safe() && !b.is_safe()) return Value(a.str() + html_escape(b.str()), true);
    if (!a.is_safe() && b.is_safe()) return Value(html_escape(a.str()) + b.str(), true);
    return Value(a.str() + b.str(), a.is_safe());
  }
  if (a.is_list() && b.is_list() && a.list().tuple == b.list().tuple) {
    std::vector<Value> items = a.list().items;
    items.insert(items.end(), b.list().items.begin(), b.list().items.end());
    return make_list(std::move(items), a.list().tuple);
  }
  if (a.is_string()) throw RenderError(std::string("can only concatenate str (not \"") + b.type_name() + "\") to str");
  if (a.is_list())
    throw RenderError(std::string("can only concatenate list (not \"") + b.type_name() + "\") to list");
  type_error("+", a, b);
}

bool py_contains(const Value& container, const Value& item) {
  if (container.is_string()) {
    if (!item.is_string())
      throw RenderError(std::string("'in <string>' requires string as left operand, not ") + item.type_name());
    return container.str().find(item.str()) != std::string::npos;
  }
  if (container.is_list()) {
    for (const auto& x : container.list().items)
      if (py_equal(x, item)) return true;
    return false;
  }
  if (container.is_dict()) return item.is_string() && container.dict().find(item.str()) != nullptr;
  if (container.is_undefined()) return false;  // jinja2's Undefined iterates as empty
  throw RenderError(std::string("argument of type '") + container.type_name() + "' is not iterable");
}

Value Interpreter::lookup(const std::string& name, const std::shared_ptr<Scope>& scope) const {
  for (const Scope* s = scope.get(); s; s = s->parent.get()) {
    auto it = s->vars.find(name);
    if (it != s->vars.end()) return it->second;
  }
  return Value::undefined("'" + name + "' is undefined");
}

void Interpreter::assign(const std::vector<std::string>& targets, bool unpack, const Value& v, Scope& scope) {
  if (!unpack) {
    scope.vars[targets[0]] = v;
    return;
  }
  std::vector<Value> items = iterate(v);
  if (items.size() != targets.size())
    throw RenderError("cannot unpack " + std::to_string(items.size()) + " values into " +
                      std::to_string(targets.size()) + " names");
  for (size_t i = 0; i < targets.size(); ++i) scope.vars[targets[i]] = items[i];
}

Interpreter::Flow Interpreter::exec_body(const Body& body, const std::shared_ptr<Scope>& scope, std::string& out) {
  for (const auto& s : body) {
    Flow f = exec(*s, scope, out);
    if (f != Flow::Normal) return f;
  }
  return Flow::Normal;
}

Interpreter::Flow Interpreter::exec(const Stmt& s, const std::shared_ptr<Scope>& scope, std::string& out) {
  line_ = s.line;
  switch (s.kind) {
    case Stmt::Kind::Text: out += s.text; return Flow::Normal;
    case Stmt::Kind::Output: out += py_str(eval(*s.expr, scope)); return Flow::Normal;
    case Stmt::Kind::If:
      for (const auto& [cond, body] : s.branches) {
        if (!cond || truthy(eval(*cond, scope))) return exec_body(body, scope, out);
      }
      return Flow::Normal;
    case Stmt::Kind::For: return exec_for(s, scope, out);
    case Stmt::Kind::Set: assign(s.targets, s.unpack, eval(*s.expr, scope), *scope); return Flow::Normal;
    case Stmt::Kind::SetAttr: {
      Value obj = eval(*s.expr, scope);
      if (!obj.is_object() || obj.dict().flavor != DictObj::Flavor::Namespace)
        throw RenderError("cannot assign attribute on non-namespace object '" + s.expr->name + "'");
      obj.dict().set(s.text, eval(*s.value, scope));
      return Flow::Normal;
    }
    case Stmt::Kind::SetBlock: {
      std::string body;
      exec_body(s.body, scope, body);
      Value v(body);
      if (s.filter) {
        // The chain was parsed with a null innermost subject: evaluate it on the body.
        std::vector<const Expr*> chain;
        for (const Expr* f = s.filter.get(); f; f = f->children[0].get()) chain.push_back(f);
        for (auto it = chain.rbegin(); it != chain.rend(); ++it) v = apply_filter((*it)->name, v, eval_args(**it, scope, 1));
      }
      assign(s.targets, false, v, *scope);
      return Flow::Normal;
    }
    case Stmt::Kind::FilterBlock: {
      std::string body;
      exec_body(s.body, scope, body);
      Value v(body);
      std::vector<const Expr*> chain;
      for (const Expr* f = s.filter.get(); f; f = f->children[0].get()) chain.push_back(f);
      for (auto it = chain.rbegin(); it != chain.rend(); ++it) v = apply_filter((*it)->name, v, eval_args(**it, scope, 1));
      out += py_str(v);
      return Flow::Normal;
    }
    case Stmt::Kind::Macro: scope->vars[s.text] = make_macro(s, s.body, s.params, s.text, scope); return Flow::Normal;
    case Stmt::Kind::CallBlock: {
      const Expr& call = *s.expr;
      Value callee = eval(*call.children[0], scope);
      CallArgs args = eval_args(call, scope, 1);
      args.caller = make_macro(s, s.body, s.params, "caller", scope);
      line_ = s.line;
      out += py_str(call_value(callee, args));
      return Flow::Normal;
    }
    case Stmt::Kind::Break: return Flow::Break;
    case Stmt::Kind::Continue: return Flow::Continue;
  }
  return Flow::Normal;
}

Interpreter::Flow Interpreter::exec_for(const Stmt& s, const std::shared_ptr<Scope>& scope, std::string& out) {
  Value iterable = eval(*s.expr, scope);
  if (iterable.is_none()) throw RenderError("'NoneType' object is not iterable");
  std::vector<Value> items = iterate(iterable);
  auto frame = std::make_shared<Scope>();
  frame->parent = scope;
  if (s.loop_filter) {
    std::vector<Value> kept;
    for (const auto& item : items) {
      assign(s.targets, s.unpack, item, *frame);
      if (truthy(eval(*s.loop_filter, frame))) kept.push_back(item);
    }
    items = std::move(kept);
    frame->vars.clear();
  }
  if (items.empty()) return exec_body(s.else_body, scope, out);

  Value loop = make_dict(DictObj::Flavor::Loop);
  const int64_t n = static_cast<int64_t>(items.size());
  auto last_changed = std::make_shared<std::optional<std::vector<Value>>>();
  auto index = std::make_shared<int64_t>(0);
  auto& ld = loop.dict();
  ld.set("length", Value(n));
  ld.set("depth", Value(1));
  ld.set("depth0", Value(0));
  ld.set("cycle", make_callable("cycle", [index](CallArgs& a) -> Value {
           if (a.positional.empty()) throw RenderError("no items for cycling given");
           return a.positional[static_cast<size_t>(*index) % a.positional.size()];
         }));
  ld.set("changed", make_callable("changed", [last_changed](CallArgs& a) -> Value {
           if (*last_changed) {
             const auto& prev = **last_changed;
             bool same = prev.size() == a.positional.size();
             for (size_t i = 0; same && i < prev.size(); ++i) same = py_equal(prev[i], a.positional[i]);
             if (same) return Value(false);
           }
           *last_changed = a.positional;
           return Value(true);
         }));
  for (int64_t i = 0; i < n; ++i) {
    *index = i;
    ld.set("index0", Value(i));
    ld.set("index", Value(i + 1));
    ld.set("revindex0", Value(n - i - 1));
    ld.set("revindex", Value(n - i));
    ld.set("first", Value(i == 0));
    ld.set("last", Value(i == n - 1));
    ld.set("previtem", i > 0 ? items[i - 1] : Value::undefined("there is no previous item"));
    ld.set("nextitem", i + 1 < n ? items[i + 1] : Value::undefined("there is no next item"));
    // jinja2 gives every iteration a fresh frame: a `set` in the body does not carry over.
    frame = std::make_shared<Scope>();
    frame->parent = scope;
    assign(s.targets, s.unpack, items[i], *frame);
    frame->vars["loop"] = loop;
    Flow f = exec_body(s.body, frame, out);
    if (f == Flow::Break) break;
  }
  return Flow::Normal;
}

Value Interpreter::make_macro(const Stmt& s, const Body& body, const std::vector<MacroParam>& params,
                              const std::string& name, const std::shared_ptr<Scope>& scope) {
  (void)s;
  const Body* b = &body;
  const std::vector<MacroParam>* p = &params;
  std::weak_ptr<Scope> closure_weak = scope;
  // Macros live in the scope they close over; a strong reference would be a cycle.
  return make_callable(name, [this, b, p, name, closure_weak](CallArgs& args) -> Value {
    auto closure = closure_weak.lock();
    if (!closure) throw RenderError("macro '" + name + "' called after its scope ended");
    if (++depth_ > 200) {
      depth_ = 0;
      throw RenderError("macro '" + name + "' recursed too deeply");
    }
    auto frame = std::make_shared<Scope>();
    frame->parent = closure;
    const auto& plist = *p;
    if (args.positional.size() > plist.size()) {
      std::vector<Value> extra(args.positional.begin() + plist.size(), args.positional.end());
      frame->vars["varargs"] = make_list(std::move(extra), true);
    } else {
      frame->vars["varargs"] = make_list({}, true);
    }
    Value kwargs = make_dict();
    for (const auto& [k, v] : args.keyword) {
      bool is_param = false;
      for (const auto& prm : plist) is_param |= prm.name == k;
      if (!is_param) kwargs.dict().set(k, v);
    }
    frame->vars["kwargs"] = kwargs;
    for (size_t i = 0; i < plist.size(); ++i) {
      const Value* given = nullptr;
      for (const auto& [k, v] : args.keyword)
        if (k == plist[i].name) given = &v;
      if (!given && i < args.positional.size()) given = &args.positional[i];
      if (given) frame->vars[plist[i].name] = *given;
      else if (plist[i].default_value) frame->vars[plist[i].name] = eval(*plist[i].default_value, frame);
      else frame->vars[plist[i].name] = Value::undefined("parameter '" + plist[i].name + "' was not provided");
    }
    if (!args.caller.is_undefined()) frame->vars["caller"] = args.caller;
    std::string out;
    int saved_line = line_;
    exec_body(*b, frame, out);
    line_ = saved_line;
    --depth_;
    return Value(out);
  });
}

CallArgs Interpreter::eval_args(const Expr& e, const std::shared_ptr<Scope>& scope, size_t first) {
  CallArgs args;
  for (size_t i = first; i < e.children.size(); ++i) args.positional.push_back(eval(*e.children[i], scope));
  for (const auto& [k, v] : e.kwargs) args.keyword.emplace_back(k, eval(*v, scope));
  return args;
}

Value Interpreter::eval(const Expr& e, const std::shared_ptr<Scope>& scope) {
  line_ = e.line;
  switch (e.kind) {
    case Expr::Kind::Literal: return e.literal;
    case Expr::Kind::Name: return lookup(e.name, scope);
    case Expr::Kind::List:
    case Expr::Kind::Tuple: {
      std::vector<Value> items;
      for (const auto& c : e.children) items.push_back(eval(*c, scope));
      return make_list(std::move(items), e.kind == Expr::Kind::Tuple);
    }
    case Expr::Kind::Dict: {
      Value d = make_dict();
      for (size_t i = 0; i + 1 < e.children.size(); i += 2) {
        Value k = eval(*e.children[i], scope);
        d.dict().set(k.is_string() ? k.str() : py_repr(k), eval(*e.children[i + 1], scope));
      }
      return d;
    }
    case Expr::Kind::Attr: return get_attribute(eval(*e.children[0], scope), e.name);
    case Expr::Kind::Item: {
      Value obj = eval(*e.children[0], scope);
      return get_item(obj, eval(*e.children[1], scope));
    }
    case Expr::Kind::Slice: {
      Value obj = eval(*e.children[0], scope);
      Value parts[3];
      for (int i = 0; i < 3; ++i) parts[i] = e.children[i + 1] ? eval(*e.children[i + 1], scope) : Value(nullptr);
      return get_slice(obj, parts[0], parts[1], parts[2]);
    }
    case Expr::Kind::Call: {
      Value callee = eval(*e.children[0], scope);
      CallArgs args = eval_args(e, scope, 1);
      line_ = e.line;
      return call_value(callee, args);
    }
    case Expr::Kind::Filter: {
      Value subject = eval(*e.children[0], scope);
      CallArgs args = eval_args(e, scope, 1);
      line_ = e.line;
      return apply_filter(e.name, subject, args);
    }
    case Expr::Kind::Test: {
      Value subject = eval(*e.children[0], scope);
      CallArgs args = eval_args(e, scope, 1);
      line_ = e.line;
      return Value(apply_test(e.name, subject, args) != e.negated);
    }
    case Expr::Kind::Unary: {
      Value v = eval(*e.children[0], scope);
      if (e.name == "not") return Value(!truthy(v));
      if (v.is_undefined()) fail_undefined(v);
      if (!v.is_number()) throw RenderError(std::string("bad operand type for unary ") + e.name + ": '" + v.type_name() + "'");
      if (e.name == "+") return v.is_bool() ? Value(int_of(v)) : v;
      return v.is_float() ? Value(-v.as_double()) : Value(-int_of(v));
    }
    case Expr::Kind::Binary: return eval_binary(e, scope);
    case Expr::Kind::Compare: return eval_compare(e, scope);
    case Expr::Kind::Cond:
      if (truthy(eval(*e.children[0], scope))) return eval(*e.children[1], scope);
      if (e.children[2]) return eval(*e.children[2], scope);
      return Value::undefined("the inline if-expression on line " + std::to_string(e.line) +
                              " evaluated to false and no else section was defined.");
  }
  return Value();
}

Value Interpreter::eval_binary(const Expr& e, const std::shared_ptr<Scope>& scope) {
  const std::string& op = e.name;
  Value a = eval(*e.children[0], scope);
  if (op == "and") return truthy(a) ? eval(*e.children[1], scope) : a;
  if (op == "or") return truthy(a) ? a : eval(*e.children[1], scope);
  Value b = eval(*e.children[1], scope);
  line_ = e.line;
  if (op == "~") return Value(py_str(a) + py_str(b));
  return arith(op, a, b);
}

Value Interpreter::eval_compare(const Expr& e, const std::shared_ptr<Scope>& scope) {
  Value left = eval(*e.children[0], scope);
  for (size_t i = 0; i < e.ops.size(); ++i) {
    Value right = eval(*e.children[i + 1], scope);
    line_ = e.line;
    const std::string& op = e.ops[i];
    bool r;
    if (op == "==") r = py_equal(left, right);
    else if (op == "!=") r = !py_equal(left, right);
    else if (op == "in") r = py_contains(right, left);
    else if (op == "notin") r = !py_contains(right, left);
    else {
      int c = py_compare(left, right, op.c_str());
      r = op == "<" ? c < 0 : op == ">" ? c > 0 : op == "<=" ? c <= 0 : c >= 0;
    }
    if (!r) return Value(false);
    left = std::move(right);
  }
  return Value(true);
}

}  // namespace hlwq::chat::jinja
