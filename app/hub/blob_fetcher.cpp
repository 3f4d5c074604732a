#include "hub/blob_fetcher.h"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <thread>

#include "core/error.h"
#include "hub/cache_layout.h"
#include "hub/hub_error.h"
#include "hub/http.h"
#include "hub/sha256.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace hlwq::hub {

namespace {

std::string human(uint64_t bytes) {
  char buf[64];
  if (bytes >= (1ull << 30)) std::snprintf(buf, sizeof buf, "%.2f GiB", double(bytes) / double(1ull << 30));
  else if (bytes >= (1ull << 20)) std::snprintf(buf, sizeof buf, "%.1f MiB", double(bytes) / double(1ull << 20));
  else std::snprintf(buf, sizeof buf, "%llu bytes", static_cast<unsigned long long>(bytes));
  return buf;
}

fs::path with_suffix(const fs::path& p, const char* suffix) {
  fs::path out = p;
  out += suffix;
  return out;
}

// The sidecar says which blob the partial bytes belong to; anything else starts over.
bool sidecar_matches(const fs::path& sidecar, const BlobTarget& t) {
  std::ifstream in(sidecar);
  if (!in) return false;
  try {
    json j = json::parse(in);
    return j.value("etag", "") == t.etag && j.value("size", uint64_t(0)) == t.size;
  } catch (const json::exception&) {
    return false;
  }
}

void write_sidecar(const fs::path& sidecar, const BlobTarget& t, const std::string& url) {
  json j = {{"url", url}, {"etag", t.etag}, {"size", t.size}, {"commit", t.commit}, {"path", t.display_name}};
  fs::path temp = with_suffix(sidecar, ".tmp");
  {
    std::ofstream out(temp, std::ios::trunc);
    out << j.dump(1) << "\n";
    if (!out.flush()) throw_error(ErrorKind::Io, "cannot write ", temp.string(), " (disk full?)");
  }
  std::error_code ec;
  fs::rename(temp, sidecar, ec);
  if (ec) throw_error(ErrorKind::Io, "cannot write ", sidecar.string(), ": ", ec.message());
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// Sleeps in small steps so pause and cancel stay responsive during backoff.
void interruptible_sleep(std::chrono::milliseconds delay, const TransferControl& control) {
  auto until = std::chrono::steady_clock::now() + delay;
  while (std::chrono::steady_clock::now() < until) {
    if (control.cancelled()) throw_error(ErrorKind::Cancelled, "download cancelled");
    std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(std::chrono::milliseconds(50), delay));
  }
}

bool parse_content_range(const std::string& value, uint64_t& first, uint64_t& total) {
  // "bytes <first>-<last>/<total>"
  unsigned long long a = 0, b = 0, t = 0;
  if (std::sscanf(value.c_str(), "bytes %llu-%llu/%llu", &a, &b, &t) != 3) return false;
  first = a;
  total = t;
  return true;
}

}  // namespace

uint64_t free_disk_bytes(const fs::path& dir) {
  struct statvfs st {};
  fs::path probe = dir;
  while (!probe.empty() && !fs::exists(probe)) probe = probe.parent_path();
  if (probe.empty()) probe = ".";
  if (::statvfs(probe.c_str(), &st) != 0) throw_error(ErrorKind::Io, "cannot query free space of ", probe.string(), ": ", std::strerror(errno));
  return uint64_t(st.f_bavail) * uint64_t(st.f_frsize);
}

void require_disk_space(const fs::path& dir, uint64_t needed, const std::string& what) {
  uint64_t free = free_disk_bytes(dir);
  if (needed > free)
    throw_error(ErrorKind::Io, "not enough disk space in ", dir.string(), " for ", what, ": need ", human(needed), ", ",
                human(free), " free");
}

