#pragma once
// Inputs of the GPU-machine tools' timings: values do not change a kernel's time, but the same
// ones every run keep the tools' correctness checks comparable between runs.
#include <cuda_bf16.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace hlwq::cuda::bench_inputs {

// n bf16 bit patterns uniform in [-1, 1), from a 64-bit LCG started at `seed`.
inline std::vector<uint16_t> random_bf16(std::size_t n, uint64_t seed) {
  std::vector<uint16_t> h(n);
  uint64_t st = seed;
  for (auto& v : h) {
    st = st * 6364136223846793005ull + 1442695040888963407ull;
    v = __bfloat16_as_ushort(__float2bfloat16(float((st >> 40) & 0xffff) / 32768.0f - 1.0f));
  }
  return h;
}

}  // namespace hlwq::cuda::bench_inputs
