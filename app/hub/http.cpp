#include "hub/http.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <mutex>

#include "core/error.h"

namespace hlwq::hub {

namespace {

void global_init_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  size_t e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

struct Exchange {
  const HttpRequest* request;
  HttpResponse response;
  bool headers_done = false;
  bool to_sink = false;
};

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* x = static_cast<Exchange*>(user);
  std::string line(data, size * count);
  if (line.rfind("HTTP/", 0) == 0) {  // a new response (e.g. after 100 Continue)
    x->response.headers.clear();
    size_t sp = line.find(' ');
    x->response.status = sp == std::string::npos ? 0 : std::strtol(line.c_str() + sp + 1, nullptr, 10);
    return size * count;
  }
  size_t colon = line.find(':');
  if (colon != std::string::npos) x->response.headers[lower(trim(line.substr(0, colon)))] = trim(line.substr(colon + 1));
  return size * count;
}

// Decides once, at the first body byte, where the body goes.
bool start_body(Exchange* x) {
  if (x->headers_done) return true;
  x->headers_done = true;
  bool success = x->response.status >= 200 && x->response.status < 300;
  if (success && x->request->on_headers && !x->request->on_headers(x->response)) return false;
  x->to_sink = success && bool(x->request->sink);
  return true;
}

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto* x = static_cast<Exchange*>(user);
  size_t n = size * count;
  if (!start_body(x)) {
    x->response.aborted = true;
    return CURL_WRITEFUNC_ERROR;
  }
  if (x->to_sink) {
    if (!x->request->sink(data, n)) {
      x->response.aborted = true;
      return CURL_WRITEFUNC_ERROR;
    }
  } else if (x->response.body.size() < (16u << 20)) {
    x->response.body.append(data, n);
  }
  return n;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* x = static_cast<Exchange*>(user);
  if (x->request->keep_going && !x->request->keep_going()) {
    x->response.aborted = true;
    return 1;
  }
  return 0;
}

struct CurlUrl {
  CURLU* h = curl_url();
  ~CurlUrl() { curl_url_cleanup(h); }
  std::string get(CURLUPart part, unsigned flags = 0) const {
    char* out = nullptr;
    if (curl_url_get(h, part, &out, flags) != CURLUE_OK) return {};
    std::string s(out);
    curl_free(out);
    return s;
  }
};

std::string origin(const std::string& url) {
  CurlUrl u;
  if (curl_url_set(u.h, CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) return {};
  return lower(u.get(CURLUPART_SCHEME)) + "://" + lower(u.get(CURLUPART_HOST)) + ":" +
         u.get(CURLUPART_PORT, CURLU_DEFAULT_PORT);
}

}  // namespace

std::string HttpResponse::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

bool same_origin(const std::string& a, const std::string& b) {
  std::string oa = origin(a);
  return !oa.empty() && oa == origin(b);
}

std::string resolve_location(const std::string& base_url, const std::string& location) {
  CurlUrl u;
  if (curl_url_set(u.h, CURLUPART_URL, base_url.c_str(), 0) != CURLUE_OK ||
      curl_url_set(u.h, CURLUPART_URL, location.c_str(), 0) != CURLUE_OK)
    throw_error(ErrorKind::Network, "bad redirect Location '", location, "' from ", base_url);
  return u.get(CURLUPART_URL);
}

HttpResponse http_perform(const HubSettings& settings, const HttpRequest& request) {
  global_init_once();
  CURL* curl = curl_easy_init();
  if (!curl) throw_error(ErrorKind::Internal, "curl_easy_init failed");
  Exchange x{&request, {}, false, false};
  curl_slist* headers = nullptr;
  for (const auto& h : request.headers) headers = curl_slist_append(headers, h.c_str());
  // The token goes only to the endpoint's own origin: never to a CDN or any other host.
  std::string auth;
  if (request.with_token && settings.token && !settings.token->empty() && same_origin(request.url, settings.endpoint)) {
    auth = "Authorization: Bearer " + *settings.token;
    headers = curl_slist_append(headers, auth.c_str());
  }
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, settings.user_agent.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, long(settings.connect_timeout.count()));
  // A connection that delivers nothing for stall_timeout counts as dropped.
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, long(std::max<int64_t>(1, settings.stall_timeout.count())));
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &x);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &x);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &x);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  if (request.method == "HEAD") curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  CURLcode rc = curl_easy_perform(curl);
  if (rc == CURLE_OK && !x.headers_done && x.response.status >= 200 && x.response.status < 300 && request.method != "HEAD") {
    // Empty body: still tell the caller the headers (e.g. a zero-byte file).
    if (!start_body(&x)) x.response.aborted = true;
  }
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  if (status) x.response.status = status;
  x.response.curl_code = int(rc);
  if (rc != CURLE_OK) x.response.curl_error = errbuf[0] ? errbuf : curl_easy_strerror(rc);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return std::move(x.response);
}

}  // namespace hlwq::hub
