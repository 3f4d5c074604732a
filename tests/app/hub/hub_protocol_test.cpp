// The twelve protocol scenarios of ../shared/specs/hf-hub.md against the mock Hub, plus the
// cache layout, revisions, offline mode and transfer control. Expected bytes and hashes come
// from the source files and the mock's manifest (Python hashlib), never from our code.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "hub/blob_fetcher.h"
#include "hub/cache_layout.h"
#include "hub/downloader.h"
#include "hub/hub_client.h"
#include "hub/hub_error.h"
#include "mock_hub.h"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace hlwq;
using namespace hlwq::hub;
using hlwq::test::MockHub;
using hlwq::test::read_file;
using hlwq::test::TempDir;
using hlwq::test::write_random_file;

namespace {

constexpr const char* kRepo = "test-org/tiny-model";
constexpr const char* kToken = "hf_secret_token_123";

class HubProtocol : public ::testing::Test {
 protected:
  void SetUp() override {
    src_ = tmp_.path / "repo";
    cache_ = tmp_.path / "cache";
    big_ = write_random_file(src_ / "model.safetensors", 300000, 1);    // LFS: 302 to the CDN
    config_ = write_random_file(src_ / "config.json", 1500, 2);         // small: 200 or 307
    nested_ = write_random_file(src_ / "sub/dir/tokenizer.json", 900, 3);
  }

  std::unique_ptr<MockHub> start(std::vector<std::string> extra = {}, std::vector<std::string> more_repos = {}) {
    std::vector<std::string> repos = {std::string(kRepo) + "=" + src_.string()};
    repos.insert(repos.end(), more_repos.begin(), more_repos.end());
    extra.push_back("--token");
    extra.push_back(kToken);
    return std::make_unique<MockHub>(repos, extra);
  }

  HubSettings settings(const MockHub& hub) const {
    HubSettings s;
    s.endpoint = hub.endpoint();
    s.token = kToken;
    s.cache_dir = cache_;
    s.hf_home = tmp_.path / "home";
    s.retry_base_delay = std::chrono::milliseconds(20);
    s.max_retry_delay = std::chrono::milliseconds(3000);
    s.connect_timeout = std::chrono::seconds(5);
    s.stall_timeout = std::chrono::seconds(5);
    s.max_retries = 4;
    return s;
  }

  const json& file_ref(const MockHub& hub, const std::string& path) const { return hub.manifest()[kRepo]["files"][path]; }
  std::string commit(const MockHub& hub) const { return hub.manifest()[kRepo]["commit"]; }

  // Partial data as a killed earlier run would have left it.
  void plant_partial(const MockHub& hub, const std::string& path, const std::string& bytes) {
    CacheLayout layout(cache_, kRepo);
    std::string etag = file_ref(hub, path)["sha256"];
    fs::create_directories(layout.blob(etag).parent_path());
    std::ofstream(layout.incomplete(etag), std::ios::binary) << bytes;
    std::ofstream(layout.sidecar(etag)) << json{{"url", "x"}, {"etag", etag}, {"size", file_ref(hub, path)["size"]}, {"commit", commit(hub)}}.dump();
  }

  static std::vector<json> requests(const json& log, const std::string& needle) {
    std::vector<json> out;
    for (const auto& e : log)
      if (e["path"].get<std::string>().find(needle) != std::string::npos) out.push_back(e);
    return out;
  }

  TempDir tmp_;
  fs::path src_, cache_;
  std::string big_, config_, nested_;
};

// 1. Tree listing over two (here three) pages via Link rel="next".
TEST_F(HubProtocol, TreeListingFollowsLinkPages) {
  auto hub = start({"--page-size", "2"});
  HubClient client(settings(*hub));
  auto files = client.list_files(kRepo, "main");
  ASSERT_EQ(files.size(), 3u);
  for (const auto& f : files) {
    const json& ref = file_ref(*hub, f.path);
    EXPECT_EQ(f.size, ref["size"].get<uint64_t>()) << f.path;
    EXPECT_EQ(f.git_oid, ref["sha1"].get<std::string>()) << f.path;
    EXPECT_EQ(f.is_lfs(), ref["lfs"].get<bool>()) << f.path;
    if (f.is_lfs()) EXPECT_EQ(*f.sha256, ref["sha256"].get<std::string>());
  }
  auto pages = requests(hub->log(), "/tree/main");
  EXPECT_GE(pages.size(), 2u);
  EXPECT_NE(pages.back()["path"].get<std::string>().find("cursor="), std::string::npos);
}

// 2. Model info with blobs: commit, sizes, lfs.sha256.
TEST_F(HubProtocol, ModelInfoWithBlobs) {
  auto hub = start();
  HubClient client(settings(*hub));
  ModelInfo info = client.model_info(kRepo);
  EXPECT_EQ(info.id, kRepo);
  EXPECT_EQ(info.sha, commit(*hub));
  EXPECT_EQ(info.license, "apache-2.0");
  ASSERT_EQ(info.siblings.size(), 3u);
  uint64_t total = 0;
  for (const auto& f : info.siblings) {
    const json& ref = file_ref(*hub, f.path);
    EXPECT_EQ(f.size, ref["size"].get<uint64_t>());
    EXPECT_EQ(f.is_lfs(), ref["lfs"].get<bool>());
    if (f.is_lfs()) EXPECT_EQ(*f.sha256, ref["sha256"].get<std::string>());
    total += ref["size"].get<uint64_t>();
  }
  EXPECT_EQ(info.total_size(), total);
  EXPECT_NE(requests(hub->log(), "blobs=true").size(), 0u);
  auto hits = client.search("tiny", 5);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].id, kRepo);
}

