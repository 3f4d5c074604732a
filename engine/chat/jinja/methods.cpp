// Methods of str, dict and list that templates call (`content.startswith('x')`,
// `message.get('k')`). The immutable sandbox transformers uses forbids mutating ones, so
// append/update/pop are simply absent (Undefined, and calling that fails).
#include <algorithm>
#include <clocale>
#include <cwctype>
#include <locale.h>

#include "builtins.h"
#include "interpreter.h"
#include "py_format.h"

namespace hlwq::chat::jinja {
namespace {

bool py_isspace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

locale_t utf8_locale() {
  static locale_t loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(0));
  return loc;
}

char32_t to_upper(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') ? c - 32 : c;
  locale_t l = utf8_locale();
  return l ? static_cast<char32_t>(towupper_l(static_cast<wint_t>(c), l)) : c;
}
char32_t to_lower(char32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
  locale_t l = utf8_locale();
  return l ? static_cast<char32_t>(towlower_l(static_cast<wint_t>(c), l)) : c;
}
bool is_cased(char32_t c) { return to_upper(c) != c || to_lower(c) != c; }

const std::string& arg_str(const Value* v, const char* method) {
  if (!v || !v->is_string()) throw RenderError(std::string(method) + "() argument must be str");
  return v->str();
}

std::vector<std::string> split(const std::string& s, const Value* sep, int64_t maxsplit) {
  std::vector<std::string> out;
  if (!sep || sep->is_none()) {
    std::u32string u = utf8_decode(s);
    size_t i = 0;
    while (true) {
      while (i < u.size() && py_isspace(u[i])) ++i;
      if (i >= u.size()) break;
      if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) {
        size_t e = u.size();
        while (e > i && py_isspace(u[e - 1])) --e;
        out.push_back(utf8_encode(u.substr(i, e - i)));
        break;
      }
      size_t j = i;
      while (j < u.size() && !py_isspace(u[j])) ++j;
      out.push_back(utf8_encode(u.substr(i, j - i)));
      i = j;
    }
    return out;
  }
  const std::string& d = arg_str(sep, "split");
  if (d.empty()) throw RenderError("empty separator");
  size_t pos = 0;
  while (true) {
    size_t f = s.find(d, pos);
    if (f == std::string::npos || (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit)) {
      out.push_back(s.substr(pos));
      return out;
    }
    out.push_back(s.substr(pos, f - pos));
    pos = f + d.size();
  }
}

Value str_list(const std::vector<std::string>& parts) {
  std::vector<Value> items;
  for (const auto& p : parts) items.emplace_back(p);
  return make_list(std::move(items));
}

int64_t int_arg(const Value* v, int64_t fallback) {
  if (!v || v->is_none()) return fallback;
  if (!v->is_int()) throw RenderError("an integer argument is required");
  return v->as_int();
}

// str.format with automatic/positional/keyword fields and !r/!s; format specs only where
// they cannot change the text (empty).
std::string py_format_method(const std::string& fmt, const CallArgs& a) {
  std::string out;
  size_t auto_index = 0;
  for (size_t i = 0; i < fmt.size(); ++i) {
    char c = fmt[i];
    if (c == '}' ) {
      if (i + 1 < fmt.size() && fmt[i + 1] == '}') { out += '}'; ++i; continue; }
      throw RenderError("Single '}' encountered in format string");
    }
    if (c != '{') { out += c; continue; }
    if (i + 1 < fmt.size() && fmt[i + 1] == '{') { out += '{'; ++i; continue; }
    size_t close = fmt.find('}', i);
    if (close == std::string::npos) throw RenderError("Single '{' encountered in format string");
    std::string field = fmt.substr(i + 1, close - i - 1);
    i = close;
    char conv = 0;
    if (auto colon = field.find(':'); colon != std::string::npos) {
      if (colon + 1 != field.size()) throw RenderError("str.format: format spec '" + field + "' is not supported");
      field.resize(colon);
    }
    if (auto bang = field.find('!'); bang != std::string::npos) {
      conv = bang + 1 < field.size() ? field[bang + 1] : 0;
      field.resize(bang);
    }
    const Value* v = nullptr;
    if (field.empty()) {
      if (auto_index < a.positional.size()) v = &a.positional[auto_index];
      ++auto_index;
    } else if (std::all_of(field.begin(), field.end(), [](char d) { return d >= '0' && d <= '9'; })) {
      size_t idx = std::stoul(field);
      if (idx < a.positional.size()) v = &a.positional[idx];
    } else {
      for (const auto& [k, x] : a.keyword)
        if (k == field) v = &x;
    }
    if (!v) throw RenderError("str.format: no argument for field '{" + field + "}'");
    out += conv == 'r' ? py_repr(*v) : py_str(*v);
  }
  return out;
}

Value bound(std::string name, std::function<Value(CallArgs&)> fn) { return make_callable(std::move(name), std::move(fn)); }

