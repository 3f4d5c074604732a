#pragma once
// One HTTP exchange over libcurl with redirects NOT followed (we decide per hop whether the
// token may go along). Internal to hlwq_hub.
#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "hub/hub_settings.h"

namespace hlwq::hub {

struct HttpResponse {
  long status = 0;                              // 0: no HTTP answer (see curl_error)
  std::map<std::string, std::string> headers;   // names lower-cased, last value wins
  std::string body;                             // error bodies, JSON answers (not sink data)
  int curl_code = 0;                            // CURLcode, 0 = OK
  std::string curl_error;
  bool aborted = false;                         // a callback asked to stop
  std::string header(const std::string& lower_name) const;
  bool ok() const { return curl_code == 0 && status >= 200 && status < 300; }
};

struct HttpRequest {
  std::string method = "GET";                   // GET or HEAD
  std::string url;
  std::vector<std::string> headers;             // "Name: value"
  bool with_token = false;                      // add Authorization if url's origin is the endpoint's
  // Called once the status and headers are known, before any body byte of a 2xx answer;
  // return false to abort. Body bytes of a 2xx answer go to `sink` when set (return false to
  // abort), else to HttpResponse::body. Non-2xx bodies always go to HttpResponse::body.
  std::function<bool(const HttpResponse&)> on_headers;
  std::function<bool(const char*, size_t)> sink;
  std::function<bool()> keep_going;             // polled about every second; false aborts
};

HttpResponse http_perform(const HubSettings& settings, const HttpRequest& request);

// Origins compared as scheme://host:port (default ports filled in).
bool same_origin(const std::string& a, const std::string& b);
// Resolves a Location header (absolute or relative) against the URL that returned it.
std::string resolve_location(const std::string& base_url, const std::string& location);

}  // namespace hlwq::hub

namespace hlwq::hub {

// 429, 5xx and transport failures (refused, reset, timeout) are worth another try.
bool is_retryable(const HttpResponse& response);
// Retry-After (seconds) when the server sent one, else base * 2^attempt; capped by max_retry_delay.
std::chrono::milliseconds retry_delay(const HubSettings& settings, const HttpResponse& response, int attempt);
// Turns a failed answer into HubError: X-Error-Code first (GatedRepo, RepoNotFound, ...),
// then the status. `what` names the request ("file config.json of org/name").
[[noreturn]] void throw_http_error(const HubSettings& settings, const HttpResponse& response, const std::string& url,
                                   const std::string& repo, const std::string& what);

}  // namespace hlwq::hub
