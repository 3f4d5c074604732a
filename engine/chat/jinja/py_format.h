#pragma once
// Python's text forms of values, byte for byte: float repr, str repr, and json.dumps (which
// transformers' tojson filter calls). Prompts contain these, so they must match exactly.
#include <optional>
#include <string>

#include "value.h"

namespace hlwq::chat::jinja {

std::string py_float_repr(double d);         // repr(float): shortest round trip, '1e-05', '2.0'
std::string py_str_repr(const std::string& s);  // repr(str) with Python's choice of quotes

struct JsonDumpOptions {
  bool ensure_ascii = false;           // transformers' default (json.dumps' is True)
  std::optional<std::string> indent;   // None, or the indent unit
  std::optional<std::string> item_separator;  // None: ", " without indent, "," with
  std::optional<std::string> key_separator;   // None: ": "
  bool sort_keys = false;
};
std::string py_json_dumps(const Value& v, const JsonDumpOptions& options);

std::string html_escape(const std::string& s);  // markupsafe.escape

}  // namespace hlwq::chat::jinja
