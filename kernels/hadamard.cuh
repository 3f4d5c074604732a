#pragma once
// The normalised 128-point Walsh-Hadamard transform (hlwq-format.md section 1) done by one
// warp: lane l holds elements 4l..4l+3, so strides 1 and 2 stay in registers and strides
// 4..64 are lane exchanges. Device-only helper shared by the GEMV prologues and prefill.
#include <cuda_runtime.h>

namespace hlwq::cuda {

__device__ __forceinline__ void wht128_warp(float (&v)[4]) {
  const int lane = threadIdx.x & 31;
  // strides 1 and 2 inside the lane
  float a0 = v[0] + v[1], a1 = v[0] - v[1], a2 = v[2] + v[3], a3 = v[2] - v[3];
  v[0] = a0 + a2; v[1] = a1 + a3; v[2] = a0 - a2; v[3] = a1 - a3;
#pragma unroll
  for (int m = 1; m < 32; m <<= 1) {  // element stride 4m
    const bool upper = lane & m;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const float o = __shfl_xor_sync(0xffffffffu, v[i], m);
      v[i] = upper ? (o - v[i]) : (v[i] + o);
    }
  }
  const float s = 0.08838834764831845f;  // 1/sqrt(128)
#pragma unroll
  for (int i = 0; i < 4; ++i) v[i] *= s;
}

}  // namespace hlwq::cuda
