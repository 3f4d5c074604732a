#include "hub/downloader.h"

#include <fnmatch.h>

#include <algorithm>
#include <cctype>
#include <exception>
#include <thread>

#include "core/error.h"
#include "hub/blob_fetcher.h"
#include "hub/cache_layout.h"
#include "hub/hub_error.h"

namespace fs = std::filesystem;

namespace hlwq::hub {

const char* to_string(FileState state) {
  switch (state) {
    case FileState::Queued: return "queued";
    case FileState::Checking: return "checking";
    case FileState::Downloading: return "downloading";
    case FileState::Paused: return "paused";
    case FileState::Retrying: return "retrying";
    case FileState::Verifying: return "verifying";
    case FileState::Quantizing: return "quantizing";
    case FileState::Done: return "done";
    case FileState::Failed: return "failed";
  }
  return "?";
}

void TransferControl::pause() {
  int expected = kRunning;
  state_.compare_exchange_strong(expected, kPaused);
  changed_.notify_all();
}

void TransferControl::resume() {
  int expected = kPaused;
  state_.compare_exchange_strong(expected, kRunning);
  changed_.notify_all();
}

void TransferControl::cancel() {
  state_.store(kCancelled);
  changed_.notify_all();
}

void TransferControl::wait_while_paused() const {
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, std::chrono::hours(24 * 365), [&] { return state_.load() != kPaused; });
  if (state_.load() == kCancelled) throw_error(ErrorKind::Cancelled, "download cancelled");
}

namespace {

bool is_commit(const std::string& revision) {
  return revision.size() == 40 && std::all_of(revision.begin(), revision.end(), [](unsigned char c) { return std::isxdigit(c); });
}

bool selected(const std::string& path, const DownloadRequest& request) {
  auto any = [&](const std::vector<std::string>& globs) {
    return std::any_of(globs.begin(), globs.end(), [&](const std::string& g) { return fnmatch(g.c_str(), path.c_str(), 0) == 0; });
  };
  return (request.include.empty() || any(request.include)) && !any(request.exclude);
}

// Speeds smoothed over a few seconds so the ETA does not jump with every chunk.
struct Meter {
  uint64_t last_bytes = 0;
  double speed = 0;
  void tick(uint64_t bytes, double dt) {
    if (dt <= 0) return;
    double inst = bytes >= last_bytes ? double(bytes - last_bytes) / dt : 0;
    speed = speed == 0 ? inst : 0.8 * speed + 0.2 * inst;
    last_bytes = bytes;
  }
};

std::filesystem::path offline_snapshot(const HubSettings& s, const DownloadRequest& request) {
  CacheLayout layout(s.cache_dir, request.repo);
  std::optional<std::string> commit = is_commit(request.revision) ? std::optional(request.revision) : layout.read_ref(request.revision);
  if (!commit || !fs::is_directory(layout.snapshot_dir(*commit)))
    throw HubError(HubErrorCode::Offline, 0,
                   request.repo + "@" + request.revision + " is not in the cache " + s.cache_dir.string() +
                       " and HF_HUB_OFFLINE is set");
  return layout.snapshot_dir(*commit);
}

}  // namespace

Downloader::Downloader(HubSettings settings) : client_(std::move(settings)) {}

fs::path Downloader::download_file(const std::string& repo, const std::string& path, const std::string& revision,
                                   const ProgressCallback& progress) {
  DownloadRequest request{repo, revision, {path}, {}};
  fs::path snapshot = download(request, progress);
  if (!fs::exists(snapshot / path))  // offline: the snapshot exists but not this file
    throw HubError(HubErrorCode::Offline, 0,
                   path + " of " + repo + "@" + revision + " is not in the cache and HF_HUB_OFFLINE is set");
  return snapshot / path;
}