Value string_method(const Value& obj, const std::string& name) {
  const std::string s = obj.str();
  bool safe = obj.is_safe();
  auto wrap = [safe](std::string r) { return Value(std::move(r), safe); };
  if (name == "startswith" || name == "endswith") {
    bool start = name == "startswith";
    return bound(name, [s, start](CallArgs& a) -> Value {
      const Value* p = a.get(0, "prefix");
      if (!p) throw RenderError("startswith/endswith takes one argument");
      std::vector<Value> options = p->is_list() && p->list().tuple ? p->list().items : std::vector<Value>{*p};
      for (const auto& o : options) {
        const std::string& x = arg_str(&o, start ? "startswith" : "endswith");
        if (x.size() <= s.size() && (start ? s.compare(0, x.size(), x) : s.compare(s.size() - x.size(), x.size(), x)) == 0)
          return Value(true);
      }
      return Value(false);
    });
  }
  if (name == "split" || name == "rsplit") {
    bool right = name == "rsplit";
    return bound(name, [s, right](CallArgs& a) -> Value {
      const Value* sep = a.get(0, "sep");
      int64_t maxsplit = int_arg(a.get(1, "maxsplit"), -1);
      if (right && maxsplit >= 0) {
        // rsplit with a limit: split from the right by reversing around the separator.
        std::vector<std::string> all = split(s, sep, -1);
        if (static_cast<int64_t>(all.size()) <= maxsplit + 1) return str_list(all);
        std::string d = sep && !sep->is_none() ? sep->str() : " ";
        std::string head;
        size_t keep = all.size() - static_cast<size_t>(maxsplit);
        for (size_t i = 0; i < keep; ++i) head += (i ? d : "") + all[i];
        std::vector<std::string> out{head};
        out.insert(out.end(), all.begin() + keep, all.end());
        return str_list(out);
      }
      return str_list(split(s, sep, maxsplit));
    });
  }
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    bool l = name != "rstrip", r = name != "lstrip";
    return bound(name, [s, l, r, wrap](CallArgs& a) -> Value {
      const Value* chars = a.get(0, "chars");
      return wrap(py_strip(s, chars ? *chars : Value(nullptr), l, r));
    });
  }
  if (name == "replace") {
    return bound(name, [s, wrap](CallArgs& a) -> Value {
      const std::string& from = arg_str(a.get(0, "old"), "replace");
      const std::string& to = arg_str(a.get(1, "new"), "replace");
      int64_t count = int_arg(a.get(2, "count"), -1);
      std::string out;
      if (from.empty()) {
        std::u32string u = utf8_decode(s);
        int64_t done = 0;
        for (size_t i = 0; i <= u.size(); ++i) {
          if (count < 0 || done < count) { out += to; ++done; }
          if (i < u.size()) utf8_append(out, u[i]);
        }
        return wrap(out);
      }
      size_t pos = 0;
      int64_t done = 0;
      while (true) {
        size_t f = s.find(from, pos);
        if (f == std::string::npos || (count >= 0 && done >= count)) break;
        out += s.substr(pos, f - pos) + to;
        pos = f + from.size();
        ++done;
      }
      return wrap(out + s.substr(pos));
    });
  }
  if (name == "upper" || name == "lower" || name == "title" || name == "capitalize" || name == "swapcase") {
    return bound(name, [s, name, wrap](CallArgs&) -> Value {
      std::u32string u = utf8_decode(s);
      bool prev_cased = false;
      for (size_t i = 0; i < u.size(); ++i) {
        char32_t c = u[i];
        if (name == "upper") u[i] = c == 0xDF ? 0xDF : to_upper(c);
        else if (name == "lower") u[i] = to_lower(c);
        else if (name == "capitalize") u[i] = i == 0 ? to_upper(c) : to_lower(c);
        else if (name == "swapcase") u[i] = to_upper(c) != c ? to_upper(c) : to_lower(c);
        else {
          u[i] = prev_cased ? to_lower(c) : to_upper(c);
          prev_cased = is_cased(c);
        }
      }
      std::string out = utf8_encode(u);
      if (name == "upper") {  // Python upper-cases sharp s to "SS"
        for (size_t p = out.find("\xc3\x9f"); p != std::string::npos; p = out.find("\xc3\x9f", p)) out.replace(p, 2, "SS");
      }
      return wrap(out);
    });
  }
  if (name == "format") {
    return bound(name, [s, wrap](CallArgs& a) -> Value { return wrap(py_format_method(s, a)); });
  }
  if (name == "join") {
    return bound(name, [s, wrap](CallArgs& a) -> Value {
      const Value* seq = a.get(0, "iterable");
      if (!seq) throw RenderError("join() takes exactly one argument");
      std::string out;
      bool first = true;
      for (const auto& x : iterate(*seq)) {
        if (!x.is_string()) throw RenderError(std::string("sequence item: expected str instance, ") + x.type_name() + " found");
        if (!first) out += s;
        first = false;
        out += x.str();
      }
      return wrap(out);
    });
  }
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex" || name == "count") {
    return bound(name, [s, name](CallArgs& a) -> Value {
      const std::string& sub = arg_str(a.get(0, "sub"), name.c_str());
      if (name == "count") {
        if (sub.empty()) return Value(static_cast<int64_t>(utf8_decode(s).size() + 1));
        int64_t n = 0;
        for (size_t p = s.find(sub); p != std::string::npos; p = s.find(sub, p + sub.size())) ++n;
        return Value(n);
      }
      size_t p = (name == "find" || name == "index") ? s.find(sub) : s.rfind(sub);
      if (p == std::string::npos) {
        if (name == "index" || name == "rindex") throw RenderError("substring not found");
        return Value(int64_t{-1});
      }
      return Value(static_cast<int64_t>(utf8_decode(s.substr(0, p)).size()));
    });
  }
  if (name == "isdigit" || name == "isalpha" || name == "isalnum" || name == "isspace" || name == "islower" ||
      name == "isupper") {
    return bound(name, [s, name](CallArgs&) -> Value {
      std::u32string u = utf8_decode(s);
      if (u.empty()) return Value(false);
      bool any_cased = false;
      for (char32_t c : u) {
        bool digit = c >= '0' && c <= '9';
        bool alpha = is_cased(c) || (c >= 0x80 && !py_isspace(c) && !digit && c > 0x2FFF);
        if (name == "isdigit" && !digit) return Value(false);
        if (name == "isalpha" && !alpha) return Value(false);
        if (name == "isalnum" && !alpha && !digit) return Value(false);
        if (name == "isspace" && !py_isspace(c)) return Value(false);
        if (name == "islower" && to_lower(c) != c) return Value(false);
        if (name == "isupper" && to_upper(c) != c) return Value(false);
        any_cased |= is_cased(c);
      }
      if (name == "islower" || name == "isupper") return Value(any_cased);
      return Value(true);
    });
  }
  if (name == "splitlines") {
    return bound(name, [s](CallArgs& a) -> Value {
      const Value* keep = a.get(0, "keepends");
      bool keepends = keep && truthy(*keep);
      std::vector<std::string> out;
      size_t start = 0;
      for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\n' || s[i] == '\r') {
          size_t end = i;
          if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
          out.push_back(s.substr(start, (keepends ? i + 1 : end) - start));
          start = i + 1;
        }
      }
      if (start < s.size()) out.push_back(s.substr(start));
      return str_list(out);
    });
  }
  return Value::undefined("'str object' has no attribute '" + name + "'");
}

