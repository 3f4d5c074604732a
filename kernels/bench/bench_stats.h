#pragma once
// The one median the GPU-machine tools report (every "median of N runs" in docs/PERFORMANCE.md):
// the middle value, the mean of the two middle ones for an even count, 0 for no values.
#include <algorithm>
#include <vector>

namespace hlwq::cuda::bench_stats {

inline double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace hlwq::cuda::bench_stats
