#include "builtins.h"

#include <ctime>

#include "py_format.h"

namespace hlwq::chat::jinja {
namespace {

std::string object_name(const Value& obj) {
  if (obj.is_none()) return "None";
  return std::string(obj.type_name()) + " object";
}

// Python's index normalisation for slices: clamp into range, with negative offsets from the end.
int64_t slice_bound(const Value& v, int64_t len, int64_t step, bool is_start) {
  if (v.is_none() || v.is_undefined()) {
    if (step > 0) return is_start ? 0 : len;
    return is_start ? len - 1 : -1;
  }
  if (!v.is_int() && !v.is_bool()) throw RenderError("slice indices must be integers or None");
  int64_t i = v.is_bool() ? int64_t{v.as_bool()} : v.as_int();
  if (i < 0) {
    i += len;
    if (i < 0) i = step > 0 ? 0 : -1;
  } else if (i >= len) {
    i = step > 0 ? len : len - 1;
  }
  return i;
}

}  // namespace

Value call_value(const Value& callee, CallArgs& args) {
  if (callee.is_undefined()) fail_undefined(callee);
  if (!callee.is_callable()) throw RenderError(std::string("'") + callee.type_name() + "' object is not callable");
  return callee.callable().fn(args);
}

Value get_attribute(const Value& obj, const std::string& name) {
  if (obj.is_undefined()) fail_undefined(obj);
  if (obj.is_object() && obj.dict().flavor != DictObj::Flavor::Dict) {
    if (const Value* v = obj.dict().find(name)) return *v;
    return Value::undefined("'" + object_name(obj) + "' has no attribute '" + name + "'");
  }
  Value m = find_method(obj, name);
  if (!m.is_undefined()) return m;
  if (obj.is_dict()) {
    if (const Value* v = obj.dict().find(name)) return *v;
  }
  return Value::undefined("'" + object_name(obj) + "' has no attribute '" + name + "'");
}

Value get_item(const Value& obj, const Value& key) {
  if (obj.is_undefined()) fail_undefined(obj);
  if (obj.is_dict()) {
    if (key.is_string()) {
      if (const Value* v = obj.dict().find(key.str())) return *v;
    }
  } else if ((obj.is_list() || obj.is_string()) && (key.is_int() || key.is_bool())) {
    int64_t i = key.is_bool() ? int64_t{key.as_bool()} : key.as_int();
    if (obj.is_list()) {
      auto n = static_cast<int64_t>(obj.list().items.size());
      if (i < 0) i += n;
      if (i >= 0 && i < n) return obj.list().items[i];
    } else {
      std::u32string s = utf8_decode(obj.str());
      auto n = static_cast<int64_t>(s.size());
      if (i < 0) i += n;
      if (i >= 0 && i < n) return Value(utf8_encode(s.substr(i, 1)));
    }
    return Value::undefined(std::string(obj.type_name()) + " object has no element " + py_repr(key));
  }
  if (key.is_string()) {
    Value attr = get_attribute(obj, key.str());
    if (!attr.is_undefined()) return attr;
    return Value::undefined("'" + object_name(obj) + "' has no attribute '" + key.str() + "'");
  }
  return Value::undefined("'" + object_name(obj) + "' has no element " + py_repr(key));
}

Value get_slice(const Value& obj, const Value& start, const Value& stop, const Value& step_v) {
  if (obj.is_undefined()) fail_undefined(obj);
  int64_t step = 1;
  if (!step_v.is_none()) {
    if (!step_v.is_int()) throw RenderError("slice indices must be integers or None");
    step = step_v.as_int();
    if (step == 0) throw RenderError("slice step cannot be zero");
  }
  auto pick = [&](int64_t len, auto&& take) {
    int64_t a = slice_bound(start, len, step, true), b = slice_bound(stop, len, step, false);
    if (step > 0)
      for (int64_t i = a; i < b; i += step) take(i);
    else
      for (int64_t i = a; i > b; i += step) take(i);
  };
  if (obj.is_list()) {
    const auto& items = obj.list().items;
    std::vector<Value> out;
    pick(static_cast<int64_t>(items.size()), [&](int64_t i) { out.push_back(items[i]); });
    return make_list(std::move(out), obj.list().tuple);
  }
  if (obj.is_string()) {
    std::u32string s = utf8_decode(obj.str()), out;
    pick(static_cast<int64_t>(s.size()), [&](int64_t i) { out.push_back(s[i]); });
    return Value(utf8_encode(out), obj.is_safe());
  }
  throw RenderError(std::string("'") + obj.type_name() + "' object is not subscriptable");
}

void install_globals(DictObj& g) {
  g.set("range", make_callable("range", [](CallArgs& a) -> Value {
          std::vector<int64_t> n;
          for (const auto& v : a.positional) {
            if (!v.is_int() && !v.is_bool()) throw RenderError(std::string("'") + v.type_name() + "' object cannot be interpreted as an integer");
            n.push_back(v.is_bool() ? int64_t{v.as_bool()} : v.as_int());
          }
          if (n.empty() || n.size() > 3) throw RenderError("range expected 1 to 3 arguments");
          int64_t start = n.size() == 1 ? 0 : n[0], stop = n.size() == 1 ? n[0] : n[1], step = n.size() == 3 ? n[2] : 1;
          if (step == 0) throw RenderError("range() arg 3 must not be zero");
          std::vector<Value> out;
          for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
            if (out.size() >= 100000) throw RenderError("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
            out.emplace_back(i);
          }
          return make_list(std::move(out));
        }));
  auto dict_like = [](DictObj::Flavor flavor) {
    return [flavor](CallArgs& a) -> Value {
      Value d = make_dict(flavor);
      for (const auto& p : a.positional) {
        if (!p.is_dict()) throw RenderError("namespace()/dict() takes a mapping as positional argument");
        for (const auto& [k, v] : p.dict().items) d.dict().set(k, v);
      }
      for (const auto& [k, v] : a.keyword) d.dict().set(k, v);
      return d;
    };
  };
  g.set("dict", make_callable("dict", dict_like(DictObj::Flavor::Dict)));
  g.set("namespace", make_callable("namespace", dict_like(DictObj::Flavor::Namespace)));
  g.set("raise_exception", make_callable("raise_exception", [](CallArgs& a) -> Value {
          const Value* m = a.get(0, "message");
          throw TemplateRaised(m ? py_str(*m) : "");
        }));
  g.set("strftime_now", make_callable("strftime_now", [](CallArgs& a) -> Value {
          const Value* f = a.get(0, "format");
          if (!f || !f->is_string()) throw RenderError("strftime_now() takes a format string");
          std::time_t t = std::time(nullptr);
          std::tm tm{};
          localtime_r(&t, &tm);
          char buf[512];
          size_t n = std::strftime(buf, sizeof buf, f->str().c_str(), &tm);
          return Value(std::string(buf, n));
        }));
  g.set("joiner", make_callable("joiner", [](CallArgs& a) -> Value {
          const Value* sep = a.get(0, "sep");
          std::string s = sep ? py_str(*sep) : ", ";
          auto used = std::make_shared<bool>(false);
          return make_callable("joiner", [s, used](CallArgs&) -> Value {
            if (!*used) { *used = true; return Value(""); }
            return Value(s);
          });
        }));
  g.set("cycler", make_callable("cycler", [](CallArgs& a) -> Value {
          auto items = std::make_shared<std::vector<Value>>(a.positional);
          if (items->empty()) throw RenderError("cycler() needs at least one item");
          auto pos = std::make_shared<size_t>(0);
          Value c = make_dict(DictObj::Flavor::Loop);
          c.dict().set("next", make_callable("next", [items, pos](CallArgs&) -> Value {
                         Value v = (*items)[*pos];
                         *pos = (*pos + 1) % items->size();
                         return v;
                       }));
          return c;
        }));
}

}  // namespace hlwq::chat::jinja
