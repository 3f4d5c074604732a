#include "value.h"

#include <algorithm>
#include <cmath>

#include "py_format.h"

namespace hlwq::chat::jinja {

bool Value::is_dict() const { return is_object() && dict().flavor == DictObj::Flavor::Dict; }

double Value::as_double() const {
  if (is_bool()) return as_bool() ? 1.0 : 0.0;
  if (is_int()) return static_cast<double>(as_int());
  return std::get<double>(v);
}

const char* Value::type_name() const {
  switch (v.index()) {
    case 0: return "Undefined";
    case 1: return "NoneType";
    case 2: return "bool";
    case 3: return "int";
    case 4: return "float";
    case 5: return is_safe() ? "Markup" : "str";
    case 6: return list().tuple ? "tuple" : "list";
    case 7:
      switch (dict().flavor) {
        case DictObj::Flavor::Dict: return "dict";
        case DictObj::Flavor::Namespace: return "Namespace";
        case DictObj::Flavor::Loop: return "LoopContext";
      }
      return "object";
    default: return "function";
  }
}

const Value* DictObj::find(const std::string& key) const {
  for (const auto& [k, v] : items)
    if (k == key) return &v;
  return nullptr;
}

void DictObj::set(const std::string& key, Value value) {
  for (auto& [k, v] : items)
    if (k == key) { v = std::move(value); return; }
  items.emplace_back(key, std::move(value));
}

const Value* CallArgs::get(size_t index, const std::string& name) const {
  for (const auto& [k, v] : keyword)
    if (k == name) return &v;
  if (index < positional.size()) return &positional[index];
  return nullptr;
}

Value from_json(const nlohmann::ordered_json& j) {
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null: return Value(nullptr);
    case nlohmann::ordered_json::value_t::boolean: return Value(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer: return Value(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      auto u = j.get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return Value(static_cast<double>(u));
      return Value(static_cast<int64_t>(u));
    }
    case nlohmann::ordered_json::value_t::number_float: return Value(j.get<double>());
    case nlohmann::ordered_json::value_t::string: return Value(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      std::vector<Value> items;
      items.reserve(j.size());
      for (const auto& e : j) items.push_back(from_json(e));
      return make_list(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      Value d = make_dict();
      for (auto it = j.begin(); it != j.end(); ++it) d.dict().items.emplace_back(it.key(), from_json(it.value()));
      return d;
    }
    default: return Value(nullptr);
  }
}

[[noreturn]] void fail_undefined(const Value& v) {
  throw RenderError(v.undefined_hint().empty() ? "a value is undefined" : v.undefined_hint());
}

bool truthy(const Value& v) {
  switch (v.v.index()) {
    case 0: return false;
    case 1: return false;
    case 2: return v.as_bool();
    case 3: return v.as_int() != 0;
    case 4: return v.as_double() != 0.0;
    case 5: return !v.str().empty();
    case 6: return !v.list().items.empty();
    case 7: return v.dict().flavor != DictObj::Flavor::Dict || !v.dict().items.empty();
    default: return true;
  }
}

bool py_equal(const Value& a, const Value& b) {
  if (a.is_undefined() || b.is_undefined()) return a.is_undefined() && b.is_undefined();
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_double() == b.as_double();
    auto ai = a.is_bool() ? int64_t{a.as_bool()} : a.as_int();
    auto bi = b.is_bool() ? int64_t{b.as_bool()} : b.as_int();
    return ai == bi;
  }
  if (a.v.index() != b.v.index()) return false;
  switch (a.v.index()) {
    case 1: return true;
    case 5: return a.str() == b.str();
    case 6: {
      const auto& x = a.list().items;
      const auto& y = b.list().items;
      if (a.list().tuple != b.list().tuple || x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i)
        if (!py_equal(x[i], y[i])) return false;
      return true;
    }
    case 7: {
      if (&a.dict() == &b.dict()) return true;
      if (a.dict().flavor != DictObj::Flavor::Dict || b.dict().flavor != DictObj::Flavor::Dict) return false;
      const auto& x = a.dict().items;
      if (x.size() != b.dict().items.size()) return false;
      for (const auto& [k, v] : x) {
        const Value* o = b.dict().find(k);
        if (!o || !py_equal(v, *o)) return false;
      }
      return true;
    }
    case 8: return &a.callable() == &b.callable();
  }
  return false;
}

int py_compare(const Value& a, const Value& b, const char* op) {
  if (a.is_undefined()) fail_undefined(a);
  if (b.is_undefined()) fail_undefined(b);
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) {
      double x = a.as_double(), y = b.as_double();
      return x < y ? -1 : (x > y ? 1 : 0);
    }
    auto x = a.is_bool() ? int64_t{a.as_bool()} : a.as_int();
    auto y = b.is_bool() ? int64_t{b.as_bool()} : b.as_int();
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (a.is_string() && b.is_string()) {
    int c = a.str().compare(b.str());  // UTF-8 byte order is code point order
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  if (a.is_list() && b.is_list() && a.list().tuple == b.list().tuple) {
    const auto& x = a.list().items;
    const auto& y = b.list().items;
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (py_equal(x[i], y[i])) continue;
      return py_compare(x[i], y[i], op);
    }
    return x.size() < y.size() ? -1 : (x.size() > y.size() ? 1 : 0);
  }
  throw RenderError(std::string("'") + op + "' not supported between instances of '" + a.type_name() + "' and '" +
                    b.type_name() + "'");
}

