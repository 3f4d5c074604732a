#pragma once
// Hub failures the caller can react to (ask for a token, open the licence page, fix a typo)
// carry a typed code on top of hlwq::Error{Network}.
#include <string>

#include "core/error.h"

namespace hlwq::hub {

enum class HubErrorCode {
  Other,             // transport failure, 5xx after retries, unexpected status
  RepoNotFound,      // X-Error-Code: RepoNotFound (also private repos without a token)
  EntryNotFound,     // X-Error-Code: EntryNotFound (file absent at that revision)
  RevisionNotFound,  // X-Error-Code: RevisionNotFound
  GatedRepo,         // X-Error-Code: GatedRepo: the user must accept the licence on the Hub page
  Unauthorized,      // 401/403 without a code: bad or missing token
  Offline,           // HF_HUB_OFFLINE=1 and the answer is not in the cache
};

const char* to_string(HubErrorCode code);

class HubError : public hlwq::Error {
 public:
  HubError(HubErrorCode code, int http_status, std::string message)
      : hlwq::Error(ErrorKind::Network, std::move(message)), code_(code), http_status_(http_status) {}
  HubErrorCode code() const noexcept { return code_; }
  int http_status() const noexcept { return http_status_; }  // 0 when no HTTP answer

 private:
  HubErrorCode code_;
  int http_status_;
};

}  // namespace hlwq::hub