void fetch_blob(const HubSettings& settings, const BlobTarget& t, TransferControl& control, const BlobObserver& observer) {
  auto state = [&](FileState s, const std::string& message) {
    if (observer.on_state) observer.on_state(s, message);
  };
  auto stopped = [&] { return control.cancelled() || (observer.should_stop && observer.should_stop()); };
  std::optional<FileLock> lock;
  if (!t.lock_path.empty()) lock.emplace(t.lock_path);

  std::error_code ec;
  if (fs::is_regular_file(t.final_path, ec) && fs::file_size(t.final_path, ec) == t.size) {
    if (observer.on_bytes) observer.on_bytes(t.size);
    return;  // already verified when it got its name
  }
  fs::create_directories(t.final_path.parent_path(), ec);
  fs::path part = with_suffix(t.final_path, ".incomplete");
  fs::path sidecar = with_suffix(part, ".json");

  uint64_t have = 0;
  if (fs::exists(part, ec)) {
    uint64_t on_disk = fs::file_size(part, ec);
    if (!ec && sidecar_matches(sidecar, t) && on_disk <= t.size) have = on_disk;
  }
  write_sidecar(sidecar, t, t.url);
  require_disk_space(t.final_path.parent_path(), t.size - have, t.display_name);

  Sha256 hash;
  if (t.sha256 && have) hash_file_prefix(hash, part, have);
  Fd out;
  out.fd = ::open(part.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (out.fd < 0) throw_error(ErrorKind::Io, "cannot open ", part.string(), ": ", std::strerror(errno));
  auto restart_from_zero = [&] {
    if (::ftruncate(out.fd, 0) != 0) throw_error(ErrorKind::Io, "cannot truncate ", part.string(), ": ", std::strerror(errno));
    have = 0;
    hash.reset();
    if (observer.on_bytes) observer.on_bytes(0);
  };
  if (::ftruncate(out.fd, off_t(have)) != 0) throw_error(ErrorKind::Io, "cannot truncate ", part.string(), ": ", std::strerror(errno));
  if (observer.on_bytes) observer.on_bytes(have);

  std::string url = t.url;
  int attempt = 0, hops = 0;
  std::string last_problem;
  for (;;) {
    if (control.paused()) state(FileState::Paused, "");
    control.wait_while_paused();
    state(FileState::Downloading, "");
    int write_errno = 0;
    std::string protocol_problem;
    bool restarted = false;
    HttpRequest req;
    req.url = url;
    req.with_token = true;  // http_perform drops it unless url is on the endpoint's origin
    req.headers = {"Accept-Encoding: identity"};
    if (have > 0) req.headers.push_back("Range: bytes=" + std::to_string(have) + "-");
    const uint64_t requested_from = have;
    req.keep_going = [&] { return !control.paused() && !stopped(); };
    req.on_headers = [&](const HttpResponse& r) {
      if (r.status == 206) {
        uint64_t first = 0, total = 0;
        if (!parse_content_range(r.header("content-range"), first, total) || first != requested_from || total != t.size) {
          protocol_problem = "bad Content-Range '" + r.header("content-range") + "' for a request from byte " + std::to_string(requested_from);
          return false;
        }
      } else if (requested_from > 0) {
        // 200 to a Range request: the server ignored it; appending would corrupt the file.
        restart_from_zero();
        restarted = true;
      }
      return true;
    };
    req.sink = [&](const char* data, size_t n) {
      if (have + n > t.size) {
        protocol_problem = "server sent more than the expected " + std::to_string(t.size) + " bytes";
        return false;
      }
      size_t done = 0;
      while (done < n) {
        ssize_t w = ::pwrite(out.fd, data + done, n - done, off_t(have + done));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
          write_errno = w < 0 ? errno : ENOSPC;
          return false;
        }
        done += size_t(w);
      }
      if (t.sha256) hash.update(data, n);
      have += n;
      if (observer.on_bytes) observer.on_bytes(have);
      return !control.paused() && !stopped();
    };
    HttpResponse r = http_perform(settings, req);
    if (write_errno) {
      // The partial file stays under its .incomplete name for a later resume.
      throw_error(ErrorKind::Io, write_errno == ENOSPC ? "disk full" : std::strerror(write_errno), " while writing ",
                  part.string(), " (", t.display_name, "): ", std::to_string(have), " of ", std::to_string(t.size),
                  " bytes kept for resume; nothing written under ", t.final_path.filename().string());
    }
    if (stopped()) throw_error(ErrorKind::Cancelled, "download of ", t.display_name, " cancelled");
    if (r.aborted && control.paused()) continue;
    if (!protocol_problem.empty()) {
      restart_from_zero();
      last_problem = protocol_problem;
      if (++attempt > settings.max_retries)
        throw_error(ErrorKind::Network, "downloading ", t.display_name, " from ", url, ": ", protocol_problem);
      continue;
    }
    if (r.curl_code == 0 && r.status >= 300 && r.status < 400) {
      std::string location = r.header("location");
      if (location.empty() || ++hops > 10) throw_error(ErrorKind::Network, "downloading ", t.display_name, ": bad redirect from ", url);
      url = resolve_location(url, location);
      continue;
    }
    if (r.curl_code == 0 && r.status == 416) {
      if (have == t.size) break;  // we already had every byte
      restart_from_zero();
      continue;
    }
    if (have > requested_from && !restarted) attempt = 0;  // progress made: a flaky line, not a dead one
    if (r.curl_code == 0 && r.status >= 200 && r.status < 300) {
      if (have == t.size) break;
      last_problem = "connection closed after " + std::to_string(have) + " of " + std::to_string(t.size) + " bytes";
    } else if (is_retryable(r)) {
      last_problem = r.status && r.curl_code == 0 ? "HTTP " + std::to_string(r.status) : r.curl_error;
    } else {
      throw_http_error(settings, r, url, "", "downloading " + t.display_name);
    }
    if (attempt >= settings.max_retries)
      throw_error(ErrorKind::Network, "downloading ", t.display_name, " from ", url, ": gave up after ",
                  std::to_string(attempt + 1), " attempts: ", last_problem, " (", std::to_string(have),
                  " bytes kept for resume)");
    auto delay = retry_delay(settings, r, attempt++);
    state(FileState::Retrying, last_problem);
    interruptible_sleep(delay, control);
  }

  state(FileState::Verifying, "");
  if (have != t.size) {
    throw_error(ErrorKind::CorruptFile, t.display_name, ": size mismatch: expected ", std::to_string(t.size), " bytes, got ",
                std::to_string(have));
  }
  if (t.sha256) {
    std::string got = hash.hex();
    if (got != *t.sha256) {
      ::close(out.fd);
      out.fd = -1;
      fs::remove(part, ec);
      fs::remove(sidecar, ec);
      throw_error(ErrorKind::CorruptFile, t.display_name, ": sha256 mismatch: expected ", *t.sha256, ", got ", got,
                  " (downloaded from ", url, "); the bad copy was deleted, nothing kept under ", t.final_path.string());
    }
  }
  if (::fsync(out.fd) != 0 && errno != EINVAL)
    throw_error(ErrorKind::Io, "cannot flush ", part.string(), ": ", std::strerror(errno));
  ::close(out.fd);
  out.fd = -1;
  fs::rename(part, t.final_path, ec);
  if (ec) throw_error(ErrorKind::Io, "cannot rename ", part.string(), " to ", t.final_path.string(), ": ", ec.message());
  fs::remove(sidecar, ec);
}

