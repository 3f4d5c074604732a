// jinja2's filters as transformers sees them: its own tojson (json.dumps, ensure_ascii off,
// no HTML escaping) replaces jinja2's, everything else is jinja2 3.1 with autoescape off.
#include <algorithm>
#include <cmath>
#include <map>

#include "builtins.h"
#include "interpreter.h"
#include "py_format.h"

namespace hlwq::chat::jinja {
namespace {

using FilterFn = Value (*)(const Value&, const CallArgs&);

// soft_str: strings (Markup included) stay as they are, the rest becomes str(x).
Value soft_str(const Value& v) { return v.is_string() ? v : Value(py_str(v)); }

// jinja2's make_attrgetter: "a.b.0" looked up item-first at each step.
Value attr_path(const Value& obj, const std::string& path) {
  Value cur = obj;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    bool numeric = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (cur.is_undefined()) fail_undefined(cur);
    cur = get_item(cur, numeric ? Value(static_cast<int64_t>(std::stoll(part))) : Value(part));
    if (dot == std::string::npos) return cur;
    start = dot + 1;
  }
}

const Value* arg(const CallArgs& a, size_t i, const char* name) { return a.get(i, name); }

bool bool_arg(const CallArgs& a, size_t i, const char* name, bool fallback) {
  const Value* v = arg(a, i, name);
  return v ? truthy(*v) : fallback;
}

std::vector<Value> items_of(const Value& v) {
  if (v.is_undefined()) return {};
  return iterate(v);
}

// Key for sort/unique/min/max: optional attribute, lower-cased strings unless case_sensitive.
Value sort_key(const Value& v, const Value* attribute, bool case_sensitive) {
  Value k = attribute && !attribute->is_none() ? attr_path(v, py_str(*attribute)) : v;
  if (!case_sensitive && k.is_string()) {
    CallArgs none;
    return call_value(find_method(k, "lower"), none);
  }
  return k;
}

Value select_or_reject(const Value& seq, const CallArgs& a, bool attr_mode, bool select) {
  size_t next = 0;
  std::string attribute;
  if (attr_mode) {
    const Value* at = arg(a, 0, "attribute");
    if (!at) throw RenderError("selectattr/rejectattr need an attribute name");
    attribute = py_str(*at);
    next = 1;
  }
  std::string test;
  CallArgs test_args;
  if (next < a.positional.size()) {
    test = py_str(a.positional[next]);
    test_args.positional.assign(a.positional.begin() + static_cast<long>(next) + 1, a.positional.end());
    test_args.keyword = a.keyword;
  }
  std::vector<Value> out;
  for (const auto& item : items_of(seq)) {
    Value subject = attr_mode ? attr_path(item, attribute) : item;
    bool ok = test.empty() ? truthy(subject) : apply_test(test, subject, test_args);
    if (ok == select) out.push_back(item);
  }
  return make_list(std::move(out));
}

Value to_int(const Value& v, const CallArgs& a) {
  const Value* def = arg(a, 0, "default");
  Value fallback = def ? *def : Value(int64_t{0});
  if (v.is_int()) return v;
  if (v.is_bool()) return Value(int64_t{v.as_bool()});
  if (v.is_float()) return std::isfinite(v.as_double()) ? Value(static_cast<int64_t>(v.as_double())) : fallback;
  if (v.is_string()) {
    std::string s = py_strip(v.str(), Value(nullptr), true, true);
    std::string digits;
    for (char c : s)
      if (c != '_') digits += c;
    try {
      size_t used = 0;
      long long r = std::stoll(digits, &used, 10);
      if (used == digits.size() && !digits.empty()) return Value(static_cast<int64_t>(r));
    } catch (const std::exception&) {
    }
    try {
      size_t used = 0;
      double d = std::stod(s, &used);
      if (used == s.size() && std::isfinite(d)) return Value(static_cast<int64_t>(d));
    } catch (const std::exception&) {
    }
  }
  return fallback;
}

Value to_float(const Value& v, const CallArgs& a) {
  const Value* def = arg(a, 0, "default");
  Value fallback = def ? *def : Value(0.0);
  if (v.is_number()) return Value(v.as_double());
  if (v.is_string()) {
    std::string s = py_strip(v.str(), Value(nullptr), true, true);
    try {
      size_t used = 0;
      double d = std::stod(s, &used);
      if (used == s.size()) return Value(d);
    } catch (const std::exception&) {
    }
  }
  return fallback;
}

// printf-style `"%s and %d"|format(a, b)`: the conversions templates use.
Value printf_format(const Value& v, const CallArgs& a) {
  std::string f = py_str(v), out;
  size_t next = 0;
  for (size_t i = 0; i < f.size(); ++i) {
    if (f[i] != '%') { out += f[i]; continue; }
    if (i + 1 >= f.size()) throw RenderError("incomplete format");
    char c = f[++i];
    if (c == '%') { out += '%'; continue; }
    if (next >= a.positional.size()) throw RenderError("not enough arguments for format string");
    const Value& x = a.positional[next++];
    if (c == 's') out += py_str(x);
    else if (c == 'r') out += py_repr(x);
    else if (c == 'd' || c == 'i') {
      if (!x.is_number()) throw RenderError(std::string("%d format: a number is required, not ") + x.type_name());
      out += std::to_string(x.is_float() ? static_cast<int64_t>(x.as_double()) : (x.is_bool() ? int64_t{x.as_bool()} : x.as_int()));
    } else {
      throw RenderError(std::string("unsupported format character '") + c + "'");
    }
  }
  return Value(out);
}

// An indent width: an int, negative meaning none (as Python's json does), and sane in size.
int64_t width_arg(const Value& w, const char* filter) {
  if (!w.is_int()) throw RenderError(std::string(filter) + ": indent must be an int or a string");
  if (w.as_int() > 256) throw RenderError(std::string(filter) + ": indent " + std::to_string(w.as_int()) + " is too large");
  return std::max<int64_t>(0, w.as_int());
}

Value indent(const Value& v, const CallArgs& a) {
  const Value* w = arg(a, 0, "width");
  std::string ind = "    ";
  if (w && w->is_string()) ind = w->str();
  else if (w) ind = std::string(static_cast<size_t>(width_arg(*w, "indent")), ' ');
  bool first = bool_arg(a, 1, "first", false), blank = bool_arg(a, 2, "blank", false);
  std::string s = py_str(v) + "\n";
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\n' || s[i] == '\r') {
      lines.push_back(s.substr(start, i - start));
      if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
      start = i + 1;
    }
  }
  std::string rv;
  if (blank) {
    for (size_t i = 0; i < lines.size(); ++i) rv += (i ? "\n" + ind : "") + lines[i];
  } else {
    rv = lines.empty() ? "" : lines[0];
    for (size_t i = 1; i < lines.size(); ++i) rv += "\n" + (lines[i].empty() ? "" : ind + lines[i]);
  }
  if (first) rv = ind + rv;
  return Value(rv);
}