Value dict_method(const Value& obj, const std::string& name) {
  if (name == "items" || name == "keys" || name == "values") {
    return bound(name, [obj, name](CallArgs&) -> Value {
      std::vector<Value> out;
      for (const auto& [k, v] : obj.dict().items) {
        if (name == "items") out.push_back(make_list({Value(k), v}, true));
        else if (name == "keys") out.emplace_back(k);
        else out.push_back(v);
      }
      return make_list(std::move(out));
    });
  }
  if (name == "get") {
    return bound(name, [obj](CallArgs& a) -> Value {
      const Value* key = a.get(0, "key");
      if (!key) throw RenderError("get expected at least 1 argument, got 0");
      if (key->is_string())
        if (const Value* v = obj.dict().find(key->str())) return *v;
      const Value* fallback = a.get(1, "default");
      return fallback ? *fallback : Value(nullptr);
    });
  }
  if (name == "copy") {
    return bound(name, [obj](CallArgs&) -> Value {
      Value d = make_dict();
      d.dict().items = obj.dict().items;
      return d;
    });
  }
  return Value::undefined("");
}

Value list_method(const Value& obj, const std::string& name) {
  if (name == "index" || name == "count") {
    return bound(name, [obj, name](CallArgs& a) -> Value {
      const Value* x = a.get(0, "value");
      if (!x) throw RenderError(name + "() takes exactly one argument");
      int64_t n = 0;
      const auto& items = obj.list().items;
      for (size_t i = 0; i < items.size(); ++i) {
        if (!py_equal(items[i], *x)) continue;
        if (name == "index") return Value(static_cast<int64_t>(i));
        ++n;
      }
      if (name == "index") throw RenderError(py_repr(*x) + " is not in list");
      return Value(n);
    });
  }
  return Value::undefined("");
}

}  // namespace

std::string py_strip(const std::string& s, const Value& chars, bool left, bool right) {
  std::u32string u = utf8_decode(s);
  std::u32string set;
  bool ws = chars.is_none() || chars.is_undefined();
  if (!ws) {
    if (!chars.is_string()) throw RenderError("strip arg must be None or str");
    set = utf8_decode(chars.str());
  }
  auto strip_it = [&](char32_t c) { return ws ? py_isspace(c) : set.find(c) != std::u32string::npos; };
  size_t b = 0, e = u.size();
  if (left)
    while (b < e && strip_it(u[b])) ++b;
  if (right)
    while (e > b && strip_it(u[e - 1])) --e;
  return utf8_encode(u.substr(b, e - b));
}

Value find_method(const Value& obj, const std::string& name) {
  if (obj.is_string()) {
    Value m = string_method(obj, name);
    return m;
  }
  if (obj.is_dict()) return dict_method(obj, name);
  if (obj.is_list()) return list_method(obj, name);
  return Value::undefined("");
}

}  // namespace hlwq::chat::jinja
