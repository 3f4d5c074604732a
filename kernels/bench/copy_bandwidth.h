#pragma once
// The reference every "% of copy" is taken against: a device-to-device copy of 2 GiB,
// counting bytes read plus bytes written, median of `repeats` copies after 3 warm-up ones.
#include <cuda_runtime.h>

#include <cstddef>
#include <vector>

#include "bench/bench_stats.h"
#include "bench/bench_timer.h"
#include "cuda_check.h"
#include "device_buffer.h"

namespace hlwq::cuda::bench_copy {

inline double copy_bandwidth(cudaStream_t s, int repeats) {
  const std::size_t bytes = std::size_t(2) << 30;
  DeviceBuffer a(bytes, "copy-bandwidth source"), b(bytes, "copy-bandwidth destination");
  check(cudaMemsetAsync(a.get(), 1, bytes, s), "cudaMemsetAsync");
  bench_timer::Timer t;
  std::vector<double> ms;
  for (int i = 0; i < repeats + 3; ++i) {
    t.start(s);
    check(cudaMemcpyAsync(b.get(), a.get(), bytes, cudaMemcpyDeviceToDevice, s), "cudaMemcpyAsync(D2D)");
    const double m = t.stop_ms(s);
    if (i >= 3) ms.push_back(m);
  }
  return 2.0 * bytes / (bench_stats::median(ms) * 1e-3);
}

}  // namespace hlwq::cuda::bench_copy
