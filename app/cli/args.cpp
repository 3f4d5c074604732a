#include "args.h"

#include <charconv>

#include "core/error.h"

namespace hlwq::cli {

Args::Args(const std::vector<std::string>& argv, std::set<std::string> value_options, std::set<std::string> flag_options) {
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a.size() > 2 && a.rfind("--", 0) == 0) {
      std::string name = a.substr(2), value;
      const auto eq = name.find('=');
      const bool inline_value = eq != std::string::npos;
      if (inline_value) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      }
      if (flag_options.count(name)) {
        if (inline_value) throw_error(ErrorKind::InvalidArgument, "option --", name, " takes no value");
        flags_.insert(name);
      } else if (value_options.count(name)) {
        if (!inline_value) {
          if (i + 1 >= argv.size()) throw_error(ErrorKind::InvalidArgument, "option --", name, " needs a value");
          value = argv[++i];
        }
        values_.emplace_back(name, value);
      } else {
        throw_error(ErrorKind::InvalidArgument, "unknown option --", name);
      }
    } else if (a.size() == 2 && a[0] == '-' && a[1] != '-' && value_options.count(std::string(1, a[1]))) {
      if (i + 1 >= argv.size()) throw_error(ErrorKind::InvalidArgument, "option ", a, " needs a value");
      values_.emplace_back(std::string(1, a[1]), argv[++i]);
    } else if (a.size() == 2 && a[0] == '-' && a[1] != '-' && flag_options.count(std::string(1, a[1]))) {
      flags_.insert(std::string(1, a[1]));
    } else if (a.size() > 1 && a[0] == '-' && a != "-") {
      throw_error(ErrorKind::InvalidArgument, "unknown option ", a);
    } else {
      positionals_.push_back(a);
    }
  }
}

bool Args::flag(const std::string& name) const { return flags_.count(name) > 0; }

std::optional<std::string> Args::value(const std::string& name) const {
  std::optional<std::string> last;
  for (const auto& [n, v] : values_)
    if (n == name) last = v;
  return last;
}

std::string Args::value_or(const std::string& name, const std::string& fallback) const {
  auto v = value(name);
  return v ? *v : fallback;
}

std::vector<std::string> Args::values(const std::string& name) const {
  std::vector<std::string> out;
  for (const auto& [n, v] : values_)
    if (n == name) out.push_back(v);
  return out;
}

int Args::int_or(const std::string& name, int fallback) const {
  auto v = value(name);
  if (!v) return fallback;
  int out = 0;
  auto [ptr, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (ec != std::errc() || ptr != v->data() + v->size())
    throw_error(ErrorKind::InvalidArgument, "option --", name, ": '", *v, "' is not an integer");
  return out;
}

double Args::double_or(const std::string& name, double fallback) const {
  auto v = value(name);
  if (!v) return fallback;
  try {
    size_t used = 0;
    double out = std::stod(*v, &used);
    if (used != v->size()) throw std::invalid_argument("trailing");
    return out;
  } catch (const std::exception&) {
    throw_error(ErrorKind::InvalidArgument, "option --", name, ": '", *v, "' is not a number");
  }
}

}  // namespace hlwq::cli
