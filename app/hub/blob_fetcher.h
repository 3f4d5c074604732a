#pragma once
// Fetches one blob to its final path with Range resume, retries and verification.
// Partial data: <target>.incomplete plus <target>.incomplete.json (url, etag, size, commit);
// resumed only when the sidecar names the same etag and size. The final name appears only
// after size (and sha256 for LFS) matched.
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "hub/downloader.h"
#include "hub/hub_client.h"

namespace hlwq::hub {

struct BlobTarget {
  std::string display_name;               // repo path, for messages
  std::string url;                        // first URL to GET (hub resolve URL or CDN)
  std::string etag;
  std::string commit;
  uint64_t size = 0;
  std::optional<std::string> sha256;      // verify when set (LFS)
  std::filesystem::path final_path;
  std::filesystem::path lock_path;        // flock()ed while fetching, when set
};

// The target for one listed file from its HEAD metadata: size checked against the listing
// (a mirror that omits Content-Length on HEAD is trusted to match it), sha256 from the listing
// (an independent source) else the LFS etag. The caller sets final_path and lock_path.
BlobTarget blob_target_for(const RepoFile& file, FileMetadata meta, const std::string& commit);

struct BlobObserver {
  std::function<void(uint64_t bytes_done)> on_bytes;              // absolute count, may go down on restart
  std::function<void(FileState, const std::string& message)> on_state;
  std::function<bool()> should_stop;  // another file of the job failed: stop (Cancelled)
};

void fetch_blob(const HubSettings& settings, const BlobTarget& target, TransferControl& control,
                const BlobObserver& observer = {});

// fetch_blob, but when a CDN (another origin than the Hub) answers 403 or 410 - its signed URL
// expired, e.g. after a long pause - asks the Hub for a fresh one (HEAD) and resumes.
void fetch_blob_refreshing(const HubClient& client, const std::string& repo, const std::string& path,
                           BlobTarget target, TransferControl& control, const BlobObserver& observer = {});

// Free bytes for unprivileged writes on the filesystem holding `dir` (statvfs).
uint64_t free_disk_bytes(const std::filesystem::path& dir);
// Throws Error{Io} naming the folder and both sizes when `needed` exceeds the free space.
void require_disk_space(const std::filesystem::path& dir, uint64_t needed, const std::string& what);

}  // namespace hlwq::hub
