#include "models/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "core/error.h"
#include "models/sampling_params_check.h"

namespace hlwq {

void apply_penalties(std::span<float> logits, std::span<const int32_t> history, float repetition_penalty,
                     float presence_penalty) {
  if (repetition_penalty == 1.0f && presence_penalty == 0.0f) return;
  std::vector<bool> seen(logits.size(), false);
  for (const int32_t id : history) {
    if (id < 0 || size_t(id) >= logits.size() || seen[size_t(id)]) continue;
    seen[size_t(id)] = true;
    float& l = logits[size_t(id)];
    if (repetition_penalty != 1.0f) l = l > 0 ? l / repetition_penalty : l * repetition_penalty;
    l -= presence_penalty;
  }
}

int32_t argmax(std::span<const float> logits) {
  int32_t best = 0;
  for (size_t i = 1; i < logits.size(); ++i)
    if (logits[i] > logits[size_t(best)]) best = int32_t(i);
  return best;
}

int32_t sample_token(std::span<float> logits, const SamplingParams& p, std::span<const int32_t> history,
                     float uniform) {
  check_sampling_params(p, int64_t(logits.size()));
  if (p.vocab_limit > 0 && size_t(p.vocab_limit) < logits.size()) logits = logits.first(size_t(p.vocab_limit));
  apply_penalties(logits, history, p.repetition_penalty, p.presence_penalty);
  if (p.temperature == 0.0f) return argmax(logits);

  // Candidates sorted by logit, descending; ties by id. Top-k limits the sort to k.
  const size_t n = logits.size();
  const size_t k = (p.top_k > 0 && size_t(p.top_k) < n) ? size_t(p.top_k) : n;
  std::vector<int32_t> ids(n);
  std::iota(ids.begin(), ids.end(), 0);
  const auto better = [&](int32_t a, int32_t b) {
    const float la = logits[size_t(a)], lb = logits[size_t(b)];
    return la > lb || (la == lb && a < b);
  };
  std::partial_sort(ids.begin(), ids.begin() + std::ptrdiff_t(k), ids.end(), better);
  ids.resize(k);

  // Softmax at temperature, in double so the result does not depend on summation order much.
  const double inv_t = 1.0 / double(p.temperature);
  const double top = double(logits[size_t(ids[0])]);
  std::vector<double> prob(k);
  double sum = 0;
  for (size_t i = 0; i < k; ++i) {
    const double l = double(logits[size_t(ids[i])]);
    prob[i] = std::isfinite(l) ? std::exp((l - top) * inv_t) : 0.0;
    sum += prob[i];
  }
  if (!(sum > 0)) return ids[0];
  for (auto& x : prob) x /= sum;

  size_t keep = k;
  if (p.top_p < 1.0f) {
    double cum = 0;
    for (size_t i = 0; i < k; ++i) {
      cum += prob[i];
      if (cum >= double(p.top_p)) {
        keep = i + 1;
        break;
      }
    }
  }
  if (p.min_p > 0.0f) {
    const double floor = double(p.min_p) * prob[0];
    size_t m = 1;
    while (m < keep && prob[m] >= floor) ++m;
    keep = m;
  }
  double total = 0;
  for (size_t i = 0; i < keep; ++i) total += prob[i];
  const double target = double(std::clamp(uniform, 0.0f, 1.0f)) * total;
  double cum = 0;
  for (size_t i = 0; i < keep; ++i) {
    cum += prob[i];
    if (target < cum) return ids[i];
  }
  return ids[keep - 1];
}

float sampling_uniform(uint64_t seed, uint64_t step) {
  uint64_t z = seed + step * 0x9e3779b97f4a7c15ull + 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return float(z >> 40) * (1.0f / 16777216.0f);
}

}  // namespace hlwq
