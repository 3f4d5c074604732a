#include "formats/tensor_policy.h"

namespace hlwq {

const std::vector<std::string>& default_keep_dense_patterns() {
  // Spec 4.4: embeddings, every norm (incl. q_norm/k_norm), the short conv, A_log, dt_bias.
  static const std::vector<std::string> patterns = {"embed", "norm", "conv1d", "A_log", "dt_bias"};
  return patterns;
}

bool default_is_linear(std::string_view name, const std::vector<int64_t>& shape) {
  if (shape.size() != 2 || shape[0] <= 0 || shape[1] <= 0) return false;
  constexpr std::string_view suffix = ".weight";
  if (name.size() < suffix.size() || name.substr(name.size() - suffix.size()) != suffix) return false;
  for (const auto& p : default_keep_dense_patterns())
    if (name.find(p) != std::string_view::npos) return false;
  return true;
}

TensorPolicy make_tensor_policy(std::vector<std::string> drop_prefixes) {
  TensorPolicy p;
  p.is_linear = default_is_linear;
  if (!drop_prefixes.empty())
    p.drop = [prefixes = std::move(drop_prefixes)](std::string_view name) {
      for (const auto& pre : prefixes)
        if (name.substr(0, pre.size()) == pre) return true;
      return false;
    };
  return p;
}

}  // namespace hlwq