// 3. HEAD 302 with an absolute Location on another host: X-Linked-* used, token never sent there.
TEST_F(HubProtocol, CrossHostRedirectNeverCarriesTheToken) {
  auto hub = start();
  Downloader d(settings(*hub));
  FileMetadata meta = d.client().file_metadata(kRepo, "model.safetensors", "main");
  EXPECT_EQ(meta.etag, file_ref(*hub, "model.safetensors")["sha256"].get<std::string>());
  EXPECT_EQ(meta.size, big_.size());
  EXPECT_EQ(meta.commit, commit(*hub));
  EXPECT_EQ(meta.location.rfind("http://localhost:", 0), 0u) << meta.location;
  fs::path file = d.download_file(kRepo, "model.safetensors");
  EXPECT_EQ(read_file(file), big_);
  int hub_with_token = 0, cdn_requests = 0;
  for (const auto& e : hub->log()) {
    std::string host = e["host"];
    if (host.rfind("localhost", 0) == 0) {
      ++cdn_requests;
      EXPECT_TRUE(e["authorization"].is_null()) << "token leaked to " << host << e["path"];
    } else if (e["authorization"] == std::string("Bearer ") + kToken) {
      ++hub_with_token;
    }
  }
  EXPECT_GE(cdn_requests, 1);
  EXPECT_GE(hub_with_token, 1);
}

// 4. Relative 307 for a small file: followed on the same host, ETag (git sha1) names the blob.
TEST_F(HubProtocol, RelativeTemporaryRedirectForSmallFiles) {
  auto hub = start({"--small-redirect", "307"});
  Downloader d(settings(*hub));
  fs::path file = d.download_file(kRepo, "config.json");
  EXPECT_EQ(read_file(file), config_);
  std::string sha1 = file_ref(*hub, "config.json")["sha1"];
  EXPECT_EQ(fs::read_symlink(file), fs::path("../../blobs") / sha1);
  auto log = hub->log();
  EXPECT_FALSE(requests(log, "/api/resolve-cache/").empty());
  for (const auto& e : requests(log, "/api/resolve-cache/")) EXPECT_EQ(e["authorization"], std::string("Bearer ") + kToken);
}

// 5. Resume with Range answered by 206 (the partial of an earlier run is kept).
TEST_F(HubProtocol, RangeResumeAnsweredWith206) {
  auto hub = start();
  plant_partial(*hub, "model.safetensors", big_.substr(0, 100000));
  Downloader d(settings(*hub));
  fs::path file = d.download_file(kRepo, "model.safetensors");
  EXPECT_EQ(read_file(file), big_);
  auto cdn = requests(hub->log(), "/cdn/");
  ASSERT_EQ(cdn.size(), 1u);
  EXPECT_EQ(cdn[0]["range"], "bytes=100000-");
  EXPECT_EQ(cdn[0]["status"], 206);
}

// 6. A server that ignores Range (200): truncate and start over, never append.
TEST_F(HubProtocol, ServerIgnoringRangeRestartsFromZero) {
  auto hub = start({"--faults", R"({"ignore_range": true})"});
  plant_partial(*hub, "model.safetensors", std::string(100000, 'X'));  // wrong bytes: appending would show
  Downloader d(settings(*hub));
  fs::path file = d.download_file(kRepo, "model.safetensors");
  EXPECT_EQ(read_file(file), big_);
  auto cdn = requests(hub->log(), "/cdn/");
  ASSERT_EQ(cdn.size(), 1u);
  EXPECT_EQ(cdn[0]["status"], 200);
}

