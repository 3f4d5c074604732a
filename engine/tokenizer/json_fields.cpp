#include "tokenizer/json_fields.h"

namespace hlwq::tokjson {

const Json& member(const Json& obj, std::string_view key, const Where& w) {
  if (!obj.is_object()) fail(w, "expected an object");
  auto it = obj.find(key);
  if (it == obj.end()) fail(w / key, "missing");
  return *it;
}

const Json* optional_member(const Json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string string_field(const Json& obj, std::string_view key, const Where& w) {
  const Json& v = member(obj, key, w);
  if (!v.is_string()) fail(w / key, "expected a string, got ", v.type_name());
  return v.get<std::string>();
}

std::optional<std::string> optional_string(const Json& obj, std::string_view key, const Where& w) {
  const Json* v = optional_member(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_string()) fail(w / key, "expected a string, got ", v->type_name());
  return v->get<std::string>();
}

bool bool_field(const Json& obj, std::string_view key, bool fallback, const Where& w) {
  const Json* v = optional_member(obj, key);
  if (!v) return fallback;
  if (!v->is_boolean()) fail(w / key, "expected true or false, got ", v->type_name());
  return v->get<bool>();
}

long long int_field(const Json& obj, std::string_view key, const Where& w) {
  const Json& v = member(obj, key, w);
  if (!v.is_number_integer()) fail(w / key, "expected an integer, got ", v.type_name());
  return v.get<long long>();
}

const Json& array_field(const Json& obj, std::string_view key, const Where& w) {
  const Json& v = member(obj, key, w);
  if (!v.is_array()) fail(w / key, "expected an array, got ", v.type_name());
  return v;
}

std::string type_of(const Json& obj, const Where& w) {
  if (!obj.is_object()) fail(w, "expected an object, got ", obj.type_name());
  return string_field(obj, "type", w);
}

std::pair<std::string, bool> read_pattern(const Json& j, const Where& w) {
  if (j.is_object()) {
    if (auto s = optional_string(j, "String", w)) return {*s, true};
    if (auto r = optional_string(j, "Regex", w)) return {*r, false};
  }
  fail(w, "expected {\"String\": ...} or {\"Regex\": ...}");
}

std::string describe(const Where& w) { return w.file + ": " + w.path; }

}  // namespace hlwq::tokjson
