#pragma once
// Template values with Python's semantics, because transformers renders with jinja2 on
// Python objects: JSON-like data plus jinja2's Undefined, callables (macros, builtins, bound
// methods) and namespace/loop objects. Lists and dicts are shared references, as in Python.
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace hlwq::chat::jinja {

// A render-time failure; the interpreter adds the template name and line.
struct RenderError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Value;
struct ListObj;
struct DictObj;
struct CallableObj;

struct Undefined {
  std::string hint;  // why it is undefined: "'foo' is undefined", "'dict object' has no attribute 'x'"
};
struct Str {
  std::string s;
  bool safe = false;  // markupsafe.Markup (from |safe): `+` escapes the other operand
};

struct Value {
  std::variant<Undefined, std::nullptr_t, bool, int64_t, double, Str, std::shared_ptr<ListObj>,
               std::shared_ptr<DictObj>, std::shared_ptr<CallableObj>>
      v;

  Value() : v(Undefined{}) {}
  Value(std::nullptr_t) : v(nullptr) {}
  Value(bool b) : v(b) {}
  Value(int i) : v(int64_t{i}) {}
  Value(int64_t i) : v(i) {}
  Value(double d) : v(d) {}
  Value(std::string s, bool safe = false) : v(Str{std::move(s), safe}) {}
  Value(const char* s) : v(Str{s, false}) {}
  Value(std::shared_ptr<ListObj> l) : v(std::move(l)) {}
  Value(std::shared_ptr<DictObj> d) : v(std::move(d)) {}
  Value(std::shared_ptr<CallableObj> c) : v(std::move(c)) {}
  static Value undefined(std::string hint) { Value r; r.v = Undefined{std::move(hint)}; return r; }

  bool is_undefined() const { return v.index() == 0; }
  bool is_none() const { return v.index() == 1; }
  bool is_bool() const { return v.index() == 2; }
  bool is_int() const { return v.index() == 3; }
  bool is_float() const { return v.index() == 4; }
  bool is_number() const { return is_bool() || is_int() || is_float(); }  // Python: bool is a Number
  bool is_string() const { return v.index() == 5; }
  bool is_list() const { return v.index() == 6; }
  bool is_dict() const;  // a mapping (not namespace/loop objects)
  bool is_object() const { return v.index() == 7; }  // dict, namespace or loop
  bool is_callable() const { return v.index() == 8; }

  bool as_bool() const { return std::get<bool>(v); }
  int64_t as_int() const { return std::get<int64_t>(v); }
  double as_double() const;  // any number
  const std::string& str() const { return std::get<Str>(v).s; }
  bool is_safe() const { return is_string() && std::get<Str>(v).safe; }
  ListObj& list() const { return *std::get<6>(v); }
  DictObj& dict() const { return *std::get<7>(v); }
  CallableObj& callable() const { return *std::get<8>(v); }
  const std::string& undefined_hint() const { return std::get<Undefined>(v).hint; }

  const char* type_name() const;  // Python's: "str", "int", "list", "dict", "NoneType"...
};

struct ListObj {
  std::vector<Value> items;
  bool tuple = false;  // prints as (a, b)
};

// An ordered dict (Python dicts keep insertion order, and it shows in tojson/items).
struct DictObj {
  enum class Flavor { Dict, Namespace, Loop };
  std::vector<std::pair<std::string, Value>> items;
  Flavor flavor = Flavor::Dict;
  const Value* find(const std::string& key) const;
  void set(const std::string& key, Value value);
};

struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
  Value caller;  // the body of a {% call %} block, when called from one
  // The named argument at position `index` or keyword `name`; undefined when absent.
  const Value* get(size_t index, const std::string& name) const;
};

struct CallableObj {
  std::string name;
  std::function<Value(CallArgs&)> fn;
};

inline Value make_list(std::vector<Value> items = {}, bool tuple = false) {
  auto l = std::make_shared<ListObj>();
  l->items = std::move(items);
  l->tuple = tuple;
  return Value(std::move(l));
}
inline Value make_dict(DictObj::Flavor flavor = DictObj::Flavor::Dict) {
  auto d = std::make_shared<DictObj>();
  d->flavor = flavor;
  return Value(std::move(d));
}
inline Value make_callable(std::string name, std::function<Value(CallArgs&)> fn) {
  return Value(std::make_shared<CallableObj>(CallableObj{std::move(name), std::move(fn)}));
}

Value from_json(const nlohmann::ordered_json& j);

// Python semantics.
bool truthy(const Value& v);
bool py_equal(const Value& a, const Value& b);
int py_compare(const Value& a, const Value& b, const char* op);  // <0, 0, >0; throws TypeError-like
std::string py_str(const Value& v);   // str(v); undefined -> ""
std::string py_repr(const Value& v);  // repr(v)
[[noreturn]] void fail_undefined(const Value& v);
// Iterating: lists/tuples, dict keys, string characters; undefined is empty.
std::vector<Value> iterate(const Value& v);
int64_t py_len(const Value& v);

// UTF-8 <-> code points, for Python's character-based len/index/slice.
std::u32string utf8_decode(const std::string& s);
std::string utf8_encode(const std::u32string& s);
void utf8_append(std::string& out, char32_t c);

}  // namespace hlwq::chat::jinja
