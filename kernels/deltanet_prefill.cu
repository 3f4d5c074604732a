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
//   (I + A) U = beta V,  (I + A) W = diag(beta exp(gamma)) K          (wy_kernel)
//   V' = U - W S,  O = diag(exp(gamma)) Q S + P V'  with P_ij = (q_i.k_j) exp(gamma_i - gamma_j), j <= i
//   S <- exp(gamma_L) S + K^T diag(exp(gamma_L - gamma)) V'            (scan_kernel)
// Every exponent is <= 0, so nothing overflows however strong the decay. The matmuls run on
// tensor cores as mma.sync m16n8k8 tf32 with fp32 accumulators: tf32 rather than bf16/fp16
// because the operands are fp32 already (no conversion passes) and the state is fed back every
// chunk, where bf16's 8-bit mantissa would cost 8x more error and fp16 (tf32's mantissa) lacks
// the range for an unbounded state and U. The 3xTF32 variant splits each operand hi + lo for
// about fp32 products; it costs +0.55 ms a layer at 4096 tokens (H200), so the tensor-core
// work is about a third of the tf32 form's 0.92 ms.

constexpr int kChunk = 64;       // tokens per chunk
constexpr int kTile = 64;        // state columns (value dims) per scan block: 48 heads x 2 = 96 blocks, one an SM
constexpr int kScanThreads = 512;
constexpr int kSS = kTile + 8;   // row stride of the S / V' tiles: B fragments (row t, column g) hit 32 banks
constexpr int kPS = kChunk + 4;  // row stride of P and A^T: A fragments (row g, column t) hit 32 banks
constexpr int kXS = kDim + 4;    // row stride of the staged q / k / w rows: the same for their fragments
constexpr size_t kScanSmem = size_t(kDim * kSS + kChunk * kSS + kChunk * kPS + 4 * kChunk * kXS + 2 * kChunk) * 4;

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

// One mma operand fragment converted once for every tile it meets: hi = tf32(x) and, for
// 3xTF32, lo = tf32(x - hi). Layout (PTX m16n8k8 tf32, g = lane / 4, t = lane % 4):
// A: A[g][t], A[g+8][t], A[g][t+4], A[g+8][t+4]; B: B[t][g], B[t+4][g];
// C: C[g][2t], C[g][2t+1], C[g+8][2t], C[g+8][2t+1].
template <bool kSplit, int N>
struct Frag {
  uint32_t hi[N], lo[kSplit ? N : 1];
  __device__ __forceinline__ explicit Frag(const float (&x)[N]) {
#pragma unroll
    for (int i = 0; i < N; ++i) {
      hi[i] = to_tf32(x[i]);
      if constexpr (kSplit) lo[i] = to_tf32(x[i] - __uint_as_float(hi[i]));
    }
  }
};

template <bool kSplit>
__device__ __forceinline__ void mma(float (&d)[4], const Frag<kSplit, 4>& a, const Frag<kSplit, 2>& b) {
  if constexpr (kSplit) {  // the small terms first; lo x lo is below fp32's last bit
    mma_tf32(d, a.lo, b.hi);
    mma_tf32(d, a.hi, b.lo);
  }
  mma_tf32(d, a.hi, b.hi);
}

__device__ __forceinline__ void cp_async16(float* dst, const float* src, bool valid) {
  const unsigned d = unsigned(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(d), "l"(src), "r"(valid ? 16 : 0) : "memory");
}

// Rows [c0, c0 + 64) of one 128-wide head slice of qkv into a [64][kXS] tile, zeros past T;
// 16-byte copies, whole rows a warp (the fragments themselves would touch 8 rows a load).
__device__ __forceinline__ void stage_rows(float* dst, const float* src, int c0, int T, int C) {
  for (int e = threadIdx.x; e < kChunk * kDim / 4; e += blockDim.x) {
    const int r = e >> 5, c = (e & 31) * 4;
    const bool ok = c0 + r < T;
    cp_async16(dst + r * kXS + c, src + size_t(ok ? c0 + r : 0) * C + c, ok);
  }
}

// Block per (chunk, value head), 8 warps, two blocks an SM. K K^T on tensor cores (warp w:
// rows 16 (w % 4).., columns 32 (w / 4)..), then a thread per column of [U | W] (128 + 128
// columns) solves (I + A) x = rhs with the column in shared memory, by blocks of 16 rows: the
// 16 x 16 triangle in registers, then the rows below updated from it. Loops, not a fully
// unrolled 64-row substitution: that took ~4K straight-line instructions a thread and ran
// 10x slower than its arithmetic (ncu: 0.2 issued per scheduler at one block an SM).
// U goes to `out` (the scan reads it back and overwrites it with the outputs), W over the v
// part of `qkv` (read here, used by nothing after), gamma over g in `gates`.
constexpr int kWyThreads = 256;  // = the 128 + 128 columns of [U | W]
constexpr size_t kWySmem = size_t(kChunk * kWyThreads + kChunk * kXS + 3 * kChunk) * 4;