// 7. 416 at end of file: every byte was already there; verify and finish.
TEST_F(HubProtocol, RangeNotSatisfiableAtEndOfFile) {
  auto hub = start();
  plant_partial(*hub, "model.safetensors", big_);
  Downloader d(settings(*hub));
  fs::path file = d.download_file(kRepo, "model.safetensors");
  EXPECT_EQ(read_file(file), big_);
  auto cdn = requests(hub->log(), "/cdn/");
  ASSERT_EQ(cdn.size(), 1u);
  EXPECT_EQ(cdn[0]["status"], 416);
}

// 8. Connection dropped mid-body: retried with Range from the bytes already written.
TEST_F(HubProtocol, DroppedConnectionResumes) {
  auto hub = start({"--faults", R"({"drop_after": [120000]})"});
  Downloader d(settings(*hub));
  fs::path file = d.download_file(kRepo, "model.safetensors");
  EXPECT_EQ(read_file(file), big_);
  auto cdn = requests(hub->log(), "/cdn/");
  ASSERT_EQ(cdn.size(), 2u);
  EXPECT_TRUE(cdn[0]["range"].is_null());
  EXPECT_EQ(cdn[1]["range"], "bytes=120000-");
  EXPECT_EQ(cdn[1]["status"], 206);
}

// An expired signed CDN URL (403 after a long pause) gets a fresh one from the Hub and resumes.
TEST_F(HubProtocol, ExpiredCdnUrlIsRefreshed) {
  auto hub = start({"--faults", R"({"drop_after": [100000], "cdn_status": [200, 403]})"});
  Downloader d(settings(*hub));
  fs::path file = d.download_file(kRepo, "model.safetensors");
  EXPECT_EQ(read_file(file), big_);
  auto cdn = requests(hub->log(), "/cdn/");
  ASSERT_EQ(cdn.size(), 3u);
  EXPECT_EQ(cdn[1]["status"], 403);
  EXPECT_EQ(cdn[2]["range"], "bytes=100000-");
  EXPECT_EQ(requests(hub->log(), "/resolve/").size(), 2u);  // the second HEAD fetched a fresh URL
}

// 9. A corrupted byte: sha256 mismatch names the file; nothing under the final name.
TEST_F(HubProtocol, CorruptedByteIsRejected) {
  auto hub = start({"--faults", R"({"corrupt_offset": 4242})"});
  Downloader d(settings(*hub));
  try {
    d.download_file(kRepo, "model.safetensors");
    FAIL() << "a corrupted download was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::CorruptFile);
    EXPECT_NE(std::string(e.what()).find("model.safetensors"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("sha256"), std::string::npos) << e.what();
  }
  CacheLayout layout(cache_, kRepo);
  std::string sha = file_ref(*hub, "model.safetensors")["sha256"];
  EXPECT_FALSE(fs::exists(layout.blob(sha)));
  EXPECT_FALSE(fs::exists(layout.incomplete(sha)));
  EXPECT_FALSE(fs::exists(fs::symlink_status(layout.snapshot_file(commit(*hub), "model.safetensors"))));
}

// 10. 401/404 with X-Error-Code: gated vs missing repo vs missing file, as typed errors.
TEST_F(HubProtocol, GatedAndMissingAreTypedErrors) {
  TempDir gated_src;
  write_random_file(gated_src.path / "config.json", 10, 9);
  auto hub = start({"--gated", "meta/gated-model"}, {"meta/gated-model=" + gated_src.path.string()});
  Downloader d(settings(*hub));
  try {
    d.download({"meta/gated-model", "main", {}, {}});
    FAIL();
  } catch (const HubError& e) {
    EXPECT_EQ(e.code(), HubErrorCode::GatedRepo);
    EXPECT_NE(std::string(e.what()).find("accept the licence on the Hub page " + hub->endpoint() + "/meta/gated-model"),
              std::string::npos)
        << e.what();
  }
  try {
    d.download({"nobody/no-such-model", "main", {}, {}});
    FAIL();
  } catch (const HubError& e) {
    EXPECT_EQ(e.code(), HubErrorCode::RepoNotFound);
    EXPECT_EQ(e.http_status(), 401);
  }
  try {
    d.download_file(kRepo, "missing.bin");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument);  // not in the listing: nothing to fetch
  }
  try {
    d.client().file_metadata(kRepo, "missing.bin", "main");
    FAIL();
  } catch (const HubError& e) {
    EXPECT_EQ(e.code(), HubErrorCode::EntryNotFound);
    EXPECT_EQ(e.http_status(), 404);
  }
  try {
    d.client().model_info(kRepo, std::string("v9-no-such-branch"));
    FAIL();
  } catch (const HubError& e) {
    EXPECT_EQ(e.code(), HubErrorCode::RevisionNotFound);
  }
}

