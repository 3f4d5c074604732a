#include "core/error.h"
#include "cuda_check.h"
#include "deltanet_step.h"
#include "pdl.cuh"

namespace hlwq::cuda {
namespace {

constexpr int kDim = 128;  // dk = dv = 128 for every Qwen3.5 size
constexpr int kColsPerBlock = 32;

__device__ __forceinline__ float silu(float v) { return v / (1.0f + __expf(-v)); }

// Sums of (a, b) over the block's 128 threads, both in one pass.
__device__ float2 block_sum128x2(float a, float b, float2* scratch) {
  for (int m = 16; m; m >>= 1) {
    a += __shfl_xor_sync(0xffffffffu, a, m);
    b += __shfl_xor_sync(0xffffffffu, b, m);
  }
  if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = make_float2(a, b);
  __syncthreads();
  return make_float2(scratch[0].x + scratch[1].x + scratch[2].x + scratch[3].x,
                     scratch[0].y + scratch[1].y + scratch[2].y + scratch[3].y);
}

// Pre-conv inputs of channel c in the 4 ring slots.
struct Ring4 {
  float r[4];
};
__device__ __forceinline__ Ring4 load_ring(const float* ring, int C, int c) {
  return Ring4{{ring[c], ring[C + c], ring[2 * C + c], ring[3 * C + c]}};
}
__device__ __forceinline__ float slot(const Ring4& g, int i) {  // i in 0..3, without local memory
  return i == 0 ? g.r[0] : i == 1 ? g.r[1] : i == 2 ? g.r[2] : g.r[3];
}
__device__ __forceinline__ float conv_silu(const float4 w, const Ring4& g, int pos, float now) {
  return silu(w.x * slot(g, (pos - 3) & 3) + w.y * slot(g, (pos - 2) & 3) + w.z * slot(g, (pos - 1) & 3) + w.w * now);
}

// Block (value head h, column quarter) of 128 threads: thread t computes conv output t of the
// head's q, k and v; then warp p owns state rows 32p..32p+31 of columns quarter*32 + lane.
// Launched as a programmatic dependent of the in_proj GEMV. Everything that only this layer's
// step writes (its state slice, the bulk of the kernel's bytes, and the conv ring) and the
// weights are loaded before the wait, so their latency overlaps the GEMV's tail; after it one
// round of loads (position, in_proj outputs) and the arithmetic remain.
__global__ void __launch_bounds__(128) deltanet_step_kernel(DeltaNetStepArgs a) {
  __shared__ float qs[kDim], ks[kDim], vs[kDim];
  __shared__ float2 scratch[4];
  __shared__ float part[4][kColsPerBlock];
  const int h = blockIdx.x, quarter = blockIdx.y, t = threadIdx.x;
  const int kh = h / (a.hv / a.hk);
  const int C = a.conv_channels();
  const int qc = kh * kDim + t, kc = a.hk * kDim + kh * kDim + t, vc = 2 * a.hk * kDim + h * kDim + t;
  const int warp = t >> 5, lane = t & 31;
  const int j = quarter * kColsPerBlock + lane;
  float* S = a.state + size_t(h) * kDim * kDim;
  float s[32];
#pragma unroll
  for (int i = 0; i < 32; ++i) s[i] = S[(warp * 32 + i) * kDim + j];
  const float4 wq = *reinterpret_cast<const float4*>(a.conv_w + size_t(qc) * 4);
  const float4 wk = *reinterpret_cast<const float4*>(a.conv_w + size_t(kc) * 4);
  const float4 wv = *reinterpret_cast<const float4*>(a.conv_w + size_t(vc) * 4);
  const Ring4 gq = load_ring(a.conv_ring, C, qc), gk = load_ring(a.conv_ring, C, kc), gv = load_ring(a.conv_ring, C, vc);
  const float a_log = a.a_log[h], dt_bias = a.dt_bias[h];
  pdl_launch_dependents();  // the out_proj GEMV may be scheduled as SMs free up
  pdl_wait();               // the in_proj GEMV's output (and everything before it) is ready

  const int pos = *a.pos;
  const float pq = a.proj[qc], pk = a.proj[kc], pv = a.proj[vc];
  const float b_in = a.proj[a.b_offset() + h], a_in = a.proj[a.a_offset() + h];
  const float q = conv_silu(wq, gq, pos, pq), k = conv_silu(wk, gk, pos, pk), v = conv_silu(wv, gv, pos, pv);
  const float2 norms = block_sum128x2(q * q, k * k, scratch);
  const float qn = rsqrtf(norms.x + 1e-6f), kn = rsqrtf(norms.y + 1e-6f);
  qs[t] = q * qn * rsqrtf(float(kDim));
  ks[t] = k * kn;
  vs[t] = v;
  // The other blocks read slots pos-1..pos-3 only (already loaded), so writing slot pos is race-free.
  if (quarter == 0) {
    if (h % (a.hv / a.hk) == 0) {
      a.conv_ring[(pos & 3) * C + qc] = pq;
      a.conv_ring[(pos & 3) * C + kc] = pk;
    }
    a.conv_ring[(pos & 3) * C + vc] = pv;
  }

  const float beta = 1.0f / (1.0f + expf(-b_in));
  const float x = a_in + dt_bias;
  const float softplus = x > 20.0f ? x : log1pf(expf(x));
  const float decay = expf(-expf(a_log) * softplus);
  __syncthreads();

  float kv = 0;
#pragma unroll
  for (int i = 0; i < 32; ++i) {
    s[i] *= decay;
    kv = fmaf(s[i], ks[warp * 32 + i], kv);
  }
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
  launch_pdl("deltanet_step", deltanet_step_kernel, dim3(a.hv, kDim / kColsPerBlock), dim3(128), 0, stream, a);
}

}  // namespace hlwq::cuda
