#include "hub/sha256.h"

#include <openssl/evp.h>

#include <cstdio>
#include <fstream>
#include <vector>

#include "core/error.h"

namespace hlwq::hub {

struct Sha256::Ctx {
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  ~Ctx() { EVP_MD_CTX_free(md); }
};

Sha256::Sha256() : ctx_(std::make_unique<Ctx>()) { reset(); }
Sha256::~Sha256() = default;

void Sha256::reset() {
  if (!ctx_->md || EVP_DigestInit_ex(ctx_->md, EVP_sha256(), nullptr) != 1)
    throw_error(ErrorKind::Internal, "OpenSSL SHA-256 init failed");
}

void Sha256::update(const void* data, size_t size) { EVP_DigestUpdate(ctx_->md, data, size); }

std::string Sha256::hex() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_->md, digest, &len);
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += digits[digest[i] >> 4];
    out += digits[digest[i] & 15];
  }
  return out;
}

void hash_file_prefix(Sha256& hash, const std::filesystem::path& file, uint64_t bytes) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw_error(ErrorKind::Io, "cannot read partial download ", file.string());
  std::vector<char> buffer(1 << 20);
  while (bytes > 0) {
    size_t want = size_t(std::min<uint64_t>(bytes, buffer.size()));
    in.read(buffer.data(), std::streamsize(want));
    if (size_t(in.gcount()) != want) throw_error(ErrorKind::Io, "partial download ", file.string(), " is shorter than recorded");
    hash.update(buffer.data(), want);
    bytes -= want;
  }
}

}  // namespace hlwq::hub
