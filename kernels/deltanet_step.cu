#include "core/error.h"
#include "cuda_check.h"
#include "deltanet_step.h"

namespace hlwq::cuda {
namespace {

constexpr int kDim = 128;  // dk = dv = 128 for every Qwen3.5 size
constexpr int kColsPerBlock = 32;

__device__ __forceinline__ float silu(float v) { return v / (1.0f + __expf(-v)); }

__device__ __forceinline__ float conv_silu(const DeltaNetStepArgs& a, int c, int pos) {
  const int C = a.conv_channels();
  const float4 w = *reinterpret_cast<const float4*>(a.conv_w + size_t(c) * 4);
  const float y = w.x * a.conv_ring[((pos - 3) & 3) * C + c] + w.y * a.conv_ring[((pos - 2) & 3) * C + c] +
                  w.z * a.conv_ring[((pos - 1) & 3) * C + c] + w.w * a.proj[c];
  return silu(y);
}

__device__ float block_sum128(float v, float* scratch) {
  for (int m = 16; m; m >>= 1) v += __shfl_xor_sync(0xffffffffu, v, m);
  __syncthreads();
  if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = v;
  __syncthreads();
  return scratch[0] + scratch[1] + scratch[2] + scratch[3];
}

// Block (value head h, column quarter) of 128 threads: thread t computes conv output t of the
// head's q, k and v; then warp p owns state rows 32p..32p+31 of columns quarter*32 + lane.
__global__ void __launch_bounds__(128) deltanet_step_kernel(DeltaNetStepArgs a) {
  __shared__ float qs[kDim], ks[kDim], vs[kDim];
  __shared__ float scratch[4];
  __shared__ float part[4][kColsPerBlock];
  const int h = blockIdx.x, quarter = blockIdx.y, t = threadIdx.x;
  const int kh = h / (a.hv / a.hk);
  const int pos = *a.pos;
  const int C = a.conv_channels();
  const int qc = kh * kDim + t, kc = a.hk * kDim + kh * kDim + t, vc = 2 * a.hk * kDim + h * kDim + t;

  float q = conv_silu(a, qc, pos), k = conv_silu(a, kc, pos), v = conv_silu(a, vc, pos);
  const float qn = rsqrtf(block_sum128(q * q, scratch) + 1e-6f);
  const float kn = rsqrtf(block_sum128(k * k, scratch) + 1e-6f);
  qs[t] = q * qn * rsqrtf(float(kDim));
  ks[t] = k * kn;
  vs[t] = v;
  __syncthreads();
  // The other blocks read slots pos-1..pos-3 only, so writing slot pos now is race-free.
  if (quarter == 0) {
    if (h % (a.hv / a.hk) == 0) {
      a.conv_ring[(pos & 3) * C + qc] = a.proj[qc];
      a.conv_ring[(pos & 3) * C + kc] = a.proj[kc];
    }
    a.conv_ring[(pos & 3) * C + vc] = a.proj[vc];
  }

  const float beta = 1.0f / (1.0f + expf(-a.proj[a.b_offset() + h]));
  const float x = a.proj[a.a_offset() + h] + a.dt_bias[h];
  const float softplus = x > 20.0f ? x : log1pf(expf(x));
  const float decay = expf(-expf(a.a_log[h]) * softplus);

  const int warp = t >> 5, lane = t & 31;
  const int j = quarter * kColsPerBlock + lane;
  float* S = a.state + size_t(h) * kDim * kDim;
  float s[32];
#pragma unroll
  for (int i = 0; i < 32; ++i) s[i] = S[(warp * 32 + i) * kDim + j] * decay;
  float kv = 0;
#pragma unroll
  for (int i = 0; i < 32; ++i) kv = fmaf(s[i], ks[warp * 32 + i], kv);
  part[warp][lane] = kv;
  __syncthreads();
  kv = part[0][lane] + part[1][lane] + part[2][lane] + part[3][lane];
  const float delta = beta * (vs[j] - kv);
  float o = 0;
#pragma unroll
  for (int i = 0; i < 32; ++i) {
    s[i] = fmaf(ks[warp * 32 + i], delta, s[i]);
    o = fmaf(s[i], qs[warp * 32 + i], o);
    S[(warp * 32 + i) * kDim + j] = s[i];
  }
  __syncthreads();
  part[warp][lane] = o;
  __syncthreads();
  if (warp == 0) a.out[h * kDim + j] = part[0][lane] + part[1][lane] + part[2][lane] + part[3][lane];
}

}  // namespace

void deltanet_step(const DeltaNetStepArgs& a, cudaStream_t stream) {
  if (a.hk <= 0 || a.hv <= 0 || a.hv % a.hk != 0)
    throw_error(ErrorKind::InvalidArgument, "deltanet_step: value heads (", std::to_string(a.hv),
                ") must be a positive multiple of key heads (", std::to_string(a.hk), ")");
  deltanet_step_kernel<<<dim3(a.hv, kDim / kColsPerBlock), 128, 0, stream>>>(a);
  check_launch("deltanet_step");
}

}  // namespace hlwq::cuda
