#include <string>

#include "core/error.h"
#include "cuda_check.h"
#include "deltanet_prefill.h"

namespace hlwq::cuda {
namespace {

constexpr int kDim = 128;   // dk = dv = 128 for every Qwen3.5 size
constexpr int kCols = 16;   // state columns per warp; two lanes share a column, 64 rows each
constexpr int kRows = kDim / 2;

// Block per token: a warp per q/k head (the same arithmetic as deltanet_step), then the gates.
__global__ void __launch_bounds__(256) prep_kernel(DeltaNetPrefillArgs a) {
  const size_t t = blockIdx.x;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  float* row = a.qkv + t * a.conv_channels();
  for (int head = warp; head < 2 * a.hk; head += 8) {
    float4* p = reinterpret_cast<float4*>(row + head * kDim) + lane;
    float4 v = *p;
    float ss = v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
    for (int m = 16; m; m >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, m);
    float r = rsqrtf(ss + 1e-6f);
    if (head < a.hk) r *= rsqrtf(float(kDim));  // q carries the 1/sqrt(dk) scale
    *p = make_float4(v.x * r, v.y * r, v.z * r, v.w * r);
  }
  const float* pr = a.proj + t * a.proj_stride;
  for (int h = threadIdx.x; h < a.hv; h += blockDim.x) {
    const float beta = 1.0f / (1.0f + expf(-pr[a.b_offset() + h]));
    const float x = pr[a.a_offset() + h] + a.dt_bias[h];
    const float softplus = x > 20.0f ? x : log1pf(expf(x));
    a.gates[(t * a.hv + h) * 2] = beta;
    a.gates[(t * a.hv + h) * 2 + 1] = expf(-expf(a.a_log[h]) * softplus);
  }
}

// Warp per (value head, 16 state columns); lane = column (lane & 15) x row half (lane >> 4),
// 64 state values in registers, so the per-token reductions are one shuffle and the loop
// needs no block barrier. The next token's q/k/v/gates are fetched while this one computes.
__global__ void __launch_bounds__(32) recurrence_kernel(DeltaNetPrefillArgs a) {
  __shared__ __align__(16) float ks[2][kDim], qs[2][kDim];
  const int h = blockIdx.x, lane = threadIdx.x;
  const int col = blockIdx.y * kCols + (lane & 15), half = lane >> 4;
  const int kh = h / (a.hv / a.hk);
  const int C = a.conv_channels();
  float* S = a.state + size_t(h) * kDim * kDim + size_t(half) * kRows * kDim + col;
  float s[kRows];
#pragma unroll
  for (int i = 0; i < kRows; ++i) s[i] = S[i * kDim];

  auto fetch = [&](int t, float4& k4, float4& q4, float& v, float& beta, float& decay) {
    const float* row = a.qkv + size_t(t) * C;
    q4 = reinterpret_cast<const float4*>(row + kh * kDim)[lane];
    k4 = reinterpret_cast<const float4*>(row + a.hk * kDim + kh * kDim)[lane];
    v = row[2 * a.hk * kDim + h * kDim + col];
    beta = a.gates[(size_t(t) * a.hv + h) * 2];
    decay = a.gates[(size_t(t) * a.hv + h) * 2 + 1];
  };
  float4 k4, q4;
  float v, beta, decay;
  fetch(0, k4, q4, v, beta, decay);
  for (int t = 0; t < a.T; ++t) {
    const int b = t & 1;
    reinterpret_cast<float4*>(ks[b])[lane] = k4;
    reinterpret_cast<float4*>(qs[b])[lane] = q4;
    __syncwarp();
    const float vt = v, bt = beta, dt = decay;
    if (t + 1 < a.T) fetch(t + 1, k4, q4, v, beta, decay);
    const float4* k = reinterpret_cast<const float4*>(ks[b] + half * kRows);
    const float4* q = reinterpret_cast<const float4*>(qs[b] + half * kRows);
    float kv0 = 0, kv1 = 0;
#pragma unroll
    for (int i = 0; i < kRows / 4; ++i) {
      const float4 kk = k[i];
      kv0 = fmaf(s[4 * i], kk.x, kv0);
      kv1 = fmaf(s[4 * i + 1], kk.y, kv1);
      kv0 = fmaf(s[4 * i + 2], kk.z, kv0);
      kv1 = fmaf(s[4 * i + 3], kk.w, kv1);
    }
    float kv = kv0 + kv1;
    kv += __shfl_xor_sync(0xffffffffu, kv, 16);
    const float delta = bt * (vt - kv * dt);  // S is decayed before it is read (as in the spec)
    float o0 = 0, o1 = 0;
#pragma unroll
    for (int i = 0; i < kRows / 4; ++i) {
      const float4 kk = k[i], qq = q[i];
      s[4 * i] = fmaf(s[4 * i], dt, kk.x * delta);
      s[4 * i + 1] = fmaf(s[4 * i + 1], dt, kk.y * delta);
      s[4 * i + 2] = fmaf(s[4 * i + 2], dt, kk.z * delta);
      s[4 * i + 3] = fmaf(s[4 * i + 3], dt, kk.w * delta);
      o0 = fmaf(s[4 * i], qq.x, o0);
      o1 = fmaf(s[4 * i + 1], qq.y, o1);
      o0 = fmaf(s[4 * i + 2], qq.z, o0);
      o1 = fmaf(s[4 * i + 3], qq.w, o1);
    }
    float o = o0 + o1;
    o += __shfl_xor_sync(0xffffffffu, o, 16);
    if (half == 0) a.out[size_t(t) * a.hv * kDim + h * kDim + col] = o;
  }
#pragma unroll
  for (int i = 0; i < kRows; ++i) S[i * kDim] = s[i];
}

}  // namespace

void deltanet_prefill(const DeltaNetPrefillArgs& a, cudaStream_t stream) {
  if (a.hk <= 0 || a.hv <= 0 || a.hv % a.hk != 0 || a.T <= 0 || a.proj_stride < a.a_offset() + a.hv)
    throw_error(ErrorKind::InvalidArgument, "deltanet_prefill: key heads ", std::to_string(a.hk), ", value heads ",
                std::to_string(a.hv), " (a positive multiple), T ", std::to_string(a.T), ", proj stride ",
                std::to_string(a.proj_stride));
  prep_kernel<<<a.T, 256, 0, stream>>>(a);
  check_launch("deltanet_prefill prep");
  recurrence_kernel<<<dim3(a.hv, kDim / kCols), 32, 0, stream>>>(a);
  check_launch("deltanet_prefill recurrence");
}

}  // namespace hlwq::cuda
