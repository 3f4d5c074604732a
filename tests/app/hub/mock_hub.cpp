#include "mock_hub.h"

#include <curl/curl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

namespace fs = std::filesystem;

namespace hlwq::test {

TempDir::TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "hlwq-hub-test-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path, ec);
}

std::string write_random_file(const fs::path& file, size_t size, unsigned seed) {
  std::mt19937 rng(seed);
  std::string data(size, '\0');
  for (auto& c : data) c = char(rng() & 0xFF);
  fs::create_directories(file.parent_path());
  std::ofstream(file, std::ios::binary).write(data.data(), std::streamsize(data.size()));
  return data;
}

std::string read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

static size_t collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

std::string http_text(const std::string& url, const std::string& body, bool post) {
  CURL* curl = curl_easy_init();
  std::string out;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &out);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
  if (post) curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
  CURLcode rc = curl_easy_perform(curl);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) throw std::runtime_error("mock control request failed: " + url);
  return out;
}

MockHub::MockHub(const std::vector<std::string>& repos, const std::vector<std::string>& extra) {
  static TempDir scratch;  // one per test process is enough for manifests
  manifest_path_ = scratch.path / ("manifest-" + std::to_string(::getpid()) + "-" + std::to_string(std::rand()) + ".json");
  std::vector<std::string> argv = {HLWQ_TEST_PYTHON, MOCK_HUB_PY, "--exit-on-stdin-eof", "--manifest", manifest_path_.string()};
  for (const auto& r : repos) {
    argv.push_back("--repo");
    argv.push_back(r);
  }
  argv.insert(argv.end(), extra.begin(), extra.end());
  int out_pipe[2], in_pipe[2];
  if (::pipe(out_pipe) != 0 || ::pipe(in_pipe) != 0) throw std::runtime_error("pipe failed");
  pid_ = ::fork();
  if (pid_ == 0) {
    ::dup2(out_pipe[1], 1);
    ::dup2(in_pipe[0], 0);
    ::close(out_pipe[0]);
    ::close(in_pipe[1]);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    _exit(127);
  }
  ::close(out_pipe[1]);
  ::close(in_pipe[0]);
  stdin_fd_ = in_pipe[1];
  std::string line;
  pollfd p{out_pipe[0], POLLIN, 0};
  while (line.find('\n') == std::string::npos) {
    if (::poll(&p, 1, 15000) <= 0) break;
    char buf[256];
    ssize_t n = ::read(out_pipe[0], buf, sizeof buf);
    if (n <= 0) break;
    line.append(buf, size_t(n));
  }
  ::close(out_pipe[0]);
  if (line.rfind("PORT ", 0) != 0) throw std::runtime_error("mock hub did not start: '" + line + "'");
  port_ = std::atoi(line.c_str() + 5);
  manifest_ = nlohmann::json::parse(read_file(manifest_path_));
}

MockHub::~MockHub() {
  if (stdin_fd_ >= 0) ::close(stdin_fd_);
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
  }
}

nlohmann::json MockHub::log() const {
  nlohmann::json all = nlohmann::json::parse(http_text(endpoint() + "/_mock/log")), seen = nlohmann::json::array();
  for (auto& e : all)
    if (e["path"].get<std::string>().rfind("/_mock/", 0) != 0) seen.push_back(std::move(e));
  return seen;
}

void MockHub::set_faults(const nlohmann::json& faults) { http_text(endpoint() + "/_mock/faults", faults.dump(), true); }

}  // namespace hlwq::test
