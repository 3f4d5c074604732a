#include "hub/hub_client.h"

#include <nlohmann/json.hpp>

#include <cctype>
#include <thread>

#include "core/error.h"
#include "hub/hub_error.h"
#include "hub/http.h"

using nlohmann::json;

namespace hlwq::hub {

namespace {

void require_online(const HubSettings& s, const std::string& what) {
  if (s.offline) throw HubError(HubErrorCode::Offline, 0, what + ": HF_HUB_OFFLINE is set, no network access");
}

json parse_json(const std::string& body, const std::string& url) {
  try {
    return json::parse(body);
  } catch (const json::exception& e) {
    throw_error(ErrorKind::BadJson, "answer of ", url, " is not JSON: ", e.what());
  }
}

// GET with retries and same-origin redirects (renamed repos answer 307).
HttpResponse api_get(const HubSettings& s, std::string url, const std::string& repo, const std::string& what) {
  require_online(s, what);
  int attempt = 0, hops = 0;
  for (;;) {
    HttpRequest req;
    req.url = url;
    req.headers = {"Accept: application/json"};
    req.with_token = true;
    HttpResponse r = http_perform(s, req);
    if (r.ok()) return r;
    if (r.curl_code == 0 && r.status >= 300 && r.status < 400 && !r.header("location").empty() && ++hops <= 10) {
      url = resolve_location(url, r.header("location"));
      continue;
    }
    if (is_retryable(r) && attempt < s.max_retries) {
      std::this_thread::sleep_for(retry_delay(s, r, attempt++));
      continue;
    }
    throw_http_error(s, r, url, repo, what);
  }
}

// Link: <https://...cursor=...>; rel="next", <...>; rel="prev"
std::string next_link(const std::string& link) {
  size_t pos = 0;
  while (pos < link.size()) {
    size_t open = link.find('<', pos);
    if (open == std::string::npos) break;
    size_t close = link.find('>', open);
    if (close == std::string::npos) break;
    size_t end = link.find(',', close);
    std::string params = link.substr(close + 1, end == std::string::npos ? std::string::npos : end - close - 1);
    if (params.find("rel=\"next\"") != std::string::npos || params.find("rel=next") != std::string::npos)
      return link.substr(open + 1, close - open - 1);
    if (end == std::string::npos) break;
    pos = end + 1;
  }
  return {};
}

uint64_t get_u64(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<uint64_t>() : 0;
}

std::string get_str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

ModelInfo parse_model(const json& j) {
  ModelInfo m;
  m.id = get_str(j, "id");
  if (m.id.empty()) m.id = get_str(j, "modelId");
  m.sha = get_str(j, "sha");
  if (auto g = j.find("gated"); g != j.end()) m.gated = g->is_string() ? g->get<std::string>() : (g->is_boolean() && g->get<bool>() ? "auto" : "false");
  if (auto p = j.find("private"); p != j.end() && p->is_boolean()) m.is_private = p->get<bool>();
  m.downloads = get_u64(j, "downloads");
  m.likes = get_u64(j, "likes");
  m.pipeline_tag = get_str(j, "pipeline_tag");
  if (auto card = j.find("cardData"); card != j.end() && card->is_object()) {
    auto lic = card->find("license");
    if (lic != card->end() && lic->is_string()) m.license = lic->get<std::string>();
  }
  if (m.license.empty())
    if (auto tags = j.find("tags"); tags != j.end() && tags->is_array())
      for (const auto& t : *tags)
        if (t.is_string() && t.get<std::string>().rfind("license:", 0) == 0) m.license = t.get<std::string>().substr(8);
  if (auto sib = j.find("siblings"); sib != j.end() && sib->is_array()) {
    for (const auto& s : *sib) {
      RepoFile f;
      f.path = get_str(s, "rfilename");
      f.size = get_u64(s, "size");
      f.git_oid = get_str(s, "blobId");
      if (auto lfs = s.find("lfs"); lfs != s.end() && lfs->is_object()) {
        f.sha256 = get_str(*lfs, "sha256");
        if (!f.size) f.size = get_u64(*lfs, "size");
      }
      m.siblings.push_back(std::move(f));
    }
  }
  return m;
}

bool is_hex(const std::string& s, size_t length) {
  return s.size() == length && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isxdigit(c); });
}

}  // namespace

uint64_t ModelInfo::total_size() const {
  uint64_t total = 0;
  for (const auto& f : siblings) total += f.size;
  return total;
}

bool FileMetadata::is_lfs() const { return is_hex(etag, 64); }

std::string normalize_etag(std::string etag) {
  if (etag.rfind("W/", 0) == 0) etag.erase(0, 2);
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') etag = etag.substr(1, etag.size() - 2);
  return etag;
}

std::string url_encode(const std::string& text) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += char(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

void validate_repo_id(const std::string& repo) {
  size_t slash = repo.find('/');
  bool ok = slash != std::string::npos && slash > 0 && slash + 1 < repo.size() && repo.find('/', slash + 1) == std::string::npos;
  for (char c : repo)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '-' || c == '_' || c == '.')) ok = false;
  if (repo.find("..") != std::string::npos || repo.find("--") != std::string::npos) ok = false;
  if (!ok) throw_error(ErrorKind::InvalidArgument, "repo id '", repo, "' is not of the form org/name");
}

HubClient::HubClient(HubSettings settings) : settings_(std::move(settings)) {}

