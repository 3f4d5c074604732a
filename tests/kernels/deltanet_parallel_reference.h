#pragma once
// The recurrence of deltanet_reference.h (qwen35.md section 4 as plain loops in double) over a
// whole chunk with the value heads spread over threads: the same RefLayer::conv and
// RefLayer::head token by token, fast enough to check 27B-layout chunks of 1000 tokens.
#include <algorithm>
#include <thread>

#include "deltanet_reference.h"

namespace hlwq::cuda::test::deltanet_ref {

// Advances `ref` (conv history, state) over T tokens of in_proj rows `proj` (row stride
// `stride`); ys gets the conv + SiLU outputs [T][C], outs the outputs [T][hv * 128].
inline void run_chunk(RefLayer& ref, const float* proj, int stride, int T, std::vector<double>& ys,
                      std::vector<double>& outs) {
  const int C = ref.C, hv = ref.hv;
  ys.assign(size_t(T) * C, 0.0);
  outs.assign(size_t(T) * hv * D, 0.0);
  for (int t = 0; t < T; ++t) ref.conv(proj + size_t(t) * stride, &ys[size_t(t) * C]);
  if (T > 0) ref.y.assign(ys.end() - C, ys.end());
  auto heads = [&](int h0, int h1) {
    for (int h = h0; h < h1; ++h)
      for (int t = 0; t < T; ++t)
        ref.head(h, &ys[size_t(t) * C], proj + size_t(t) * stride, &outs[size_t(t) * hv * D + size_t(h) * D]);
  };
  const int n = std::max(1, std::min<int>(hv, int(std::thread::hardware_concurrency())));
  std::vector<std::thread> pool;
  for (int w = 0; w < n; ++w) pool.emplace_back(heads, hv * w / n, hv * (w + 1) / n);
  for (auto& th : pool) th.join();
}

}  // namespace hlwq::cuda::test::deltanet_ref
