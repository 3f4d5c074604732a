#include "hub/hub_settings.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "core/error.h"

namespace fs = std::filesystem;

namespace hlwq::hub {

namespace {

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  return std::string(v);
}

bool truthy(const std::optional<std::string>& v) {
  return v && (*v == "1" || *v == "true" || *v == "TRUE" || *v == "True" || *v == "yes" || *v == "on" || *v == "ON");
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
  size_t b = s.find_first_not_of(" \t");
  return b == std::string::npos ? std::string() : s.substr(b);
}

}  // namespace

HubSettings HubSettings::from_environment(std::optional<std::string> explicit_token) {
  HubSettings s;
  if (auto e = env("HF_ENDPOINT")) {
    s.endpoint = *e;
    while (!s.endpoint.empty() && s.endpoint.back() == '/') s.endpoint.pop_back();
  }
  if (auto home = env("HF_HOME")) s.hf_home = *home;
  else if (auto xdg = env("XDG_CACHE_HOME")) s.hf_home = fs::path(*xdg) / "huggingface";
  else s.hf_home = fs::path(env("HOME").value_or("/tmp")) / ".cache" / "huggingface";
  if (auto cache = env("HF_HUB_CACHE")) s.cache_dir = *cache;
  else if (auto legacy = env("HUGGINGFACE_HUB_CACHE")) s.cache_dir = *legacy;
  else s.cache_dir = s.hf_home / "hub";
  s.offline = truthy(env("HF_HUB_OFFLINE"));
  if (explicit_token && !explicit_token->empty()) {
    s.token = trim(*explicit_token);
  } else if (auto t = env("HF_TOKEN")) {
    s.token = trim(*t);
  } else {
    std::ifstream in(env("HF_TOKEN_PATH") ? fs::path(*env("HF_TOKEN_PATH")) : s.hf_home / "token");
    std::string line;
    if (in && std::getline(in, line) && !trim(line).empty()) s.token = trim(line);
  }
  return s;
}

void store_token_file(const fs::path& hf_home, const std::string& token) {
  std::error_code ec;
  fs::create_directories(hf_home, ec);
  fs::path target = hf_home / "token";
  fs::path temp = hf_home / ("token.tmp" + std::to_string(::getpid()));
  // Created 0600 from the start: the secret is never readable by others, not even briefly.
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw_error(ErrorKind::Io, "cannot write ", temp.string(), ": ", std::strerror(errno));
  std::string text = trim(token) + "\n";
  bool ok = ::write(fd, text.data(), text.size()) == ssize_t(text.size()) && ::fchmod(fd, 0600) == 0 && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(temp.c_str(), target.c_str()) != 0) {
    ::unlink(temp.c_str());
    throw_error(ErrorKind::Io, "cannot store the Hub token in ", target.string(), ": ", std::strerror(errno));
  }
}

}  // namespace hlwq::hub
