#include "hub/cache_layout.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <fstream>
#include <random>

#include "core/error.h"

namespace fs = std::filesystem;

namespace hlwq::hub {

namespace {

// Repo paths come from the server: refuse anything that could escape the snapshot folder.
void check_relative(const std::string& path) {
  fs::path p(path);
  if (path.empty() || p.is_absolute()) throw_error(ErrorKind::InvalidArgument, "unsafe repo path '", path, "'");
  for (const auto& part : p)
    if (part == "..") throw_error(ErrorKind::InvalidArgument, "unsafe repo path '", path, "'");
}

void make_dirs(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw_error(ErrorKind::Io, "cannot create ", dir.string(), ": ", ec.message());
}

}  // namespace

std::string CacheLayout::folder_name(const std::string& repo) {
  std::string out = "models--";
  for (char c : repo) {
    if (c == '/') out += "--";
    else out += c;
  }
  return out;
}

CacheLayout::CacheLayout(fs::path cache_dir, const std::string& repo)
    : cache_dir_(std::move(cache_dir)), folder_(folder_name(repo)), repo_dir_(cache_dir_ / folder_) {}

fs::path CacheLayout::blob(const std::string& etag) const { return repo_dir_ / "blobs" / etag; }
fs::path CacheLayout::incomplete(const std::string& etag) const { return repo_dir_ / "blobs" / (etag + ".incomplete"); }
fs::path CacheLayout::sidecar(const std::string& etag) const { return repo_dir_ / "blobs" / (etag + ".incomplete.json"); }
fs::path CacheLayout::lock(const std::string& etag) const { return cache_dir_ / ".locks" / folder_ / (etag + ".lock"); }
fs::path CacheLayout::snapshot_dir(const std::string& commit) const { return repo_dir_ / "snapshots" / commit; }

fs::path CacheLayout::snapshot_file(const std::string& commit, const std::string& path) const {
  check_relative(path);
  return snapshot_dir(commit) / path;
}

fs::path CacheLayout::no_exist(const std::string& commit, const std::string& path) const {
  check_relative(path);
  return repo_dir_ / ".no_exist" / commit / path;
}

fs::path CacheLayout::ref(const std::string& revision) const {
  check_relative(revision);
  return repo_dir_ / "refs" / revision;
}

void CacheLayout::write_ref(const std::string& revision, const std::string& commit) const {
  if (revision == commit) return;
  fs::path target = ref(revision);
  make_dirs(target.parent_path());
  fs::path temp = target;
  temp += ".tmp" + std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}());
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out << commit;
    if (!out.flush()) throw_error(ErrorKind::Io, "cannot write ", temp.string());
  }
  std::error_code ec;
  fs::rename(temp, target, ec);
  if (ec) {
    fs::remove(temp, ec);
    throw_error(ErrorKind::Io, "cannot write ref ", target.string());
  }
}

std::optional<std::string> CacheLayout::read_ref(const std::string& revision) const {
  std::ifstream in(ref(revision), std::ios::binary);
  if (!in) return std::nullopt;
  std::string commit;
  in >> commit;
  if (commit.empty()) return std::nullopt;
  return commit;
}

void CacheLayout::link_snapshot(const std::string& commit, const std::string& path, const std::string& etag) const {
  fs::path link = snapshot_file(commit, path);
  make_dirs(link.parent_path());
  // From snapshots/<commit>/<a/b/file>: one ".." per folder level, then ../../blobs/<etag>.
  const fs::path relative(path);
  fs::path target;
  for (auto depth = std::distance(relative.begin(), relative.end()); depth > 1; --depth) target /= "..";
  target = target / ".." / ".." / "blobs" / etag;
  std::error_code ec;
  fs::remove(link, ec);
  fs::create_symlink(target, link, ec);
  if (ec) throw_error(ErrorKind::Io, "cannot link ", link.string(), " -> ", target.string(), ": ", ec.message());
}

void CacheLayout::mark_missing(const std::string& commit, const std::string& path) const {
  fs::path marker = no_exist(commit, path);
  make_dirs(marker.parent_path());
  std::ofstream touch(marker, std::ios::binary | std::ios::app);
}

FileLock::FileLock(const fs::path& path) {
  make_dirs(path.parent_path());
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw_error(ErrorKind::Io, "cannot open lock file ", path.string());
  while (::flock(fd_, LOCK_EX) != 0) {
    if (errno != EINTR) {
      ::close(fd_);
      throw_error(ErrorKind::Io, "cannot lock ", path.string());
    }
  }
}

FileLock::~FileLock() {
  if (fd_ >= 0) {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }
}

}  // namespace hlwq::hub