const std::map<std::string, FilterFn>& filters() {
  static const std::map<std::string, FilterFn> f = [] {
    std::map<std::string, FilterFn> m;
    m["tojson"] = [](const Value& v, const CallArgs& a) -> Value {
      JsonDumpOptions o;
      o.ensure_ascii = bool_arg(a, 0, "ensure_ascii", false);
      if (const Value* ind = arg(a, 1, "indent"); ind && !ind->is_none()) {
        if (ind->is_string()) o.indent = ind->str();
        else o.indent = std::string(static_cast<size_t>(width_arg(*ind, "tojson")), ' ');
      }
      if (const Value* sep = arg(a, 2, "separators"); sep && !sep->is_none()) {
        if (!sep->is_list() || sep->list().items.size() != 2) throw RenderError("tojson: separators must be a pair");
        o.item_separator = py_str(sep->list().items[0]);
        o.key_separator = py_str(sep->list().items[1]);
      }
      o.sort_keys = bool_arg(a, 3, "sort_keys", false);
      return Value(py_json_dumps(v, o));
    };
    m["safe"] = [](const Value& v, const CallArgs&) -> Value { return Value(py_str(v), true); };
    m["escape"] = [](const Value& v, const CallArgs&) -> Value {
      return v.is_safe() ? v : Value(html_escape(py_str(v)), true);
    };
    m["e"] = m["escape"];
    m["forceescape"] = [](const Value& v, const CallArgs&) -> Value { return Value(html_escape(py_str(v)), true); };
    m["string"] = [](const Value& v, const CallArgs&) -> Value { return soft_str(v); };
    m["trim"] = [](const Value& v, const CallArgs& a) -> Value {
      const Value* chars = arg(a, 0, "chars");
      Value s = soft_str(v);
      return Value(py_strip(s.str(), chars ? *chars : Value(nullptr), true, true), s.is_safe());
    };
    m["items"] = [](const Value& v, const CallArgs&) -> Value {
      if (v.is_undefined()) return make_list();
      if (!v.is_dict()) throw RenderError("Can only get item pairs from a mapping.");
      std::vector<Value> out;
      for (const auto& [k, x] : v.dict().items) out.push_back(make_list({Value(k), x}, true));
      return make_list(std::move(out));
    };
    m["length"] = [](const Value& v, const CallArgs&) -> Value { return Value(py_len(v)); };
    m["count"] = m["length"];
    m["join"] = [](const Value& v, const CallArgs& a) -> Value {
      const Value* d = arg(a, 0, "d");
      const Value* attribute = arg(a, 1, "attribute");
      std::string sep = d ? py_str(*d) : "";
      std::string out;
      bool first = true;
      for (const auto& x : items_of(v)) {
        if (!first) out += sep;
        first = false;
        out += py_str(attribute && !attribute->is_none() ? attr_path(x, py_str(*attribute)) : x);
      }
      return Value(out);
    };
    m["default"] = [](const Value& v, const CallArgs& a) -> Value {
      const Value* d = arg(a, 0, "default_value");
      bool boolean = bool_arg(a, 1, "boolean", false);
      if (v.is_undefined() || (boolean && !truthy(v))) return d ? *d : Value("");
      return v;
    };
    m["d"] = m["default"];
    m["first"] = [](const Value& v, const CallArgs&) -> Value {
      auto items = items_of(v);
      return items.empty() ? Value::undefined("No first item, sequence was empty.") : items.front();
    };
    m["last"] = [](const Value& v, const CallArgs&) -> Value {
      auto items = items_of(v);
      return items.empty() ? Value::undefined("No last item, sequence was empty.") : items.back();
    };
    m["reverse"] = [](const Value& v, const CallArgs&) -> Value {
      if (v.is_string()) {
        std::u32string u = utf8_decode(v.str());
        std::reverse(u.begin(), u.end());
        return Value(utf8_encode(u));
      }
      auto items = items_of(v);
      std::reverse(items.begin(), items.end());
      return make_list(std::move(items));
    };
    m["list"] = [](const Value& v, const CallArgs&) -> Value { return make_list(items_of(v)); };
    m["map"] = [](const Value& v, const CallArgs& a) -> Value {
      std::vector<Value> out;
      if (a.positional.empty()) {
        const Value* attribute = a.get(99, "attribute");
        if (!attribute) throw RenderError("map() needs a filter name or attribute=");
        const Value* def = a.get(99, "default");
        for (const auto& x : items_of(v)) {
          Value r = attr_path(x, py_str(*attribute));
          out.push_back(r.is_undefined() && def ? *def : r);
        }
      } else {
        std::string name = py_str(a.positional[0]);
        if (!has_filter(name)) throw RenderError("No filter named '" + name + "'.");
        CallArgs rest;
        rest.positional.assign(a.positional.begin() + 1, a.positional.end());
        rest.keyword = a.keyword;
        for (const auto& x : items_of(v)) out.push_back(apply_filter(name, x, rest));
      }
      return make_list(std::move(out));
    };
    m["select"] = [](const Value& v, const CallArgs& a) -> Value { return select_or_reject(v, a, false, true); };
    m["reject"] = [](const Value& v, const CallArgs& a) -> Value { return select_or_reject(v, a, false, false); };
    m["selectattr"] = [](const Value& v, const CallArgs& a) -> Value { return select_or_reject(v, a, true, true); };
    m["rejectattr"] = [](const Value& v, const CallArgs& a) -> Value { return select_or_reject(v, a, true, false); };
    m["lower"] = [](const Value& v, const CallArgs&) -> Value {
      CallArgs none;
      return call_value(find_method(soft_str(v), "lower"), none);
    };
    m["upper"] = [](const Value& v, const CallArgs&) -> Value {
      CallArgs none;
      return call_value(find_method(soft_str(v), "upper"), none);
    };
    m["capitalize"] = [](const Value& v, const CallArgs&) -> Value {
      CallArgs none;
      return call_value(find_method(soft_str(v), "capitalize"), none);
    };
    m["title"] = [](const Value& v, const CallArgs&) -> Value {
      // jinja2 capitalises after runs of whitespace and -({[<, not after every non-letter.
      std::u32string u = utf8_decode(py_str(v));
      std::string out, word;
      auto flush = [&] {
        if (word.empty()) return;
        Value w(word);
        CallArgs none;
        std::u32string wu = utf8_decode(word);
        std::string head = utf8_encode(wu.substr(0, 1)), tail = utf8_encode(wu.substr(1));
        out += call_value(find_method(Value(head), "upper"), none).str() +
               call_value(find_method(Value(tail), "lower"), none).str();
        word.clear();
      };
      for (char32_t c : u) {
        bool sep = c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || c == ' ' || (c >= 0x09 && c <= 0x0D);
        if (sep) {
          flush();
          utf8_append(out, c);
        } else {
          utf8_append(word, c);
        }
      }
      flush();
      return Value(out);
    };
    m["replace"] = [](const Value& v, const CallArgs& a) -> Value {
      CallArgs copy = a;
      return call_value(find_method(soft_str(v), "replace"), copy);
    };
    m["int"] = to_int;
    m["float"] = to_float;
    m["abs"] = [](const Value& v, const CallArgs&) -> Value {
      if (v.is_float()) return Value(std::fabs(v.as_double()));
      if (v.is_int()) return Value(v.as_int() < 0 ? -v.as_int() : v.as_int());
      if (v.is_bool()) return Value(int64_t{v.as_bool()});
      throw RenderError(std::string("bad operand type for abs(): '") + v.type_name() + "'");
    };
    m["round"] = [](const Value& v, const CallArgs& a) -> Value {
      const Value* p = arg(a, 0, "precision");
      const Value* method = arg(a, 1, "method");
      if (p && !p->is_int()) throw RenderError("round(): precision must be an integer");
      int64_t prec = p ? p->as_int() : 0;
      std::string how = method ? py_str(*method) : "common";
      if (!v.is_number()) throw RenderError("round() needs a number");
      double scale = std::pow(10.0, static_cast<double>(prec)), x = v.as_double() * scale;
      double r = how == "ceil" ? std::ceil(x) : how == "floor" ? std::floor(x) : std::nearbyint(x);
      return Value(r / scale);
    };
    m["sum"] = [](const Value& v, const CallArgs& a) -> Value {
      const Value* attribute = arg(a, 0, "attribute");
      const Value* start = arg(a, 1, "start");
      Value total = start ? *start : Value(int64_t{0});
      for (const auto& x : items_of(v))
        total = py_add(total, attribute && !attribute->is_none() ? attr_path(x, py_str(*attribute)) : x);
      return total;
    };
    auto minmax = [](const Value& v, const CallArgs& a, bool want_max) -> Value {
      bool cs = bool_arg(a, 0, "case_sensitive", false);
      const Value* attribute = arg(a, 1, "attribute");
      auto items = items_of(v);
      if (items.empty()) return Value::undefined(std::string("No aggregated item, sequence was empty."));
      size_t best = 0;
      for (size_t i = 1; i < items.size(); ++i) {
        int c = py_compare(sort_key(items[i], attribute, cs), sort_key(items[best], attribute, cs), "<");
        if (want_max ? c > 0 : c < 0) best = i;
      }
      return items[best];
    };
    static decltype(minmax) mm = minmax;
    m["min"] = [](const Value& v, const CallArgs& a) -> Value { return mm(v, a, false); };
    m["max"] = [](const Value& v, const CallArgs& a) -> Value { return mm(v, a, true); };
    m["sort"] = [](const Value& v, const CallArgs& a) -> Value {
      bool rev = bool_arg(a, 0, "reverse", false), cs = bool_arg(a, 1, "case_sensitive", false);
      const Value* attribute = arg(a, 2, "attribute");
      auto items = items_of(v);
      std::vector<std::pair<Value, Value>> keyed;
      for (auto& x : items) keyed.emplace_back(sort_key(x, attribute, cs), x);
      std::stable_sort(keyed.begin(), keyed.end(), [rev](const auto& x, const auto& y) {
        return rev ? py_compare(y.first, x.first, "<") < 0 : py_compare(x.first, y.first, "<") < 0;
      });
      std::vector<Value> out;
      for (auto& [k, x] : keyed) out.push_back(x);
      return make_list(std::move(out));
    };
    m["unique"] = [](const Value& v, const CallArgs& a) -> Value {
      bool cs = bool_arg(a, 0, "case_sensitive", false);
      const Value* attribute = arg(a, 1, "attribute");
      std::vector<Value> out, seen;
      for (const auto& x : items_of(v)) {
        Value k = sort_key(x, attribute, cs);
        bool dup = false;
        for (const auto& s : seen) dup |= py_equal(s, k);
        if (dup) continue;
        seen.push_back(k);
        out.push_back(x);
      }
      return make_list(std::move(out));
    };
    m["indent"] = indent;
    m["format"] = printf_format;
    m["pprint"] = [](const Value& v, const CallArgs&) -> Value { return Value(py_repr(v)); };
    m["attr"] = [](const Value& v, const CallArgs& a) -> Value {
      const Value* name = arg(a, 0, "name");
      if (!name) throw RenderError("attr() needs a name");
      if (v.is_object() && v.dict().flavor != DictObj::Flavor::Dict) return get_attribute(v, py_str(*name));
      Value mth = find_method(v, py_str(*name));
      return mth.is_undefined() ? Value::undefined("'" + std::string(v.type_name()) + " object' has no attribute '" + py_str(*name) + "'") : mth;
    };
    m["wordcount"] = [](const Value& v, const CallArgs&) -> Value {
      CallArgs none;
      return Value(static_cast<int64_t>(call_value(find_method(Value(py_str(v)), "split"), none).list().items.size()));
    };
    m["dictsort"] = [](const Value& v, const CallArgs& a) -> Value {
      if (!v.is_dict()) throw RenderError("dictsort expects a mapping");
      bool cs = bool_arg(a, 0, "case_sensitive", false);
      std::string by = arg(a, 1, "by") ? py_str(*arg(a, 1, "by")) : "key";
      bool rev = bool_arg(a, 2, "reverse", false);
      std::vector<Value> pairs;
      for (const auto& [k, x] : v.dict().items) pairs.push_back(make_list({Value(k), x}, true));
      size_t idx = by == "value" ? 1 : 0;
      std::stable_sort(pairs.begin(), pairs.end(), [&](const Value& x, const Value& y) {
        Value kx = sort_key(x.list().items[idx], nullptr, cs), ky = sort_key(y.list().items[idx], nullptr, cs);
        return rev ? py_compare(ky, kx, "<") < 0 : py_compare(kx, ky, "<") < 0;
      });
      return make_list(std::move(pairs));
    };
    return m;
  }();
  return f;
}

}  // namespace