template <bool kSplit>
__global__ void __launch_bounds__(kWyThreads, 2) wy_kernel(DeltaNetPrefillArgs a) {
  extern __shared__ __align__(16) float smem[];
  float* rs = smem;                          // [64][256] right-hand sides, solved in place
  float* ks = rs + kChunk * kWyThreads;      // [64][kXS] k rows, then A (row stride kPS)
  float* as = ks;
  float* gam = ks + kChunk * kXS;
  float* bet = gam + kChunk;
  float* beg = bet + kChunk;
  const int c0 = blockIdx.x * kChunk, h = blockIdx.y, tid = threadIdx.x;
  const int L = min(kChunk, a.T - c0), kh = h / (a.hv / a.hk), C = a.conv_channels();
  stage_rows(ks, a.qkv + (a.hk + kh) * kDim, c0, a.T, C);
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
  asm volatile("cp.async.wait_all;" ::: "memory");
  __syncthreads();
  if (tid < L) a.gates[(size_t(c0 + tid) * a.hv + h) * 2 + 1] = gam[tid];

  const int warp = tid >> 5, lane = tid & 31, g = lane >> 2, t = lane & 3;
  const int r0 = (warp & 3) * 16 + g, n0 = (warp >> 2) * 32;
  float acc[4][4] = {};
#pragma unroll 4
  for (int kk = 0; kk < kDim; kk += 8) {
    const float av[4] = {ks[r0 * kXS + kk + t], ks[(r0 + 8) * kXS + kk + t], ks[r0 * kXS + kk + t + 4],
                         ks[(r0 + 8) * kXS + kk + t + 4]};
    const Frag<kSplit, 4> af(av);
#pragma unroll
    for (int nt = 0; nt < 4; ++nt) {
      const int n = n0 + nt * 8 + g;
      const float bv[2] = {ks[n * kXS + kk + t], ks[n * kXS + kk + t + 4]};
      mma<kSplit>(acc[nt], af, Frag<kSplit, 2>(bv));
    }
  }
  const int col = tid;
  float* vcol = a.qkv + size_t(c0) * C + (2 * a.hk + h) * kDim + (col & (kDim - 1));
  if (col < kDim) {  // all 64 loads in flight before the first store
    float v[kChunk];
#pragma unroll
    for (int i = 0; i < kChunk; ++i) v[i] = i < L ? vcol[size_t(i) * C] : 0.f;
#pragma unroll
    for (int i = 0; i < kChunk; ++i) rs[i * kWyThreads + col] = bet[i] * v[i];
  } else {
#pragma unroll 8
    for (int i = 0; i < kChunk; ++i) rs[i * kWyThreads + col] = beg[i] * ks[i * kXS + col - kDim];
  }
  __syncthreads();  // k is dead: A goes over it
#pragma unroll
  for (int nt = 0; nt < 4; ++nt)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int i = r0 + (e >> 1) * 8, j = n0 + nt * 8 + 2 * t + (e & 1);
      as[i * kPS + j] = j < i ? bet[i] * acc[nt][e] * expf(gam[i] - gam[j]) : 0.f;
    }
  __syncthreads();

  float* x = rs + col;  // this thread's column, stride kWyThreads
#pragma unroll 1
  for (int b0 = 0; b0 < kChunk; b0 += 16) {
    float xb[16];
#pragma unroll
    for (int l = 0; l < 16; ++l) xb[l] = x[(b0 + l) * kWyThreads];
#pragma unroll
    for (int i = 1; i < 16; ++i) {
      const float* ai = as + (b0 + i) * kPS + b0;
#pragma unroll
      for (int l = 0; l < i; ++l) xb[i] = fmaf(-ai[l], xb[l], xb[i]);
    }
#pragma unroll
    for (int l = 0; l < 16; ++l) x[(b0 + l) * kWyThreads] = xb[l];
#pragma unroll 2
    for (int r = b0 + 16; r < kChunk; ++r) {
      const float4* ar = reinterpret_cast<const float4*>(as + r * kPS + b0);
      float s0 = x[r * kWyThreads], s1 = 0.f;
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        const float4 w = ar[q];
        s0 = fmaf(-w.x, xb[4 * q], s0);
        s1 = fmaf(-w.y, xb[4 * q + 1], s1);
        s0 = fmaf(-w.z, xb[4 * q + 2], s0);
        s1 = fmaf(-w.w, xb[4 * q + 3], s1);
      }
      x[r * kWyThreads] = s0 + s1;
    }
  }
  // Every column of v was read before the first barrier above, so W may overwrite it.
  float* dst = col < kDim ? a.out + size_t(c0) * a.hv * kDim + h * kDim + col : vcol;
  const size_t stride = col < kDim ? size_t(a.hv) * kDim : size_t(C);