void fetch_blob_refreshing(const HubClient& client, const std::string& repo, const std::string& path, BlobTarget target,
                           TransferControl& control, const BlobObserver& observer) {
  for (int refresh = 0;; ++refresh) {
    try {
      fetch_blob(client.settings(), target, control, observer);
      return;
    } catch (const HubError& e) {
      bool expired = (e.http_status() == 403 || e.http_status() == 410) && !same_origin(target.url, client.settings().endpoint);
      if (!expired || refresh >= 2) throw;
      FileMetadata fresh = client.file_metadata(repo, path, target.commit);
      if (fresh.etag != target.etag || fresh.size != target.size)
        throw HubError(HubErrorCode::Other, 0, path + " of " + repo + " changed on the Hub during the download");
      target.url = fresh.location;
    }
  }
}

BlobTarget blob_target_for(const RepoFile& file, FileMetadata meta, const std::string& commit) {
  if (meta.size == 0) meta.size = file.size;  // a mirror without Content-Length on HEAD: trust the listing
  if (meta.size != file.size)
    throw_error(ErrorKind::CorruptFile, file.path, ": the Hub lists ", std::to_string(file.size), " bytes but serves ",
                std::to_string(meta.size));
  BlobTarget target;
  target.display_name = file.path;
  target.url = meta.location;
  target.etag = meta.etag;
  target.commit = commit;
  target.size = meta.size;
  if (file.sha256) target.sha256 = *file.sha256;
  else if (meta.is_lfs()) target.sha256 = meta.etag;
  return target;
}

}  // namespace hlwq::hub