// 11. 429 with Retry-After: waits as told, then succeeds.
TEST_F(HubProtocol, TooManyRequestsHonoursRetryAfter) {
  auto hub = start({"--faults", R"({"status_sequence": [429, 503], "retry_after": 1})"});
  Downloader d(settings(*hub));
  auto t0 = std::chrono::steady_clock::now();
  fs::path file = d.download_file(kRepo, "model.safetensors");
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(read_file(file), big_);
  EXPECT_GE(seconds, 0.9);
  int throttled = 0;
  for (const auto& e : hub->log()) throttled += e["status"] == 429 || e["status"] == 503;
  EXPECT_EQ(throttled, 2);
}

// 12. Quoted and weak (W/) ETags name the same blob, without W/ or quotes.
TEST_F(HubProtocol, QuotedAndWeakEtagsAreNormalised) {
  EXPECT_EQ(normalize_etag("\"abc123\""), "abc123");
  EXPECT_EQ(normalize_etag("W/\"abc123\""), "abc123");
  EXPECT_EQ(normalize_etag("abc123"), "abc123");
  for (bool weak : {false, true}) {
    TempDir cache;
    auto hub = start(weak ? std::vector<std::string>{"--weak-etags"} : std::vector<std::string>{});
    HubSettings s = settings(*hub);
    s.cache_dir = cache.path;
    Downloader d(s);
    std::string sha1 = file_ref(*hub, "config.json")["sha1"];
    EXPECT_EQ(d.client().file_metadata(kRepo, "config.json", "main").etag, sha1);
    fs::path file = d.download_file(kRepo, "config.json");
    EXPECT_TRUE(fs::is_regular_file(CacheLayout(cache.path, kRepo).blob(sha1)));
    EXPECT_EQ(read_file(file), config_);
  }
}

// The whole repo lands in huggingface_hub's layout: refs, relative symlinks, nested paths.
TEST_F(HubProtocol, CacheLayoutMatchesHuggingfaceHub) {
  auto hub = start();
  Downloader d(settings(*hub));
  std::vector<DownloadProgress> reports;
  fs::path snapshot = d.download({kRepo, "main", {}, {}}, [&](const DownloadProgress& p) { reports.push_back(p); });
  fs::path repo_dir = cache_ / "models--test-org--tiny-model";
  EXPECT_EQ(snapshot, repo_dir / "snapshots" / commit(*hub));
  EXPECT_EQ(read_file(repo_dir / "refs" / "main"), commit(*hub));
  EXPECT_EQ(fs::read_symlink(snapshot / "sub/dir/tokenizer.json"),
            fs::path("../../../../blobs") / file_ref(*hub, "sub/dir/tokenizer.json")["sha1"].get<std::string>());
  EXPECT_EQ(read_file(snapshot / "sub/dir/tokenizer.json"), nested_);
  EXPECT_EQ(read_file(snapshot / "model.safetensors"), big_);
  EXPECT_TRUE(fs::exists(cache_ / ".locks" / "models--test-org--tiny-model"));
  for (const auto& entry : fs::directory_iterator(repo_dir / "blobs"))
    EXPECT_EQ(entry.path().extension(), "") << "leftover " << entry.path();
  ASSERT_FALSE(reports.empty());
  EXPECT_EQ(reports.back().bytes_done, reports.back().bytes_total);
  EXPECT_EQ(reports.back().files_done, 3);
  // A second run finds everything in place and transfers nothing.
  auto before = requests(hub->log(), "/cdn/").size();
  d.download({kRepo, "main", {}, {}});
  EXPECT_EQ(requests(hub->log(), "/cdn/").size(), before);
  // Offline: answered from the cache only, no request at all.
  HubSettings offline = settings(*hub);
  offline.offline = true;
  auto count = hub->log().size();
  EXPECT_EQ(Downloader(offline).download({kRepo, "main", {}, {}}), snapshot);
  EXPECT_EQ(hub->log().size(), count);
  try {
    Downloader(offline).download_file(kRepo, "not-downloaded.bin");
    FAIL();
  } catch (const HubError& e) {
    EXPECT_EQ(e.code(), HubErrorCode::Offline);
  }
  try {
    Downloader(offline).download({"other/model", "main", {}, {}});
    FAIL();
  } catch (const HubError& e) {
    EXPECT_EQ(e.code(), HubErrorCode::Offline);
  }
}

