#pragma once
// Runs tests/app/hub/mock_hub.py for one test: a local Hub on 127.0.0.1 with its CDN on
// localhost. The server stops when this object dies (or the test process does: its stdin closes).
#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace hlwq::test {

class MockHub {
 public:
  // repos: "org/name=FOLDER"; extra: more mock_hub.py options.
  MockHub(const std::vector<std::string>& repos, const std::vector<std::string>& extra = {});
  ~MockHub();
  MockHub(const MockHub&) = delete;
  MockHub& operator=(const MockHub&) = delete;

  int port() const { return port_; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  nlohmann::json log() const;                     // every request seen so far (not /_mock/ ones)
  void set_faults(const nlohmann::json& faults);  // replaces the fault set
  // The mock's own hashes and sizes: the independent reference the tests compare against.
  const nlohmann::json& manifest() const { return manifest_; }

 private:
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int port_ = 0;
  std::filesystem::path manifest_path_;
  nlohmann::json manifest_;
};

// A scratch folder removed at the end of the test.
struct TempDir {
  TempDir();
  ~TempDir();
  std::filesystem::path path;
};

// Deterministic pseudo-random bytes (seeded), written to `file` (parents created).
std::string write_random_file(const std::filesystem::path& file, size_t size, unsigned seed);
std::string read_file(const std::filesystem::path& file);

// A plain HTTP GET/POST with libcurl, independent of the code under test.
std::string http_text(const std::string& url, const std::string& post_body = {}, bool post = false);

}  // namespace hlwq::test
