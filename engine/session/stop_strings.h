#pragma once
// Watches streamed text for stop strings. Text that might be the start of a stop string is
// held back until it is decided, so a stop string never reaches the user, even in pieces.
#include <string>
#include <vector>

namespace hlwq {

class StopStringFilter {
 public:
  explicit StopStringFilter(std::vector<std::string> stops);
  struct Result {
    std::string text;   // safe to emit now (whole UTF-8 characters)
    bool stopped = false;
  };
  Result push(const std::string& piece);
  std::string flush();  // end of stream: what was held back

 private:
  std::vector<std::string> stops_;
  std::string pending_;
};

}  // namespace hlwq