// Revisions are URL-encoded (refs/pr/1 -> refs%2Fpr%2F1), the org/name slash never is.
TEST_F(HubProtocol, RevisionIsEncodedRepoSlashIsNot) {
  auto hub = start();
  Downloader d(settings(*hub));
  fs::path snapshot = d.download({kRepo, "refs/pr/1", {"config.json"}, {}});
  EXPECT_EQ(read_file(snapshot / "config.json"), config_);
  EXPECT_EQ(read_file(cache_ / "models--test-org--tiny-model" / "refs" / "refs" / "pr" / "1"), commit(*hub));
  bool saw = false;
  for (const auto& e : hub->log()) {
    std::string path = e["path"];
    EXPECT_EQ(path.find("test-org%2F"), std::string::npos) << path;
    saw |= path.find("/api/models/test-org/tiny-model/revision/refs%2Fpr%2F1") == 0;
  }
  EXPECT_TRUE(saw);
  EXPECT_EQ(d.client().resolve_url(kRepo, "a b/c.json", "refs/pr/1"),
            hub->endpoint() + "/test-org/tiny-model/resolve/refs%2Fpr%2F1/a%20b/c.json");
  EXPECT_THROW(d.client().model_info("no-slash"), Error);
}

// Pause stops the transfer, resume continues it by Range; cancel ends it with Cancelled.
TEST_F(HubProtocol, PauseResumeAndCancel) {
  auto hub = start({"--faults", R"({"throttle_bps": 400000})"});
  HubSettings s = settings(*hub);
  Downloader d(s);
  d.progress_interval = std::chrono::milliseconds(20);
  std::atomic<bool> paused_seen{false};
  bool paused_once = false;
  std::thread controller;
  // Pause once bytes flow (not on a timer: a slow machine may not have started yet).
  fs::path file = d.download_file(kRepo, "model.safetensors", "main", [&](const DownloadProgress& p) {
    if (p.paused) paused_seen = true;
    if (!paused_once && p.bytes_done > 30000) {
      paused_once = true;
      d.pause();
      controller = std::thread([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(400));
        d.resume();
      });
    }
  });
  controller.join();
  EXPECT_EQ(read_file(file), big_);
  EXPECT_TRUE(paused_seen);
  auto cdn = requests(hub->log(), "/cdn/");
  ASSERT_GE(cdn.size(), 2u);
  EXPECT_FALSE(cdn.back()["range"].is_null());

  TempDir other;
  s.cache_dir = other.path;
  Downloader c(s);
  c.progress_interval = std::chrono::milliseconds(20);
  try {
    c.download_file(kRepo, "model.safetensors", "main", [&](const DownloadProgress& p) {
      if (p.bytes_done > 30000) c.cancel();
    });
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Cancelled);
  }
  std::string sha = file_ref(*hub, "model.safetensors")["sha256"];
  EXPECT_FALSE(fs::exists(CacheLayout(other.path, kRepo).blob(sha)));
  EXPECT_TRUE(fs::exists(CacheLayout(other.path, kRepo).incomplete(sha)));  // kept for a later resume
}

// Several files in parallel; the disk check refuses before any byte is written.
TEST_F(HubProtocol, ParallelFilesAndDiskCheck) {
  for (int i = 0; i < 6; ++i) write_random_file(src_ / ("shard-" + std::to_string(i) + ".safetensors"), 50000, 100 + i);
  auto hub = start({"--faults", R"({"throttle_bps": 500000})"});
  HubSettings s = settings(*hub);
  s.parallel_files = 4;
  Downloader d(s);
  d.progress_interval = std::chrono::milliseconds(20);
  int max_active = 0;
  fs::path snap = d.download({kRepo, "main", {"shard-*"}, {}}, [&](const DownloadProgress& p) {
    int active = 0;
    for (const auto& f : p.files) active += f.state == FileState::Downloading;
    max_active = std::max(max_active, active);
  });
  EXPECT_GE(max_active, 2);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(read_file(snap / ("shard-" + std::to_string(i) + ".safetensors")).size(), 50000u);
  EXPECT_FALSE(fs::exists(snap / "config.json"));  // --include filtered it out

  EXPECT_THROW(require_disk_space(cache_, uint64_t(1) << 62, "a huge model"), Error);
  try {
    require_disk_space(cache_, uint64_t(1) << 62, "a huge model");
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Io);
    EXPECT_NE(std::string(e.what()).find("not enough disk space"), std::string::npos);
  }
}

}  // namespace
