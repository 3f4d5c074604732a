#include <cstdint>
#include <cstdlib>
#include <cstring>
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
    a.gates[(t * a.hv + h) * 2 + 1] = -expf(a.a_log[h]) * softplus;  // log decay: the chunked form sums it
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
    decay = expf(a.gates[(size_t(t) * a.hv + h) * 2 + 1]);
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

// ---- Chunked (WY) form: flash-linear-attention's chunk_gated_delta_rule, C = 64 ----------
// Per chunk of L <= 64 tokens with gamma_i = g_1 + ... + g_i (log decays, cumulated):
//   A_ij = beta_i (k_i.k_j) exp(gamma_i - gamma_j), j < i
//   (I + A) U = beta V,  (I + A) W = diag(beta exp(gamma)) K          (wy_kernel, fp32)
//   V' = U - W S,  O = diag(exp(gamma)) Q S + P V'  with P_ij = (q_i.k_j) exp(gamma_i - gamma_j), j <= i
//   S <- exp(gamma_L) S + K^T diag(exp(gamma_L - gamma)) V'            (scan_kernel, tf32 mma)
// Every exponent is <= 0, so nothing overflows however strong the decay.

constexpr int kChunk = 64;       // tokens per chunk
constexpr int kTile = 32;        // state columns (value dims) per scan block: 48 heads x 4 = 192 blocks
constexpr int kSS = kTile + 8;   // row stride of the S / V' tiles: B fragments (row t, column g) hit 32 banks
constexpr int kPS = kChunk + 4;  // row stride of P: A fragments (row g, column t) hit 32 banks

