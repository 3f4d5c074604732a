#pragma once
// Argument helpers of the GPU-machine tools (hlwq bench, hlwq-fit-measure): comma lists and
// non-negative integers, with errors that name the tool, the option and the value.
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"

namespace hlwq::cuda::bench_args {

inline std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

inline int64_t to_int(const char* tool, const std::string& option, const std::string& v) {
  try {
    size_t used = 0;
    const long long r = std::stoll(v, &used);
    if (used == v.size() && r >= 0 && r <= INT32_MAX) return r;
  } catch (...) {
  }
  throw_error(ErrorKind::InvalidArgument, tool, ": ", option, " expects non-negative integers, got '", v, "'");
}

}  // namespace hlwq::cuda::bench_args
