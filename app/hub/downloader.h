#pragma once
// Downloads a repo (or the files matching some globs) into the Hugging Face cache layout
// ($HF_HUB_CACHE/models--org--name/{blobs,refs,snapshots}) so other HF tools share the files.
// Resumable across restarts: a partial blob lives beside its target as
// blobs/<etag>.incomplete with a .incomplete.json sidecar (url, etag, size, commit); only the
// same blob is ever resumed. Nothing unverified ever appears under a final name.
//
// Threading: download() blocks; call it on a worker thread. pause(), resume() and cancel()
// may be called from any thread. Progress callbacks come on the thread that called
// download() (the transfers run on their own threads), every `progress_interval`.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "hub/download_progress.h"
#include "hub/hub_client.h"
#include "hub/hub_settings.h"

namespace hlwq::hub {

struct DownloadRequest {
  std::string repo;                       // "org/name"
  std::string revision = "main";          // branch, tag, "refs/pr/N" or a commit
  std::vector<std::string> include;       // fnmatch globs on repo paths; empty = every file
  std::vector<std::string> exclude;
};

using ProgressCallback = std::function<void(const DownloadProgress&)>;

// Shared pause/resume/cancel switch; one per job, observed by every transfer of that job.
class TransferControl {
 public:
  void pause();
  void resume();
  void cancel();
  bool paused() const { return state_.load() == kPaused; }
  bool cancelled() const { return state_.load() == kCancelled; }
  // Blocks while paused; throws Error{Cancelled} once cancelled.
  void wait_while_paused() const;

 private:
  static constexpr int kRunning = 0, kPaused = 1, kCancelled = 2;
  std::atomic<int> state_{kRunning};
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
};

class Downloader {
 public:
  explicit Downloader(HubSettings settings);

  // Returns the snapshot folder ($cache/models--org--name/snapshots/<commit>). Throws HubError
  // (gated, missing, unauthorized, offline), Error{Io} (disk space, ENOSPC, naming the file),
  // Error{CorruptFile} (size or sha256 mismatch, naming the file), Error{Cancelled}.
  std::filesystem::path download(const DownloadRequest& request, const ProgressCallback& progress = {});

  // One file; returns its snapshot path.
  std::filesystem::path download_file(const std::string& repo, const std::string& path,
                                      const std::string& revision = "main", const ProgressCallback& progress = {});

  void pause() { control_.pause(); }
  void resume() { control_.resume(); }
  void cancel() { control_.cancel(); }  // partial blobs stay for a later resume
  TransferControl& control() { return control_; }
  const HubSettings& settings() const { return client_.settings(); }
  const HubClient& client() const { return client_; }

  std::chrono::milliseconds progress_interval{250};

 private:
  HubClient client_;
  TransferControl control_;
};

}  // namespace hlwq::hub