#pragma unroll 8
  for (int i = 0; i < L; ++i) dst[i * stride] = x[i * kWyThreads];
}

// Block per (value head, 64 state columns), 16 warps; the 64-token chunks in order. The block's
// 128 x 64 state tile lives in fp32 accumulators (warp w: rows 16 (w % 8).., columns
// 32 (w / 8)..) and, for the next chunk's matmuls, in shared memory. The chunk's q, k and w
// rows are staged by cp.async, the next chunk's while this one finishes (k double-buffered).
// Per chunk, warp (mt, nq) = (w % 4, w / 4) owns rows 16mt.. and columns 16nq.. of
// X = W S, Y = Q S and O, and rows 16mt.., tokens 16nq.. of P.
template <bool kSplit>
__global__ void __launch_bounds__(kScanThreads, 1) scan_kernel(DeltaNetPrefillArgs a) {
  extern __shared__ __align__(16) float smem[];
  float* ss = smem;                      // [kDim][kSS] state tile (B of W S, Q S)
  float* vs = ss + kDim * kSS;           // [kChunk][kSS] V'
  float* ps = vs + kChunk * kSS;         // [kChunk][kPS] masked, decayed Q K^T
  float* qs = ps + kChunk * kPS;         // [kChunk][kXS] q rows
  float* ws = qs + kChunk * kXS;         // [kChunk][kXS] w rows
  float* kbuf = ws + kChunk * kXS;       // [2][kChunk][kXS] k rows, by chunk parity
  float* gbuf = kbuf + 2 * kChunk * kXS; // [2][kChunk] gamma, by chunk parity
  const int h = blockIdx.x, n0 = blockIdx.y * kTile;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int kh = h / (a.hv / a.hk), C = a.conv_channels(), O = a.hv * kDim;
  const float* qg = a.qkv + kh * kDim;
  const float* kg = a.qkv + (a.hk + kh) * kDim;
  const float* wg = a.qkv + (2 * a.hk + h) * kDim;
  float* og = a.out + h * kDim + n0;
  float* S = a.state + size_t(h) * kDim * kDim + n0;

  stage_rows(qs, qg, 0, a.T, C);
  stage_rows(ws, wg, 0, a.T, C);
  stage_rows(kbuf, kg, 0, a.T, C);

  const int sr = (warp & 7) * 16 + g, sc = (warp >> 3) * 32;  // state rows sr, sr + 8; columns sc..
  float sacc[4][4];
#pragma unroll
  for (int nt = 0; nt < 4; ++nt) {
    const int c = sc + nt * 8 + 2 * t;
    const float2 lo = *reinterpret_cast<const float2*>(S + sr * kDim + c);
    const float2 hi = *reinterpret_cast<const float2*>(S + (sr + 8) * kDim + c);
    sacc[nt][0] = lo.x, sacc[nt][1] = lo.y, sacc[nt][2] = hi.x, sacc[nt][3] = hi.y;
    *reinterpret_cast<float2*>(ss + sr * kSS + c) = lo;
    *reinterpret_cast<float2*>(ss + (sr + 8) * kSS + c) = hi;
  }

  const int mt = warp & 3, nq = warp >> 2;
  const int r0 = mt * 16 + g, r1 = r0 + 8;
  const bool p_zero = nq > mt;  // this warp's P block lies above the diagonal
  // gamma of token c0 + threadIdx.x (the chunk's last for padding rows), a chunk ahead
  auto gamma_at = [&](int c0) {
    const int L = min(kChunk, a.T - c0);
    return a.gates[(size_t(c0 + min(int(threadIdx.x), L - 1)) * a.hv + h) * 2 + 1];
  };
  float gnext = threadIdx.x < kChunk ? gamma_at(0) : 0.f;
  for (int c0 = 0, ci = 0; c0 < a.T; c0 += kChunk, ++ci) {
    const int L = min(kChunk, a.T - c0);
    float* gam = gbuf + (ci & 1) * kChunk;
    const float* ks = kbuf + (ci & 1) * kChunk * kXS;
    if (threadIdx.x < kChunk) {
      gam[threadIdx.x] = gnext;
      if (c0 + kChunk < a.T) gnext = gamma_at(c0 + kChunk);
    }
    const bool v0 = r0 < L, v1 = r1 < L;
    float2 u[2][2];  // U at this lane's V' positions, fetched under the matmuls below
#pragma unroll
    for (int nt = 0; nt < 2; ++nt) {
      const int cn = nq * 16 + nt * 8 + 2 * t;
      u[nt][0] = v0 ? *reinterpret_cast<const float2*>(og + size_t(c0 + r0) * O + cn) : make_float2(0.f, 0.f);
      u[nt][1] = v1 ? *reinterpret_cast<const float2*>(og + size_t(c0 + r1) * O + cn) : make_float2(0.f, 0.f);
    }
    asm volatile("cp.async.wait_all;" ::: "memory");
    __syncthreads();

    // X = W S and Y = Q S (16 x 16 a warp), P = Q K^T (16 x 16), k over the 128 dims.
    float x[2][4] = {}, y[2][4] = {}, p[2][4] = {};
#pragma unroll 4
    for (int kk = 0; kk < kDim; kk += 8) {
      const float wv[4] = {ws[r0 * kXS + kk + t], ws[r1 * kXS + kk + t], ws[r0 * kXS + kk + t + 4],
                           ws[r1 * kXS + kk + t + 4]};
      const float qv[4] = {qs[r0 * kXS + kk + t], qs[r1 * kXS + kk + t], qs[r0 * kXS + kk + t + 4],
                           qs[r1 * kXS + kk + t + 4]};
      const Frag<kSplit, 4> aw(wv), aq(qv);
#pragma unroll
      for (int nt = 0; nt < 2; ++nt) {
        const int cn = nq * 16 + nt * 8 + g;
        const float sv[2] = {ss[(kk + t) * kSS + cn], ss[(kk + t + 4) * kSS + cn]};
        const Frag<kSplit, 2> b(sv);
        mma<kSplit>(x[nt], aw, b);
        mma<kSplit>(y[nt], aq, b);
        if (!p_zero) {
          const float kv[2] = {ks[cn * kXS + kk + t], ks[cn * kXS + kk + t + 4]};  // B[k][n] = K[token n][dim k]
          mma<kSplit>(p[nt], aq, Frag<kSplit, 2>(kv));
        }
      }
    }
    const float e0 = expf(gam[r0]), e1 = expf(gam[r1]);
#pragma unroll
    for (int nt = 0; nt < 2; ++nt) {
      const int j = nq * 16 + nt * 8 + 2 * t;
      ps[r0 * kPS + j] = j <= r0 ? p[nt][0] * expf(gam[r0] - gam[j]) : 0.f;
      ps[r0 * kPS + j + 1] = j + 1 <= r0 ? p[nt][1] * expf(gam[r0] - gam[j + 1]) : 0.f;
      ps[r1 * kPS + j] = j <= r1 ? p[nt][2] * expf(gam[r1] - gam[j]) : 0.f;
      ps[r1 * kPS + j + 1] = j + 1 <= r1 ? p[nt][3] * expf(gam[r1] - gam[j + 1]) : 0.f;
    }
#pragma unroll
    for (int nt = 0; nt < 2; ++nt) {  // V' = U - X; the outputs start as exp(gamma) Y
      const int cn = nq * 16 + nt * 8 + 2 * t;
      const float2 u0 = u[nt][0], u1 = u[nt][1];
      *reinterpret_cast<float2*>(vs + r0 * kSS + cn) = make_float2(u0.x - x[nt][0], u0.y - x[nt][1]);
      *reinterpret_cast<float2*>(vs + r1 * kSS + cn) = make_float2(u1.x - x[nt][2], u1.y - x[nt][3]);
      y[nt][0] *= e0, y[nt][1] *= e0, y[nt][2] *= e1, y[nt][3] *= e1;
    }
    __syncthreads();
    if (c0 + kChunk < a.T) {  // q and w are read; k of this chunk is still needed below
      stage_rows(qs, qg, c0 + kChunk, a.T, C);
      stage_rows(ws, wg, c0 + kChunk, a.T, C);
      stage_rows(kbuf + ((ci + 1) & 1) * kChunk * kXS, kg, c0 + kChunk, a.T, C);
    }

    // O += P V' (P is lower triangular: k stops at this warp's last row).
#pragma unroll
    for (int kk = 0; kk < kChunk; kk += 8) {
      if (kk > mt * 16 + 15) break;
      const float pv[4] = {ps[r0 * kPS + kk + t], ps[r1 * kPS + kk + t], ps[r0 * kPS + kk + t + 4],
                           ps[r1 * kPS + kk + t + 4]};
      const Frag<kSplit, 4> ap(pv);
#pragma unroll
      for (int nt = 0; nt < 2; ++nt) {
        const int cn = nq * 16 + nt * 8 + g;
        const float vv[2] = {vs[(kk + t) * kSS + cn], vs[(kk + t + 4) * kSS + cn]};
        mma<kSplit>(y[nt], ap, Frag<kSplit, 2>(vv));
      }
    }
#pragma unroll
    for (int nt = 0; nt < 2; ++nt) {
      const int cn = nq * 16 + nt * 8 + 2 * t;
      if (v0) *reinterpret_cast<float2*>(og + size_t(c0 + r0) * O + cn) = make_float2(y[nt][0], y[nt][1]);
      if (v1) *reinterpret_cast<float2*>(og + size_t(c0 + r1) * O + cn) = make_float2(y[nt][2], y[nt][3]);
    }

    // S = exp(gamma_L) S + K^T diag(exp(gamma_L - gamma)) V'.
    const float gl = gam[kChunk - 1], el = expf(gl);
#pragma unroll
    for (int nt = 0; nt < 4; ++nt)
#pragma unroll
      for (int i = 0; i < 4; ++i) sacc[nt][i] *= el;
#pragma unroll
    for (int kk = 0; kk < kChunk; kk += 8) {
      if (kk >= L) break;
      const int t0 = kk + t, t1 = t0 + 4;
      const float kv[4] = {ks[t0 * kXS + sr], ks[t0 * kXS + sr + 8], ks[t1 * kXS + sr], ks[t1 * kXS + sr + 8]};
      const Frag<kSplit, 4> ak(kv);
      const float w0 = expf(gl - gam[t0]), w1 = expf(gl - gam[t1]);
#pragma unroll
      for (int nt = 0; nt < 4; ++nt) {
        const int cn = sc + nt * 8 + g;
        const float vv[2] = {vs[t0 * kSS + cn] * w0, vs[t1 * kSS + cn] * w1};
        mma<kSplit>(sacc[nt], ak, Frag<kSplit, 2>(vv));
      }
    }
#pragma unroll
    for (int nt = 0; nt < 4; ++nt) {
      const int c = sc + nt * 8 + 2 * t;
      *reinterpret_cast<float2*>(ss + sr * kSS + c) = make_float2(sacc[nt][0], sacc[nt][1]);
      *reinterpret_cast<float2*>(ss + (sr + 8) * kSS + c) = make_float2(sacc[nt][2], sacc[nt][3]);
    }
  }
#pragma unroll
  for (int nt = 0; nt < 4; ++nt) {
    const int c = sc + nt * 8 + 2 * t;
    *reinterpret_cast<float2*>(S + sr * kDim + c) = make_float2(sacc[nt][0], sacc[nt][1]);
    *reinterpret_cast<float2*>(S + (sr + 8) * kDim + c) = make_float2(sacc[nt][2], sacc[nt][3]);
  }
}