bool has_filter(const std::string& name) { return filters().count(name) != 0; }

// Keyword arguments each filter accepts; any other is a TypeError in Python.
const std::map<std::string, std::vector<std::string>>& filter_keywords() {
  static const std::map<std::string, std::vector<std::string>> k = {
      {"tojson", {"ensure_ascii", "indent", "separators", "sort_keys"}},
      {"trim", {"chars"}},
      {"join", {"d", "attribute"}},
      {"default", {"default_value", "boolean"}},
      {"d", {"default_value", "boolean"}},
      {"indent", {"width", "first", "blank"}},
      {"round", {"precision", "method"}},
      {"sort", {"reverse", "case_sensitive", "attribute"}},
      {"unique", {"case_sensitive", "attribute"}},
      {"int", {"default", "base"}},
      {"float", {"default"}},
      {"sum", {"attribute", "start"}},
      {"min", {"case_sensitive", "attribute"}},
      {"max", {"case_sensitive", "attribute"}},
      {"replace", {"old", "new", "count"}},
      {"length", {}}, {"count", {}}, {"string", {}}, {"safe", {}}, {"items", {}}, {"list", {}},
      {"first", {}}, {"last", {}}, {"reverse", {}}, {"lower", {}}, {"upper", {}}, {"capitalize", {}},
      {"title", {}}, {"abs", {}}, {"escape", {}}, {"e", {}},
  };
  return k;
}

Value apply_filter(const std::string& name, const Value& subject, const CallArgs& args) {
  auto it = filters().find(name);
  if (it == filters().end()) throw RenderError("No filter named '" + name + "'.");
  auto allowed = filter_keywords().find(name);
  if (allowed != filter_keywords().end()) {
    for (const auto& [k, v] : args.keyword)
      if (std::find(allowed->second.begin(), allowed->second.end(), k) == allowed->second.end())
        throw RenderError(name + "() got an unexpected keyword argument '" + k + "'");
  }
  return it->second(subject, args);
}

}  // namespace hlwq::chat::jinja
