#pragma once
// Where the Hub is, who we are, and where files land: one struct resolved once from the
// environment (huggingface_hub's variables), so the CLI, the app and the tests agree.
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

namespace hlwq::hub {

struct HubSettings {
  std::string endpoint = "https://huggingface.co";  // HF_ENDPOINT, no trailing slash
  std::optional<std::string> token;                 // explicit > HF_TOKEN > $HF_HOME/token
  bool offline = false;                             // HF_HUB_OFFLINE=1: never touch the network
  std::filesystem::path cache_dir;                  // HF_HUB_CACHE, default $HF_HOME/hub
  std::filesystem::path hf_home;                    // HF_HOME, default ~/.cache/huggingface

  // Transfer tuning. Defaults suit home connections; tests shrink them.
  int parallel_files = 4;
  int max_retries = 6;                                       // per file, for 429/5xx/dropped connections
  std::chrono::milliseconds retry_base_delay{1000};          // doubles each attempt
  std::chrono::milliseconds max_retry_delay{60000};          // caps backoff and Retry-After
  std::chrono::seconds connect_timeout{20};
  std::chrono::seconds stall_timeout{60};                    // no byte for this long = dropped
  std::string user_agent = "hlwq-chat";

  // Reads HF_ENDPOINT, HF_TOKEN, HF_HOME, HF_HUB_CACHE, HF_HUB_OFFLINE. An explicit token
  // (typed in the app's settings) wins over the environment and the token file.
  static HubSettings from_environment(std::optional<std::string> explicit_token = std::nullopt);
};

// Saves a token where huggingface_hub looks for it ($HF_HOME/token), mode 0600, via temp file
// + rename. For the app's settings when no desktop secret store is available. Throws Error{Io}.
void store_token_file(const std::filesystem::path& hf_home, const std::string& token);

}  // namespace hlwq::hub
