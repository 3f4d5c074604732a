#include "hub/hub_error.h"

#include <algorithm>
#include <cstdlib>

#include "hub/http.h"

namespace hlwq::hub {

const char* to_string(HubErrorCode code) {
  switch (code) {
    case HubErrorCode::Other: return "Other";
    case HubErrorCode::RepoNotFound: return "RepoNotFound";
    case HubErrorCode::EntryNotFound: return "EntryNotFound";
    case HubErrorCode::RevisionNotFound: return "RevisionNotFound";
    case HubErrorCode::GatedRepo: return "GatedRepo";
    case HubErrorCode::Unauthorized: return "Unauthorized";
    case HubErrorCode::Offline: return "Offline";
  }
  return "Other";
}

bool is_retryable(const HttpResponse& r) {
  if (r.aborted) return false;
  if (r.curl_code != 0) return true;  // refused, reset, partial body, stalled
  return r.status == 429 || (r.status >= 500 && r.status <= 599);
}

std::chrono::milliseconds retry_delay(const HubSettings& s, const HttpResponse& r, int attempt) {
  using std::chrono::milliseconds;
  milliseconds delay = s.retry_base_delay * (int64_t(1) << std::min(attempt, 16));
  std::string after = r.header("retry-after");
  if (!after.empty() && std::all_of(after.begin(), after.end(), [](char c) { return c >= '0' && c <= '9'; }))
    delay = milliseconds(std::strtoll(after.c_str(), nullptr, 10) * 1000);
  return std::min(delay, s.max_retry_delay);
}

void throw_http_error(const HubSettings& settings, const HttpResponse& r, const std::string& url, const std::string& repo,
                      const std::string& what) {
  if (r.status == 0)
    throw HubError(HubErrorCode::Other, 0, what + ": no answer from " + url + ": " + r.curl_error);
  std::string code = r.header("x-error-code");
  std::string server = r.header("x-error-message");
  std::string suffix = server.empty() ? std::string() : " (server: " + server + ")";
  std::string page = settings.endpoint + "/" + repo;
  if (code == "GatedRepo")
    throw HubError(HubErrorCode::GatedRepo, int(r.status),
                   what + ": " + repo + " is gated: accept the licence on the Hub page " + page +
                       (settings.token ? " with the account of your token" : " and set HF_TOKEN") + suffix);
  if (code == "RepoNotFound")
    throw HubError(HubErrorCode::RepoNotFound, int(r.status),
                   what + ": repository " + repo + " not found (or private: set HF_TOKEN)" + suffix);
  if (code == "RevisionNotFound")
    throw HubError(HubErrorCode::RevisionNotFound, int(r.status), what + ": revision not found in " + repo + suffix);
  if (code == "EntryNotFound")
    throw HubError(HubErrorCode::EntryNotFound, int(r.status), what + ": no such file in " + repo + suffix);
  if (r.status == 401 || r.status == 403)
    throw HubError(HubErrorCode::Unauthorized, int(r.status),
                   what + ": HTTP " + std::to_string(r.status) + " for " + url +
                       ": the repository is private, gated or missing; check HF_TOKEN" + suffix);
  if (r.status == 404)
    throw HubError(HubErrorCode::RepoNotFound, int(r.status), what + ": HTTP 404 for " + url + suffix);
  throw HubError(HubErrorCode::Other, int(r.status), what + ": HTTP " + std::to_string(r.status) + " for " + url + suffix);
}

}  // namespace hlwq::hub
