#pragma once
// What templates can call: filters, tests, attribute/item access with jinja2's lookup order,
// methods of str/dict/list, and the globals transformers provides.
#include <stdexcept>
#include <string>

#include "value.h"

namespace hlwq::chat::jinja {

// raise_exception('...') from a template: the message is the template's own words.
struct TemplateRaised : std::runtime_error {
  using std::runtime_error::runtime_error;
};

bool has_filter(const std::string& name);
bool has_test(const std::string& name);
Value apply_filter(const std::string& name, const Value& subject, const CallArgs& args);
bool apply_test(const std::string& name, const Value& subject, const CallArgs& args);

// `obj.name`: Python attribute (methods) first, then the item; `obj[key]`: item first.
// Missing ones are Undefined with jinja2's hint; reading from Undefined raises.
Value get_attribute(const Value& obj, const std::string& name);
Value get_item(const Value& obj, const Value& key);
Value get_slice(const Value& obj, const Value& start, const Value& stop, const Value& step);
// A bound method of str/dict/list, or Undefined if there is none by that name.
Value find_method(const Value& obj, const std::string& name);

// range, dict, namespace, raise_exception, strftime_now, cycler, joiner.
void install_globals(DictObj& globals);

// Helpers shared by the builtins.
std::string py_strip(const std::string& s, const Value& chars, bool left, bool right);
Value call_value(const Value& callee, CallArgs& args);

}  // namespace hlwq::chat::jinja
