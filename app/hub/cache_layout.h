#pragma once
// huggingface_hub's cache layout, one place for every path rule:
// $HF_HUB_CACHE/models--{org}--{name}/{blobs/<etag>, refs/<rev>, snapshots/<commit>/<path>,
// .no_exist/<commit>/<path>}, locks in $HF_HUB_CACHE/.locks/models--{org}--{name}/<etag>.lock.
#include <filesystem>
#include <optional>
#include <string>

namespace hlwq::hub {

class CacheLayout {
 public:
  CacheLayout(std::filesystem::path cache_dir, const std::string& repo);

  const std::filesystem::path& repo_dir() const { return repo_dir_; }
  std::filesystem::path blob(const std::string& etag) const;
  std::filesystem::path incomplete(const std::string& etag) const;  // blob + ".incomplete"
  std::filesystem::path sidecar(const std::string& etag) const;     // incomplete + ".json"
  std::filesystem::path lock(const std::string& etag) const;
  std::filesystem::path snapshot_dir(const std::string& commit) const;
  std::filesystem::path snapshot_file(const std::string& commit, const std::string& path) const;
  std::filesystem::path no_exist(const std::string& commit, const std::string& path) const;
  std::filesystem::path ref(const std::string& revision) const;

  // refs/<revision> = commit via temp file + rename; nothing when revision is the commit.
  void write_ref(const std::string& revision, const std::string& commit) const;
  std::optional<std::string> read_ref(const std::string& revision) const;
  // snapshots/<commit>/<path> -> relative symlink to ../../blobs/<etag> (depth-aware).
  void link_snapshot(const std::string& commit, const std::string& path, const std::string& etag) const;
  void mark_missing(const std::string& commit, const std::string& path) const;

  static std::string folder_name(const std::string& repo);  // "models--org--name"

 private:
  std::filesystem::path cache_dir_;
  std::string folder_;
  std::filesystem::path repo_dir_;
};

// flock() on a lock file; released on destruction or when the process dies.
class FileLock {
 public:
  explicit FileLock(const std::filesystem::path& path);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace hlwq::hub
