#pragma once
// What a download reports while it runs. Plain values, so a UI thread can copy them.
#include <cstdint>
#include <string>
#include <vector>

namespace hlwq::hub {

enum class FileState { Queued, Checking, Downloading, Paused, Retrying, Verifying, Quantizing, Done, Failed };
const char* to_string(FileState state);

struct FileProgress {
  std::string path;              // repo-relative
  uint64_t bytes_done = 0;       // includes bytes resumed from an earlier run
  uint64_t bytes_total = 0;
  double bytes_per_second = 0;   // smoothed over the last seconds
  FileState state = FileState::Queued;
  std::string message;           // why it is Retrying or Failed
};

struct DownloadProgress {
  std::vector<FileProgress> files;
  uint64_t bytes_done = 0;
  uint64_t bytes_total = 0;
  double bytes_per_second = 0;
  double eta_seconds = -1;       // -1 while unknown (no speed yet)
  int files_done = 0;
  bool paused = false;
};

}  // namespace hlwq::hub
