#pragma once
// Typed access to tokenizer.json fields. Every failure names the file and the field's path
// ("tokenizer.json: model.merges[12]: ...") so a user can find the broken spot.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "core/error.h"

namespace hlwq::tokjson {

using Json = nlohmann::json;

// Where a JSON value sits: the file and the path inside it.
struct Where {
  std::string file;
  std::string path;
  Where operator/(std::string_view key) const { return {file, path.empty() ? std::string(key) : path + "." + std::string(key)}; }
  Where operator[](std::size_t index) const { return {file, path + "[" + std::to_string(index) + "]"}; }
};

template <typename... Parts>
[[noreturn]] void fail(const Where& w, const Parts&... parts) {
  throw_error(ErrorKind::Tokenizer, w.file, ": ", w.path, ": ", parts...);
}

const Json& member(const Json& obj, std::string_view key, const Where& w);  // required
const Json* optional_member(const Json& obj, std::string_view key);         // absent or null -> nullptr
std::string string_field(const Json& obj, std::string_view key, const Where& w);
std::optional<std::string> optional_string(const Json& obj, std::string_view key, const Where& w);
bool bool_field(const Json& obj, std::string_view key, bool fallback, const Where& w);
long long int_field(const Json& obj, std::string_view key, const Where& w);
const Json& array_field(const Json& obj, std::string_view key, const Where& w);
std::string type_of(const Json& obj, const Where& w);  // the "type" member of a component
// HF writes patterns as {"String": "..."} (a literal) or {"Regex": "..."}: returns the text and
// whether it is literal.
std::pair<std::string, bool> read_pattern(const Json& j, const Where& w);
std::string describe(const Where& w);  // "file: path", for messages built elsewhere

}  // namespace hlwq::tokjson
