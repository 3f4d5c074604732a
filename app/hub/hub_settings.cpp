#include "hub/hub_settings.h"

#include <cstdlib>
#include <fstream>

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

}  // namespace hlwq::hub