std::string py_str(const Value& v) {
  switch (v.v.index()) {
    case 0: return "";
    case 5: return v.str();
    default: return py_repr(v);
  }
}

std::string py_repr(const Value& v) {
  switch (v.v.index()) {
    case 0: return "Undefined";
    case 1: return "None";
    case 2: return v.as_bool() ? "True" : "False";
    case 3: return std::to_string(v.as_int());
    case 4: return py_float_repr(v.as_double());
    case 5: return v.is_safe() ? "Markup(" + py_str_repr(v.str()) + ")" : py_str_repr(v.str());
    case 6: {
      const auto& l = v.list();
      std::string out = l.tuple ? "(" : "[";
      for (size_t i = 0; i < l.items.size(); ++i) {
        if (i) out += ", ";
        out += py_repr(l.items[i]);
      }
      if (l.tuple && l.items.size() == 1) out += ",";
      out += l.tuple ? ")" : "]";
      return out;
    }
    case 7: {
      const auto& d = v.dict();
      if (d.flavor == DictObj::Flavor::Namespace) {
        std::string out = "<Namespace {";
        bool first = true;
        for (const auto& [k, x] : d.items) {
          if (!first) out += ", ";
          first = false;
          out += py_str_repr(k) + ": " + py_repr(x);
        }
        return out + "}>";
      }
      if (d.flavor == DictObj::Flavor::Loop) return "<LoopContext>";
      std::string out = "{";
      bool first = true;
      for (const auto& [k, x] : d.items) {
        if (!first) out += ", ";
        first = false;
        out += py_str_repr(k) + ": " + py_repr(x);
      }
      return out + "}";
    }
    default: return "<function " + v.callable().name + ">";
  }
}

std::vector<Value> iterate(const Value& v) {
  if (v.is_undefined()) return {};
  if (v.is_list()) return v.list().items;
  if (v.is_object() && v.dict().flavor == DictObj::Flavor::Dict) {
    std::vector<Value> keys;
    for (const auto& [k, x] : v.dict().items) keys.emplace_back(k);
    return keys;
  }
  if (v.is_string()) {
    std::vector<Value> chars;
    std::string piece;
    for (char32_t c : utf8_decode(v.str())) {
      piece.clear();
      utf8_append(piece, c);
      chars.emplace_back(piece);
    }
    return chars;
  }
  throw RenderError(std::string("'") + v.type_name() + "' object is not iterable");
}

int64_t py_len(const Value& v) {
  if (v.is_undefined()) return 0;
  if (v.is_string()) return static_cast<int64_t>(utf8_decode(v.str()).size());
  if (v.is_list()) return static_cast<int64_t>(v.list().items.size());
  if (v.is_object() && v.dict().flavor == DictObj::Flavor::Dict) return static_cast<int64_t>(v.dict().items.size());
  throw RenderError(std::string("object of type '") + v.type_name() + "' has no len()");
}

std::u32string utf8_decode(const std::string& s) {
  std::u32string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    int extra = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : -1;
    if (extra < 0 || i + static_cast<size_t>(extra) >= s.size()) {
      out.push_back(0xFFFD);  // invalid UTF-8 (messages come from JSON strings, so rare)
      ++i;
      continue;
    }
    char32_t cp = extra == 0 ? c : (c & (0x3F >> extra));
    for (int k = 1; k <= extra; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    out.push_back(cp);
    i += extra + 1;
  }
  return out;
}

void utf8_append(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

std::string utf8_encode(const std::u32string& s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) utf8_append(out, c);
  return out;
}

}  // namespace hlwq::chat::jinja