// Block per (chunk, value head). A thread per column of [U | W] (128 + 128 = 256 columns)
// runs the forward substitution with its column in registers; A is read as broadcasts.
// U goes to `out` (the scan reads it back and overwrites it with the outputs), W over the v
// part of `qkv` (read here, used by nothing after), gamma over g in `gates`.
__global__ void __launch_bounds__(256) wy_kernel(DeltaNetPrefillArgs a) {
  // k (padded rows) until every thread has its right-hand side, then A in the same bytes.
  __shared__ __align__(16) float buf[kChunk * (kDim + 1)];
  __shared__ float gam[kChunk], bet[kChunk], beg[kChunk];
  auto ks = reinterpret_cast<float(*)[kDim + 1]>(buf);
  auto as = reinterpret_cast<float(*)[kChunk]>(buf);
  const int c0 = blockIdx.x * kChunk, h = blockIdx.y, tid = threadIdx.x;
  const int L = min(kChunk, a.T - c0), kh = h / (a.hv / a.hk), C = a.conv_channels();
  for (int e = tid; e < kChunk * kDim; e += blockDim.x) {
    const int i = e / kDim, c = e % kDim;
    ks[i][c] = i < L ? a.qkv[size_t(c0 + i) * C + (a.hk + kh) * kDim + c] : 0.f;
  }
  if (tid < 32) {  // gamma: a warp scan, two tokens a lane; padding tokens add nothing
    float g[2], b[2];
#pragma unroll
    for (int u = 0; u < 2; ++u) {
      const int i = 2 * tid + u;
      const float* gt = a.gates + (size_t(c0 + min(i, L - 1)) * a.hv + h) * 2;
      b[u] = i < L ? gt[0] : 0.f;
      g[u] = i < L ? gt[1] : 0.f;
    }
    float s = g[0] + g[1];
    for (int m = 1; m < 32; m <<= 1) {
      const float o = __shfl_up_sync(0xffffffffu, s, m);
      if (tid >= m) s += o;
    }
    gam[2 * tid] = s - g[1];
    gam[2 * tid + 1] = s;
#pragma unroll
    for (int u = 0; u < 2; ++u) {
      bet[2 * tid + u] = b[u];
      beg[2 * tid + u] = b[u] * expf(gam[2 * tid + u]);
    }
  }
  __syncthreads();
  if (tid < L) a.gates[(size_t(c0 + tid) * a.hv + h) * 2 + 1] = gam[tid];

  // A: a 4x4 register tile a thread, rows ti + 16r and columns tj + 16s.
  const int ti = tid >> 4, tj = tid & 15;
  float acc[4][4] = {};
  {
    for (int k = 0; k < kDim; ++k) {
      float x[4], y[4];
#pragma unroll
      for (int r = 0; r < 4; ++r) x[r] = ks[ti + 16 * r][k], y[r] = ks[tj + 16 * r][k];
#pragma unroll
      for (int r = 0; r < 4; ++r)
#pragma unroll
        for (int s = 0; s < 4; ++s) acc[r][s] = fmaf(x[r], y[s], acc[r][s]);
    }
  }
  const int col = tid;
  float* vcol = a.qkv + size_t(c0) * C + (2 * a.hk + h) * kDim + (col & (kDim - 1));
  float x[kChunk];
#pragma unroll
  for (int i = 0; i < kChunk; ++i)
    x[i] = col < kDim ? (i < L ? bet[i] * vcol[size_t(i) * C] : 0.f) : beg[i] * ks[i][col - kDim];
  __syncthreads();  // k is dead: A goes over it
#pragma unroll
  for (int r = 0; r < 4; ++r)
#pragma unroll
    for (int s = 0; s < 4; ++s) {
      const int i = ti + 16 * r, j = tj + 16 * s;
      as[i][j] = j < i ? bet[i] * acc[r][s] * expf(gam[i] - gam[j]) : 0.f;
    }
  __syncthreads();
  // x_i -= sum_{j<i} A_ij x_j; A_ij = 0 for j >= i, so whole float4 groups may run past i.
#pragma unroll
  for (int i = 1; i < kChunk; ++i) {
    const float4* ai = reinterpret_cast<const float4*>(as[i]);
    float s0 = x[i], s1 = 0.f;
#pragma unroll
    for (int j4 = 0; j4 < (i + 3) / 4; ++j4) {
      const float4 w = ai[j4];
      s0 = fmaf(-w.x, x[4 * j4], s0);
      s1 = fmaf(-w.y, x[4 * j4 + 1], s1);
      s0 = fmaf(-w.z, x[4 * j4 + 2], s0);
      s1 = fmaf(-w.w, x[4 * j4 + 3], s1);
    }
    x[i] = s0 + s1;
  }
  __syncthreads();  // every column of v is read before W overwrites it
  if (col < kDim) {
    float* u = a.out + size_t(c0) * a.hv * kDim + h * kDim + col;
#pragma unroll
    for (int i = 0; i < kChunk; ++i)
      if (i < L) u[size_t(i) * a.hv * kDim] = x[i];
  } else {
#pragma unroll
    for (int i = 0; i < kChunk; ++i)
      if (i < L) vcol[size_t(i) * C] = x[i];
  }
}

__device__ __forceinline__ uint32_t to_tf32(float x) {
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
  return r;
}

