// jinja2's tests (`x is string`), with Python's type rules: bool is a number, dicts and
// Undefined count as sequences (they have __len__ and __getitem__), namespaces are not mappings.
#include <map>
#include <set>

#include "builtins.h"
#include "interpreter.h"

namespace hlwq::chat::jinja {
namespace {

using TestFn = bool (*)(const Value&, const CallArgs&);

const Value& arg0(const CallArgs& a, const char* test) {
  const Value* v = a.get(0, "other");
  if (!v) throw RenderError(std::string("test '") + test + "' needs an argument");
  return *v;
}

bool integral(const Value& v) { return v.is_int(); }

const std::map<std::string, TestFn>& tests() {
  static const std::map<std::string, TestFn> t = [] {
    std::map<std::string, TestFn> m;
    m["defined"] = [](const Value& v, const CallArgs&) { return !v.is_undefined(); };
    m["undefined"] = [](const Value& v, const CallArgs&) { return v.is_undefined(); };
    m["none"] = [](const Value& v, const CallArgs&) { return v.is_none(); };
    m["string"] = [](const Value& v, const CallArgs&) { return v.is_string(); };
    m["mapping"] = [](const Value& v, const CallArgs&) { return v.is_dict(); };
    m["sequence"] = [](const Value& v, const CallArgs&) {
      return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict();
    };
    m["iterable"] = [](const Value& v, const CallArgs&) {
      return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict();
    };
    m["number"] = [](const Value& v, const CallArgs&) { return v.is_number(); };
    m["integer"] = [](const Value& v, const CallArgs&) { return integral(v); };
    m["float"] = [](const Value& v, const CallArgs&) { return v.is_float(); };
    m["boolean"] = [](const Value& v, const CallArgs&) { return v.is_bool(); };
    m["true"] = [](const Value& v, const CallArgs&) { return v.is_bool() && v.as_bool(); };
    m["false"] = [](const Value& v, const CallArgs&) { return v.is_bool() && !v.as_bool(); };
    m["callable"] = [](const Value& v, const CallArgs&) { return v.is_callable(); };
    m["escaped"] = [](const Value& v, const CallArgs&) { return v.is_safe(); };
    m["odd"] = [](const Value& v, const CallArgs&) {
      if (!v.is_int()) throw RenderError("test 'odd' needs an integer");
      return (v.as_int() % 2) != 0;
    };
    m["even"] = [](const Value& v, const CallArgs&) {
      if (!v.is_int()) throw RenderError("test 'even' needs an integer");
      return (v.as_int() % 2) == 0;
    };
    m["divisibleby"] = [](const Value& v, const CallArgs& a) {
      const Value& n = arg0(a, "divisibleby");
      if (!v.is_int() || !n.is_int() || n.as_int() == 0) throw RenderError("test 'divisibleby' needs non-zero integers");
      return v.as_int() % n.as_int() == 0;
    };
    m["lower"] = [](const Value& v, const CallArgs&) {
      std::string s = py_str(v);
      bool cased = false;
      for (char c : s) {
        if (c >= 'A' && c <= 'Z') return false;
        cased |= c >= 'a' && c <= 'z';
      }
      return cased;
    };
    m["upper"] = [](const Value& v, const CallArgs&) {
      std::string s = py_str(v);
      bool cased = false;
      for (char c : s) {
        if (c >= 'a' && c <= 'z') return false;
        cased |= c >= 'A' && c <= 'Z';
      }
      return cased;
    };
    m["eq"] = [](const Value& v, const CallArgs& a) { return py_equal(v, arg0(a, "eq")); };
    m["ne"] = [](const Value& v, const CallArgs& a) { return !py_equal(v, arg0(a, "ne")); };
    m["lt"] = [](const Value& v, const CallArgs& a) { return py_compare(v, arg0(a, "lt"), "<") < 0; };
    m["le"] = [](const Value& v, const CallArgs& a) { return py_compare(v, arg0(a, "le"), "<=") <= 0; };
    m["gt"] = [](const Value& v, const CallArgs& a) { return py_compare(v, arg0(a, "gt"), ">") > 0; };
    m["ge"] = [](const Value& v, const CallArgs& a) { return py_compare(v, arg0(a, "ge"), ">=") >= 0; };
    m["in"] = [](const Value& v, const CallArgs& a) {
      const Value* seq = a.get(0, "seq");
      if (!seq) throw RenderError("test 'in' needs an argument");
      return py_contains(*seq, v);
    };
    m["sameas"] = [](const Value& v, const CallArgs& a) {
      const Value& o = arg0(a, "sameas");
      if (v.v.index() != o.v.index()) return false;
      if (v.is_list()) return &v.list() == &o.list();
      if (v.is_object()) return &v.dict() == &o.dict();
      if (v.is_callable()) return &v.callable() == &o.callable();
      return py_equal(v, o);
    };
    m["filter"] = [](const Value& v, const CallArgs&) { return v.is_string() && has_filter(v.str()); };
    m["test"] = [](const Value& v, const CallArgs&) { return v.is_string() && has_test(v.str()); };
    m["equalto"] = m["eq"];
    m["=="] = m["eq"];
    m["!="] = m["ne"];
    m["<"] = m["lt"];
    m["lessthan"] = m["lt"];
    m["<="] = m["le"];
    m[">"] = m["gt"];
    m["greaterthan"] = m["gt"];
    m[">="] = m["ge"];
    return m;
  }();
  return t;
}

}  // namespace

bool has_test(const std::string& name) { return tests().count(name) != 0; }

bool apply_test(const std::string& name, const Value& subject, const CallArgs& args) {
  auto it = tests().find(name);
  if (it == tests().end()) throw RenderError("No test named '" + name + "'.");
  // Tests of the value alone take no argument; jinja2 (Python) rejects one.
  static const std::set<std::string> unary = {"defined", "undefined", "none", "string", "mapping", "sequence",
                                              "iterable", "number", "integer", "float", "boolean", "true", "false",
                                              "callable", "escaped", "odd", "even", "lower", "upper", "filter", "test"};
  size_t given = args.positional.size() + args.keyword.size();
  if (unary.count(name) && given > 0)
    throw RenderError("test_" + name + "() takes 1 positional argument but " + std::to_string(given + 1) + " were given");
  if (!unary.count(name) && given > 1)
    throw RenderError("test '" + name + "' takes one argument, " + std::to_string(given) + " given");
  return it->second(subject, args);
}

}  // namespace hlwq::chat::jinja
