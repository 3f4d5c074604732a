#pragma once
// Streaming SHA-256 (OpenSSL EVP) so LFS files are verified while they download.
#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>

namespace hlwq::hub {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t size);
  std::string hex();  // finishes; the object must be reset() before reuse
  void reset();

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

// Feeds the first `bytes` of `file` into `hash` (used when resuming a partial blob).
void hash_file_prefix(Sha256& hash, const std::filesystem::path& file, uint64_t bytes);

}  // namespace hlwq::hub