__device__ __forceinline__ void mma_tf32(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  asm("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

// d += a b for one m16n8k8 tile (fragments in the PTX layout: a[0..3] = A[g][t], A[g+8][t],
// A[g][t+4], A[g+8][t+4]; b[0..1] = B[t][g], B[t+4][g]; d = C[g][2t..2t+1], C[g+8][2t..2t+1],
// g = lane / 4, t = lane % 4). kSplit: hi + lo tf32 parts, the lo x lo product dropped.
template <bool kSplit>
__device__ __forceinline__ void mma(float (&d)[4], const float (&a)[4], const float (&b)[2]) {
  uint32_t ah[4], bh[2];
#pragma unroll
  for (int i = 0; i < 4; ++i) ah[i] = to_tf32(a[i]);
  bh[0] = to_tf32(b[0]);
  bh[1] = to_tf32(b[1]);
  if constexpr (kSplit) {
    uint32_t al[4], bl[2];
#pragma unroll
    for (int i = 0; i < 4; ++i) al[i] = to_tf32(a[i] - __uint_as_float(ah[i]));
    bl[0] = to_tf32(b[0] - __uint_as_float(bh[0]));
    bl[1] = to_tf32(b[1] - __uint_as_float(bh[1]));
    mma_tf32(d, al, bh);
    mma_tf32(d, ah, bl);
  }
  mma_tf32(d, ah, bh);
}

// Block per (value head, 32 state columns), 8 warps; the 64-token chunks in order. The block's
// 128 x 32 state tile lives in fp32 accumulators (warp w: rows 16w..16w+15) and, for the next
// chunk's matmuls, in shared memory. Per chunk, warp (mt, np) = (w % 4, w / 4) owns output
// rows 16mt.. and columns 16np.. of X = W S, Y = Q S, O; and P rows 16mt.., tokens 32np...
template <bool kSplit>
__global__ void __launch_bounds__(256) scan_kernel(DeltaNetPrefillArgs a) {
  __shared__ __align__(16) float ss[kDim * kSS];
  __shared__ __align__(16) float vs[kChunk * kSS];
  __shared__ __align__(16) float ps[kChunk * kPS];
  __shared__ float gs[2][kChunk];  // gamma, by chunk parity (a fast warp writes the next while others read)
  const int h = blockIdx.x, n0 = blockIdx.y * kTile;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int kh = h / (a.hv / a.hk), C = a.conv_channels(), O = a.hv * kDim;
  const float* qg = a.qkv + kh * kDim;
  const float* kg = a.qkv + (a.hk + kh) * kDim;
  const float* wg = a.qkv + (2 * a.hk + h) * kDim;
  float* og = a.out + h * kDim + n0;
  float* S = a.state + size_t(h) * kDim * kDim + n0;

  const int sr = warp * 16 + g;  // state rows sr and sr + 8 of this lane
  float sacc[4][4];
#pragma unroll
  for (int nt = 0; nt < 4; ++nt) {
    const int c = nt * 8 + 2 * t;
    const float2 lo = *reinterpret_cast<const float2*>(S + sr * kDim + c);
    const float2 hi = *reinterpret_cast<const float2*>(S + (sr + 8) * kDim + c);
    sacc[nt][0] = lo.x, sacc[nt][1] = lo.y, sacc[nt][2] = hi.x, sacc[nt][3] = hi.y;
    *reinterpret_cast<float2*>(ss + sr * kSS + c) = lo;
    *reinterpret_cast<float2*>(ss + (sr + 8) * kSS + c) = hi;
  }

  const int mt = warp & 3, np = warp >> 2;
  const int r0 = mt * 16 + g, r1 = r0 + 8;
  const bool p_zero = np * 32 > mt * 16 + 15;  // this warp's P block lies above the diagonal
  for (int c0 = 0, ci = 0; c0 < a.T; c0 += kChunk, ++ci) {
    const int L = min(kChunk, a.T - c0);
    float* gam = gs[ci & 1];
    if (threadIdx.x < kChunk) gam[threadIdx.x] = a.gates[(size_t(c0 + min(int(threadIdx.x), L - 1)) * a.hv + h) * 2 + 1];
    __syncthreads();

    // X = W S and Y = Q S (16 x 16 a warp), P = Q K^T (16 x 32), k over the 128 dims.
    const bool v0 = r0 < L, v1 = r1 < L;
    const size_t ro0 = size_t(c0 + r0) * C, ro1 = size_t(c0 + r1) * C;
    float x[2][4] = {}, y[2][4] = {}, p[4][4] = {};
#pragma unroll 4
    for (int kk = 0; kk < kDim; kk += 8) {
      const float aw[4] = {v0 ? wg[ro0 + kk + t] : 0.f, v1 ? wg[ro1 + kk + t] : 0.f, v0 ? wg[ro0 + kk + t + 4] : 0.f,
                           v1 ? wg[ro1 + kk + t + 4] : 0.f};
      const float aq[4] = {v0 ? qg[ro0 + kk + t] : 0.f, v1 ? qg[ro1 + kk + t] : 0.f, v0 ? qg[ro0 + kk + t + 4] : 0.f,
                           v1 ? qg[ro1 + kk + t + 4] : 0.f};
#pragma unroll
      for (int nt = 0; nt < 2; ++nt) {
        const int cn = np * 16 + nt * 8 + g;
        const float b[2] = {ss[(kk + t) * kSS + cn], ss[(kk + t + 4) * kSS + cn]};
        mma<kSplit>(x[nt], aw, b);
        mma<kSplit>(y[nt], aq, b);
      }
      if (!p_zero) {
#pragma unroll
        for (int nt = 0; nt < 4; ++nt) {
          const int tok = np * 32 + nt * 8 + g;
          const size_t ko = size_t(c0 + tok) * C + kk + t;
          const float b[2] = {tok < L ? kg[ko] : 0.f, tok < L ? kg[ko + 4] : 0.f};
          mma<kSplit>(p[nt], aq, b);
        }
      }
    }
    const float e0 = expf(gam[r0]), e1 = expf(gam[r1]);
#pragma unroll
    for (int nt = 0; nt < 4; ++nt) {
      const int j = np * 32 + nt * 8 + 2 * t;
      ps[r0 * kPS + j] = j <= r0 ? p[nt][0] * expf(gam[r0] - gam[j]) : 0.f;
      ps[r0 * kPS + j + 1] = j + 1 <= r0 ? p[nt][1] * expf(gam[r0] - gam[j + 1]) : 0.f;
      ps[r1 * kPS + j] = j <= r1 ? p[nt][2] * expf(gam[r1] - gam[j]) : 0.f;
      ps[r1 * kPS + j + 1] = j + 1 <= r1 ? p[nt][3] * expf(gam[r1] - gam[j + 1]) : 0.f;
    }
#pragma unroll
    for (int nt = 0; nt < 2; ++nt) {  // V' = U - X; the outputs start as exp(gamma) Y
      const int cn = np * 16 + nt * 8 + 2 * t;
      const float2 u0 = v0 ? *reinterpret_cast<const float2*>(og + size_t(c0 + r0) * O + cn) : make_float2(0.f, 0.f);
      const float2 u1 = v1 ? *reinterpret_cast<const float2*>(og + size_t(c0 + r1) * O + cn) : make_float2(0.f, 0.f);
      *reinterpret_cast<float2*>(vs + r0 * kSS + cn) = make_float2(u0.x - x[nt][0], u0.y - x[nt][1]);
      *reinterpret_cast<float2*>(vs + r1 * kSS + cn) = make_float2(u1.x - x[nt][2], u1.y - x[nt][3]);
      y[nt][0] *= e0, y[nt][1] *= e0, y[nt][2] *= e1, y[nt][3] *= e1;
    }
    __syncthreads();

    // O += P V' (P is lower triangular: k stops at this warp's last row).
#pragma unroll
    for (int kk = 0; kk < kChunk; kk += 8) {
      if (kk > mt * 16 + 15) break;
      const float ap[4] = {ps[r0 * kPS + kk + t], ps[r1 * kPS + kk + t], ps[r0 * kPS + kk + t + 4],
                           ps[r1 * kPS + kk + t + 4]};
#pragma unroll
      for (int nt = 0; nt < 2; ++nt) {
        const int cn = np * 16 + nt * 8 + g;
        const float b[2] = {vs[(kk + t) * kSS + cn], vs[(kk + t + 4) * kSS + cn]};
        mma<kSplit>(y[nt], ap, b);
      }
    }
#pragma unroll
    for (int nt = 0; nt < 2; ++nt) {
      const int cn = np * 16 + nt * 8 + 2 * t;
      if (v0) *reinterpret_cast<float2*>(og + size_t(c0 + r0) * O + cn) = make_float2(y[nt][0], y[nt][1]);
      if (v1) *reinterpret_cast<float2*>(og + size_t(c0 + r1) * O + cn) = make_float2(y[nt][2], y[nt][3]);
    }

    // S = exp(gamma_L) S + K^T diag(exp(gamma_L - gamma)) V': warp w owns state rows 16w..
    const float gl = gam[kChunk - 1], el = expf(gl);
#pragma unroll
    for (int nt = 0; nt < 4; ++nt)
#pragma unroll
      for (int i = 0; i < 4; ++i) sacc[nt][i] *= el;
#pragma unroll
    for (int kk = 0; kk < kChunk; kk += 8) {
      if (kk >= L) break;
      const int t0 = kk + t, t1 = t0 + 4;
      const size_t k0 = size_t(c0 + t0) * C + sr, k1 = size_t(c0 + t1) * C + sr;
      const float ak[4] = {t0 < L ? kg[k0] : 0.f, t0 < L ? kg[k0 + 8] : 0.f, t1 < L ? kg[k1] : 0.f,
                           t1 < L ? kg[k1 + 8] : 0.f};
      const float w0 = expf(gl - gam[t0]), w1 = expf(gl - gam[t1]);
#pragma unroll
      for (int nt = 0; nt < 4; ++nt) {
        const float b[2] = {vs[t0 * kSS + nt * 8 + g] * w0, vs[t1 * kSS + nt * 8 + g] * w1};
        mma<kSplit>(sacc[nt], ak, b);
      }
    }
#pragma unroll
    for (int nt = 0; nt < 4; ++nt) {
      const int c = nt * 8 + 2 * t;
      *reinterpret_cast<float2*>(ss + sr * kSS + c) = make_float2(sacc[nt][0], sacc[nt][1]);
      *reinterpret_cast<float2*>(ss + (sr + 8) * kSS + c) = make_float2(sacc[nt][2], sacc[nt][3]);
    }
  }
#pragma unroll
  for (int nt = 0; nt < 4; ++nt) {
    const int c = nt * 8 + 2 * t;
    *reinterpret_cast<float2*>(S + sr * kDim + c) = make_float2(sacc[nt][0], sacc[nt][1]);
    *reinterpret_cast<float2*>(S + (sr + 8) * kDim + c) = make_float2(sacc[nt][2], sacc[nt][3]);
  }
}

DeltaNetPrefillForm form_from_env() {
  const char* e = std::getenv("HLWQ_DELTANET_PREFILL");
  if (e == nullptr || *e == 0) return DeltaNetPrefillForm::Recurrent;  // until the chunked form measures faster
  if (std::strcmp(e, "recurrent") == 0) return DeltaNetPrefillForm::Recurrent;
  if (std::strcmp(e, "tf32") == 0) return DeltaNetPrefillForm::Chunked;
  if (std::strcmp(e, "3xtf32") == 0) return DeltaNetPrefillForm::ChunkedSplit;
  throw_error(ErrorKind::InvalidArgument, "HLWQ_DELTANET_PREFILL=", e, ": expected recurrent, tf32 or 3xtf32");
}

}  // namespace

void deltanet_prefill(const DeltaNetPrefillArgs& a, cudaStream_t stream) {
  if (a.hk <= 0 || a.hv <= 0 || a.hv % a.hk != 0 || a.T <= 0 || a.proj_stride < a.a_offset() + a.hv)
    throw_error(ErrorKind::InvalidArgument, "deltanet_prefill: key heads ", std::to_string(a.hk), ", value heads ",
                std::to_string(a.hv), " (a positive multiple), T ", std::to_string(a.T), ", proj stride ",
                std::to_string(a.proj_stride));
  prep_kernel<<<a.T, 256, 0, stream>>>(a);
  check_launch("deltanet_prefill prep");
  static const DeltaNetPrefillForm env_form = form_from_env();
  const DeltaNetPrefillForm form = a.form == DeltaNetPrefillForm::Auto ? env_form : a.form;
  if (form == DeltaNetPrefillForm::Recurrent) {
    recurrence_kernel<<<dim3(a.hv, kDim / kCols), 32, 0, stream>>>(a);
    check_launch("deltanet_prefill recurrence");
    return;
  }
  wy_kernel<<<dim3((a.T + kChunk - 1) / kChunk, a.hv), 256, 0, stream>>>(a);
  check_launch("deltanet_prefill wy");
  if (form == DeltaNetPrefillForm::ChunkedSplit)
    scan_kernel<true><<<dim3(a.hv, kDim / kTile), 256, 0, stream>>>(a);
  else
    scan_kernel<false><<<dim3(a.hv, kDim / kTile), 256, 0, stream>>>(a);
  check_launch("deltanet_prefill scan");
}

}  // namespace hlwq::cuda
