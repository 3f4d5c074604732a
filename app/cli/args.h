#pragma once
// A small, strict option parser shared by the subcommands: `--name value`, `--name=value`,
// boolean `--flag`, and positionals. Unknown options are errors that name the option.
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace hlwq::cli {

class Args {
 public:
  // value_options take a value; flag_options do not. Throws Error{InvalidArgument}.
  Args(const std::vector<std::string>& argv, std::set<std::string> value_options, std::set<std::string> flag_options);

  bool flag(const std::string& name) const;
  std::optional<std::string> value(const std::string& name) const;
  std::string value_or(const std::string& name, const std::string& fallback) const;
  std::vector<std::string> values(const std::string& name) const;  // repeated options
  int int_or(const std::string& name, int fallback) const;          // strict parse, names the option
  double double_or(const std::string& name, double fallback) const;
  const std::vector<std::string>& positionals() const { return positionals_; }

 private:
  std::vector<std::pair<std::string, std::string>> values_;
  std::set<std::string> flags_;
  std::vector<std::string> positionals_;
};

}  // namespace hlwq::cli
