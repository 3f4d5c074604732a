#pragma once
// The Hub's JSON API and file metadata, without Qt: safe to call from any thread (each call
// uses its own connection). Repo ids are "org/name"; the slash is never URL-encoded, the
// revision always is ("refs/pr/1" -> "refs%2Fpr%2F1").
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "hub/hub_settings.h"

namespace hlwq::hub {

struct RepoFile {
  std::string path;                    // relative to the repo root
  uint64_t size = 0;
  std::string git_oid;                 // git blob sha1 (the ETag of a non-LFS file)
  std::optional<std::string> sha256;   // LFS files only (tree: lfs.oid, model info: lfs.sha256)
  bool is_lfs() const { return sha256.has_value(); }
};

struct ModelInfo {
  std::string id;                      // "org/name"
  std::string sha;                     // commit of the requested revision
  std::string gated = "false";         // "false", "auto" or "manual"
  bool is_private = false;
  std::string license;                 // cardData.license or a "license:..." tag, "" if unknown
  uint64_t downloads = 0;
  uint64_t likes = 0;
  std::string pipeline_tag;
  std::vector<RepoFile> siblings;      // with sizes and LFS hashes (blobs=true)
  uint64_t total_size() const;
};

// What a HEAD on resolve/ tells us before downloading (huggingface_hub's HfFileMetadata).
struct FileMetadata {
  std::string commit;                  // X-Repo-Commit ("" when a mirror omits it)
  std::string etag;                    // X-Linked-Etag or ETag, W/ and quotes stripped
  uint64_t size = 0;                   // X-Linked-Size or Content-Length
  std::string location;                // where to GET the bytes (CDN URL after a cross-host 302)
  bool is_lfs() const;                 // etag is a 64-hex sha256
};

class HubClient {
 public:
  explicit HubClient(HubSettings settings);
  const HubSettings& settings() const { return settings_; }

  // GET /api/models/{repo}/tree/{rev}?recursive=true, following Link rel="next" pages.
  std::vector<RepoFile> list_files(const std::string& repo, const std::string& revision = "main") const;
  // GET /api/models/{repo}[/revision/{rev}]?blobs=true
  ModelInfo model_info(const std::string& repo, const std::optional<std::string>& revision = std::nullopt) const;
  // GET /api/models?search=...&sort=downloads&direction=-1&limit=N&full=true&config=true
  std::vector<ModelInfo> search(const std::string& query, int limit = 20) const;
  // HEAD {endpoint}/{repo}/resolve/{rev}/{path}; relative redirects followed, an absolute
  // redirect to another host is not (its Location becomes `location`, no token goes there).
  FileMetadata file_metadata(const std::string& repo, const std::string& path, const std::string& revision = "main") const;

  std::string resolve_url(const std::string& repo, const std::string& path, const std::string& revision) const;

 private:
  HubSettings settings_;
};

// Shared helpers (also used by the downloader and the tests).
std::string normalize_etag(std::string etag);          // strips W/ and quotes
std::string url_encode(const std::string& text);       // RFC 3986 unreserved kept
void validate_repo_id(const std::string& repo);        // "org/name", throws InvalidArgument

}  // namespace hlwq::hub
