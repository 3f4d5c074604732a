#include "models/backend_types.h"

#include <charconv>

namespace hlwq {

bool kv_bits_supported(int bits) { return bits == 32 || bits == 16 || (bits >= 2 && bits <= 5); }

std::string kv_name(const KvConfig& kv) {
  if (kv.k_bits == kv.v_bits) {
    if (kv.k_bits == 32) return "fp32";
    return kv.k_bits == 16 ? "fp16" : "q" + std::to_string(kv.k_bits);
  }
  return "k" + std::to_string(kv.k_bits) + "v" + std::to_string(kv.v_bits);
}

std::optional<KvConfig> parse_kv_name(const std::string& name) {
  const auto number = [](std::string_view s) -> std::optional<int> {
    int v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size() || !kv_bits_supported(v)) return std::nullopt;
    return v;
  };
  if (name == "fp16" || name == "f16" || name == "q16") return KvConfig::uniform(16);
  if (name == "fp32" || name == "f32") return KvConfig::uniform(32);
  if (name.size() >= 2 && (name[0] == 'q' || name[0] == 'Q')) {
    if (auto b = number(std::string_view(name).substr(1))) return KvConfig::uniform(*b);
    return std::nullopt;
  }
  if (name.size() >= 4 && name[0] == 'k') {
    const auto v = name.find('v');
    if (v == std::string::npos) return std::nullopt;
    auto k = number(std::string_view(name).substr(1, v - 1));
    auto vb = number(std::string_view(name).substr(v + 1));
    if (k && vb) return KvConfig{*k, *vb};
  }
  return std::nullopt;
}

}  // namespace hlwq

#include "core/error.h"

namespace hlwq {

BackendKind parse_backend_kind(const std::string& name) {
  if (name == "auto") return BackendKind::Auto;
  if (name == "cpu") return BackendKind::Cpu;
  if (name == "cuda" || name == "gpu") return BackendKind::Cuda;
  throw_error(ErrorKind::InvalidArgument, "backend '", name, "': expected auto, cpu or cuda");
}

}  // namespace hlwq
