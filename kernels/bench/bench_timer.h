#pragma once
// The GPU-machine tools' stopwatch: two CUDA events around work queued on one stream, read
// after the second has completed, so the time is the device's (queue gaps included), not the
// host's launch rate.
#include <cuda_runtime.h>

#include "cuda_check.h"

namespace hlwq::cuda::bench_timer {

class Timer {
 public:
  Timer() {
    check(cudaEventCreate(&a_), "cudaEventCreate");
    check(cudaEventCreate(&b_), "cudaEventCreate");
  }
  ~Timer() {
    cudaEventDestroy(a_);
    cudaEventDestroy(b_);
  }
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  void start(cudaStream_t s) { check(cudaEventRecord(a_, s), "cudaEventRecord"); }
  // Milliseconds since start(), waiting for the stream to get there.
  double stop_ms(cudaStream_t s) {
    check(cudaEventRecord(b_, s), "cudaEventRecord");
    check(cudaEventSynchronize(b_), "cudaEventSynchronize");
    float ms = 0;
    check(cudaEventElapsedTime(&ms, a_, b_), "cudaEventElapsedTime");
    return ms;
  }
  // Mean milliseconds of f(0) .. f(iters - 1), queued back to back on `s`.
  template <typename F>
  double ms(cudaStream_t s, int iters, F&& f) {
    start(s);
    for (int i = 0; i < iters; ++i) f(i);
    return stop_ms(s) / iters;
  }

 private:
  cudaEvent_t a_ = nullptr, b_ = nullptr;
};

}  // namespace hlwq::cuda::bench_timer