fs::path Downloader::download(const DownloadRequest& request, const ProgressCallback& progress) {
  validate_repo_id(request.repo);
  const HubSettings& s = client_.settings();
  if (s.offline) return offline_snapshot(s, request);
  CacheLayout layout(s.cache_dir, request.repo);

  ModelInfo info = client_.model_info(request.repo, request.revision);
  if (!is_commit(info.sha)) throw HubError(HubErrorCode::Other, 0, "model info of " + request.repo + " has no commit sha");
  const std::string commit = info.sha;
  std::vector<RepoFile> files;
  for (auto& f : client_.list_files(request.repo, commit))
    if (selected(f.path, request)) files.push_back(std::move(f));
  if (files.empty()) {
    std::string globs;
    for (const auto& g : request.include) globs += (globs.empty() ? "" : " ") + g;
    throw_error(ErrorKind::InvalidArgument, "no file of ", request.repo, "@", request.revision, " matches ",
                globs.empty() ? std::string("(the repo is empty)") : globs);
  }
  layout.write_ref(request.revision, commit);

  // Disk check before anything starts: what is missing, minus partial bytes already there.
  uint64_t needed = 0;
  for (const auto& f : files) {
    std::error_code ec;
    fs::path snap = layout.snapshot_file(commit, f.path);
    if (fs::exists(snap, ec)) continue;
    std::string etag = f.sha256 ? *f.sha256 : f.git_oid;
    uint64_t partial = etag.empty() ? 0 : fs::file_size(layout.incomplete(etag), ec);
    if (ec) partial = 0;
    needed += f.size > partial ? f.size - partial : 0;
  }
  fs::create_directories(layout.repo_dir() / "blobs");
  require_disk_space(layout.repo_dir() / "blobs", needed, request.repo);

  std::mutex mutex;
  DownloadProgress report;
  for (const auto& f : files) {
    report.files.push_back({f.path, 0, f.size, 0, FileState::Queued, ""});
    report.bytes_total += f.size;
  }
  std::vector<std::atomic<uint64_t>> done_bytes(files.size());
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr first_error;

  auto set_state = [&](size_t i, FileState state, const std::string& message) {
    std::lock_guard lock(mutex);
    report.files[i].state = state;
    report.files[i].message = message;
  };
  auto worker = [&] {
    for (size_t i; !failed && (i = next++) < files.size();) {
      const RepoFile& f = files[i];
      try {
        set_state(i, FileState::Checking, "");
        FileMetadata meta;
        try {
          meta = client_.file_metadata(request.repo, f.path, commit);
        } catch (const HubError& e) {
          if (e.code() == HubErrorCode::EntryNotFound) layout.mark_missing(commit, f.path);
          throw;
        }
        BlobTarget target = blob_target_for(f, meta, commit);
        target.final_path = layout.blob(meta.etag);
        target.lock_path = layout.lock(meta.etag);
        BlobObserver observer;
        observer.on_bytes = [&, i](uint64_t bytes) { done_bytes[i].store(bytes); };
        observer.on_state = [&, i](FileState state, const std::string& message) { set_state(i, state, message); };
        observer.should_stop = [&] { return failed.load(); };
        fetch_blob_refreshing(client_, request.repo, f.path, target, control_, observer);
        layout.link_snapshot(commit, f.path, meta.etag);
        done_bytes[i].store(f.size);
        set_state(i, FileState::Done, "");
      } catch (const std::exception& e) {
        set_state(i, FileState::Failed, e.what());
        std::lock_guard lock(mutex);
        // The first real failure wins over the Cancelled errors it causes in the other files.
        if (!first_error || !failed) first_error = std::current_exception();
        failed = true;
      }
    }
  };

  int threads = std::clamp<int>(s.parallel_files, 1, int(files.size()));
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(worker);

  // Progress comes from this thread only, so callbacks never overlap.
  std::vector<Meter> meters(files.size());
  Meter total_meter;
  auto last = std::chrono::steady_clock::now();
  auto emit = [&](bool final) {
    auto now = std::chrono::steady_clock::now();
    double dt = std::chrono::duration<double>(now - last).count();
    last = now;
    DownloadProgress copy;
    {
      std::lock_guard lock(mutex);
      report.bytes_done = 0;
      report.files_done = 0;
      for (size_t i = 0; i < files.size(); ++i) {
        uint64_t b = done_bytes[i].load();
        meters[i].tick(b, dt);
        report.files[i].bytes_done = b;
        report.files[i].bytes_per_second = report.files[i].state == FileState::Downloading ? meters[i].speed : 0;
        report.bytes_done += b;
        report.files_done += report.files[i].state == FileState::Done;
      }
      total_meter.tick(report.bytes_done, dt);
      report.bytes_per_second = total_meter.speed;
      report.eta_seconds = final ? 0 : total_meter.speed > 0 ? double(report.bytes_total - report.bytes_done) / total_meter.speed : -1;
      report.paused = control_.paused();
      copy = report;
    }
    if (progress) progress(copy);
  };
  auto all_done = [&] {
    std::lock_guard lock(mutex);
    return std::all_of(report.files.begin(), report.files.end(),
                       [](const FileProgress& p) { return p.state == FileState::Done || p.state == FileState::Failed; });
  };
  while (!all_done() && !failed) {
    std::this_thread::sleep_for(progress_interval);
    emit(false);
  }
  for (auto& t : pool) t.join();
  if (first_error) std::rethrow_exception(first_error);
  emit(true);
  return layout.snapshot_dir(commit);
}

}  // namespace hlwq::hub