std::string HubClient::resolve_url(const std::string& repo, const std::string& path, const std::string& revision) const {
  validate_repo_id(repo);
  // Path segments keep their slashes; each segment is encoded (spaces, '#', '?').
  std::string encoded_path;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    std::string part = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    encoded_path += url_encode(part);
    if (slash == std::string::npos) break;
    encoded_path += '/';
    start = slash + 1;
  }
  return settings_.endpoint + "/" + repo + "/resolve/" + url_encode(revision) + "/" + encoded_path;
}

std::vector<RepoFile> HubClient::list_files(const std::string& repo, const std::string& revision) const {
  validate_repo_id(repo);
  std::string url = settings_.endpoint + "/api/models/" + repo + "/tree/" + url_encode(revision) + "?recursive=true";
  std::vector<RepoFile> files;
  for (int page = 0; !url.empty(); ++page) {
    if (page > 100000) throw_error(ErrorKind::Network, "tree listing of ", repo, " does not end (Link loop)");
    HttpResponse r = api_get(settings_, url, repo, "listing files of " + repo);
    json j = parse_json(r.body, url);
    if (!j.is_array()) throw_error(ErrorKind::BadJson, "tree listing ", url, " is not a JSON array");
    for (const auto& e : j) {
      if (get_str(e, "type") != "file") continue;
      RepoFile f;
      f.path = get_str(e, "path");
      f.size = get_u64(e, "size");
      f.git_oid = get_str(e, "oid");
      if (auto lfs = e.find("lfs"); lfs != e.end() && lfs->is_object()) {
        f.sha256 = get_str(*lfs, "oid");
        if (auto sz = get_u64(*lfs, "size")) f.size = sz;
      }
      if (f.path.empty()) throw_error(ErrorKind::BadJson, "tree entry without path in ", url);
      files.push_back(std::move(f));
    }
    std::string next = next_link(r.header("link"));
    url = next.empty() ? std::string() : resolve_location(url, next);
  }
  return files;
}

ModelInfo HubClient::model_info(const std::string& repo, const std::optional<std::string>& revision) const {
  validate_repo_id(repo);
  std::string url = settings_.endpoint + "/api/models/" + repo;
  if (revision) url += "/revision/" + url_encode(*revision);
  url += "?blobs=true";
  HttpResponse r = api_get(settings_, url, repo, "model info of " + repo);
  json j = parse_json(r.body, url);
  if (!j.is_object()) throw_error(ErrorKind::BadJson, "model info ", url, " is not a JSON object");
  ModelInfo m = parse_model(j);
  if (m.id.empty()) m.id = repo;
  return m;
}

std::vector<ModelInfo> HubClient::search(const std::string& query, int limit) const {
  std::string url = settings_.endpoint + "/api/models?search=" + url_encode(query) +
                    "&sort=downloads&direction=-1&limit=" + std::to_string(limit) + "&full=true&config=true";
  HttpResponse r = api_get(settings_, url, "", "searching the Hub for '" + query + "'");
  json j = parse_json(r.body, url);
  if (!j.is_array()) throw_error(ErrorKind::BadJson, "search answer ", url, " is not a JSON array");
  std::vector<ModelInfo> out;
  for (const auto& e : j)
    if (e.is_object()) out.push_back(parse_model(e));
  return out;
}

FileMetadata HubClient::file_metadata(const std::string& repo, const std::string& path, const std::string& revision) const {
  std::string what = "file " + path + " of " + repo + "@" + revision;
  require_online(settings_, what);
  std::string url = resolve_url(repo, path, revision);
  FileMetadata m;
  int attempt = 0;
  for (int hops = 0;; ++hops) {
    if (hops > 10) throw HubError(HubErrorCode::Other, 0, what + ": too many redirects");
    HttpRequest req;
    req.method = "HEAD";
    req.url = url;
    req.headers = {"Accept-Encoding: identity"};
    req.with_token = true;
    HttpResponse r = http_perform(settings_, req);
    if (r.curl_code != 0 || r.status == 429 || r.status >= 500) {
      if (is_retryable(r) && attempt < settings_.max_retries) {
        std::this_thread::sleep_for(retry_delay(settings_, r, attempt++));
        --hops;
        continue;
      }
      throw_http_error(settings_, r, url, repo, what);
    }
    // The Hub's own answer (302/307/200) carries the metadata; a CDN's answer never does.
    if (m.commit.empty()) m.commit = r.header("x-repo-commit");
    if (m.etag.empty()) m.etag = normalize_etag(r.header("x-linked-etag"));
    if (!m.size && !r.header("x-linked-size").empty()) m.size = std::strtoull(r.header("x-linked-size").c_str(), nullptr, 10);
    if (r.status >= 300 && r.status < 400) {
      std::string location = r.header("location");
      if (location.empty()) throw HubError(HubErrorCode::Other, int(r.status), what + ": redirect without Location from " + url);
      std::string next = resolve_location(url, location);
      if (same_origin(next, url)) {
        url = next;
        continue;
      }
      m.location = next;  // another host: download from there later, without the token
      break;
    }
    if (r.status < 200 || r.status >= 300) throw_http_error(settings_, r, url, repo, what);
    if (m.etag.empty()) m.etag = normalize_etag(r.header("etag"));
    if (!m.size && !r.header("content-length").empty()) m.size = std::strtoull(r.header("content-length").c_str(), nullptr, 10);
    m.location = url;
    break;
  }
  if (m.etag.empty()) throw HubError(HubErrorCode::Other, 0, what + ": the server sent no ETag, cannot address the blob");
  if (m.etag.find('/') != std::string::npos || m.etag.find("..") != std::string::npos)
    throw HubError(HubErrorCode::Other, 0, what + ": unusable ETag '" + m.etag + "'");
  return m;
}

}  // namespace hlwq::hub
