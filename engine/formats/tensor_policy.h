#pragma once
// Which tensors of a checkpoint become HLWQ Linears and which are dropped. Data, not code:
// a model family may supply its own; the default is spec 4.4's rule stated generically.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace hlwq {

struct TensorPolicy {
  // True for a Linear weight to quantize. Default: a 2-D "*.weight" tensor whose name
  // contains none of keep_dense.
  std::function<bool(std::string_view name, const std::vector<int64_t>& shape)> is_linear;
  // True for a tensor not to load or write at all (e.g. a vision tower for text chat).
  std::function<bool(std::string_view name)> drop;
};

// Substrings of tensors that stay dense (embeddings, norms, conv1d, A_log, dt_bias, ...).
const std::vector<std::string>& default_keep_dense_patterns();
bool default_is_linear(std::string_view name, const std::vector<int64_t>& shape);
// is_linear = default_is_linear, drop = prefixes (empty: keep everything).
TensorPolicy make_tensor_policy(std::vector<std::string> drop_prefixes = {});

}  // namespace hlwq