template <bool kSplit>
void launch_chunked(const DeltaNetPrefillArgs& a, cudaStream_t stream) {
  static const bool attr = [] {  // above the 48 KB default: once per instantiation
    check(cudaFuncSetAttribute(wy_kernel<kSplit>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(kWySmem)),
          "deltanet_prefill wy: shared memory");
    check(cudaFuncSetAttribute(scan_kernel<kSplit>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(kScanSmem)),
          "deltanet_prefill scan: shared memory");
    return true;
  }();
  (void)attr;
  wy_kernel<kSplit><<<dim3((a.T + kChunk - 1) / kChunk, a.hv), kWyThreads, kWySmem, stream>>>(a);
  check_launch("deltanet_prefill wy");
  scan_kernel<kSplit><<<dim3(a.hv, kDim / kTile), kScanThreads, kScanSmem, stream>>>(a);
  check_launch("deltanet_prefill scan");
}

DeltaNetPrefillForm form_from_env() {
  const char* e = std::getenv("HLWQ_DELTANET_PREFILL");
  if (e == nullptr || *e == 0) return DeltaNetPrefillForm::Chunked;
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
  if (form == DeltaNetPrefillForm::ChunkedSplit)
    launch_chunked<true>(a, stream);
  else
    launch_chunked<false>(a, stream);
}

}  // namespace hlwq::cuda
