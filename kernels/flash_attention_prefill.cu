// Flash attention for the prompt prefill: a block per (KV head, 16 query tokens), a warp per
// query head of the group, so the G heads that share a KV head share every K/V tile. Tiles of
// 64 keys stream through shared memory (cp.async, double-buffered); KV codes are dequantized
// there into fp16 (centroid * norm / 16, the values decode multiplies in fp32). Scores and the
// weighted sum run on mma.sync m16n8k16 with fp32 accumulators; the softmax is online in
// registers; only tiles that cross the diagonal are masked, later ones are never loaded.
#include <cuda_fp16.h>

#include <cmath>
#include <cstdint>

#include "cuda_check.h"
#include "flash_attention_prefill.h"

namespace hlwq::cuda {
namespace {

constexpr int kD = kHeadDim;        // 256
constexpr int kRows = 16;           // query tokens per block: one m16 tile per warp
constexpr int kKeys = 64;           // keys per tile
constexpr int kTileBytes = kKeys * kD * 2;  // one fp16 K or V tile
constexpr int kOStride = kD + 8;    // fp32 output staging row (padding spreads the banks)
constexpr float kNegInf = -INFINITY;

// fp16 tiles are [row][256] with the 16-byte chunk c of row r stored at chunk c ^ (r & 7):
// the 8 rows an ldmatrix reads at one logical chunk land in 8 different bank groups.
__device__ __forceinline__ int swz(int r, int c) { return r * kD + ((c ^ (r & 7)) << 3); }

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void ldsm_x4(uint32_t a, uint32_t (&r)[4]) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(a));
}

__device__ __forceinline__ void ldsm_x4_t(uint32_t a, uint32_t (&r)[4]) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(a));
}

__device__ __forceinline__ void mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// 16 bytes global -> shared; src_bytes 0 fills zeros (keys past the block's last row).
__device__ __forceinline__ void cp16(void* dst, const void* src, int src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src), "r"(src_bytes)
               : "memory");
}
__device__ __forceinline__ void cp_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void cp_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

__device__ __forceinline__ uint32_t pack_half2(float a, float b) {
  const __half2 h = __floats2half2_rn(a, b);
  return *reinterpret_cast<const uint32_t*>(&h);
}

// Normalised H_256 of a vector spread over a warp as 8 consecutive values per lane.
__device__ __forceinline__ void wht256_warp(float (&v)[8]) {
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int s = 1; s < 8; s <<= 1)
#pragma unroll
    for (int i = 0; i < 8; ++i)
      if (!(i & s)) {
        const float x = v[i], y = v[i + s];
        v[i] = x + y;
        v[i + s] = x - y;
      }
#pragma unroll
  for (int m = 1; m < 32; m <<= 1) {
    const bool upper = lane & m;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const float o = __shfl_xor_sync(0xffffffffu, v[i], m);
      v[i] = upper ? (o - v[i]) : (v[i] + o);
    }
  }
#pragma unroll
  for (int i = 0; i < 8; ++i) v[i] *= 0.0625f;
}

// One side (K or V) of the shared-memory layout. fp16: two tile stages filled by cp.async.
// Codes: two stages of raw vectors + their norms, and the fp16 tile they are dequantized into
// (two with `ahead`: tile kt + 1 is dequantized while the warps multiply tile kt).
struct Side {
  const KvSide* kv;
  uint8_t* base;
  int bits;
  bool ahead;

  __host__ __device__ static int bytes(int bits, bool ahead) {
    return bits == 16 ? 2 * kTileBytes
                      : 2 * kKeys * kv_vector_bytes(bits) + 2 * kKeys * 4 + (ahead ? 2 : 1) * kTileBytes;
  }
  __device__ uint8_t* raw(int stage) const { return base + stage * kKeys * kv_vector_bytes(bits); }
  __device__ float* norms(int stage) const {
    return reinterpret_cast<float*>(base + 2 * kKeys * kv_vector_bytes(bits)) + stage * kKeys;
  }
  // The fp16 tile the mma loops read for the tile in `stage`.
  __device__ const __half* tile(int stage) const {
    if (bits == 16) return reinterpret_cast<const __half*>(base + stage * kTileBytes);
    return reinterpret_cast<const __half*>(base + 2 * kKeys * kv_vector_bytes(bits) + 2 * kKeys * 4 +
                                           (ahead ? stage * kTileBytes : 0));
  }

  // Issues the copies of keys [kbase, kbase + 64) into `stage`; keys >= kend become zeros.
  // The norm of key kbase + (tid - norm_tid) is returned for the caller to store later.
  __device__ float prefetch(int stage, size_t slot0, int kbase, int kend, int tid, int nt, int norm_tid) const {
    const int vb = kv_vector_bytes(bits);
    if (bits == 16) {
      for (int i = tid; i < kKeys * 32; i += nt) {
        const int r = i >> 5, c = i & 31, key = kbase + r;
        const bool ok = key < kend;
        cp16(base + stage * kTileBytes + swz(r, c) * 2, kv->data + (slot0 + (ok ? key : 0)) * vb + c * 16, ok ? 16 : 0);
      }
    } else {
      const int chunks = vb / 16;
      for (int i = tid; i < kKeys * chunks; i += nt) {
        const int r = i / chunks, c = i - r * chunks, key = kbase + r;
        const bool ok = key < kend;
        cp16(raw(stage) + r * vb + c * 16, kv->data + (slot0 + (ok ? key : 0)) * vb + c * 16, ok ? 16 : 0);
      }
    }
    float n = 0;
    const int r = tid - norm_tid;
    if (bits != 16 && r >= 0 && r < kKeys && kbase + r < kend) n = __half2float(kv->norms[slot0 + kbase + r]);
    return n;
  }
  __device__ void store_norm(int stage, float n, int tid, int norm_tid) const {
    const int r = tid - norm_tid;
    if (bits != 16 && r >= 0 && r < kKeys) norms(stage)[r] = n;
  }

  template <int BITS>
  __device__ void dequant_bits(int stage, const float* tab, int tid, int nt) const {
    const uint8_t* src = raw(stage);
    const float* nrm = norms(stage);
    __half* dst = const_cast<__half*>(tile(stage));
    for (int i = tid; i < kKeys * 32; i += nt) {
      const int r = i >> 5, lane = i & 31;
      uint32_t code[8];
      kv_unpack_lane<BITS>(src + r * (kD * BITS / 8), lane, code);
      const float n = nrm[r];
      uint4 w;
      w.x = pack_half2(tab[code[0]] * n, tab[code[1]] * n);
      w.y = pack_half2(tab[code[2]] * n, tab[code[3]] * n);
      w.z = pack_half2(tab[code[4]] * n, tab[code[5]] * n);
      w.w = pack_half2(tab[code[6]] * n, tab[code[7]] * n);
      *reinterpret_cast<uint4*>(dst + swz(r, lane)) = w;
    }
  }
  __device__ void dequant(int stage, const float* tab, int tid, int nt) const {
    switch (bits) {
      case 5: dequant_bits<5>(stage, tab, tid, nt); break;
      case 4: dequant_bits<4>(stage, tab, tid, nt); break;
      case 3: dequant_bits<3>(stage, tab, tid, nt); break;
      case 2: dequant_bits<2>(stage, tab, tid, nt); break;
      default: break;
    }
  }
};

__host__ __device__ inline int smem_bytes(int group, int kbits, int vbits, bool ahead) {
  const int q = group * kRows * kD * 2;
  const int loop = Side::bytes(kbits, ahead) + Side::bytes(vbits, ahead);
  const int epilogue = group * kRows * kOStride * 4;
  return q + (loop > epilogue ? loop : epilogue);
}

// Grid (KV head, 16-token row tile, last tile first: the longest rows start first).
// AHEAD (K and V both codes): raw vectors are fetched two tiles ahead and dequantized one tile
// ahead, so a tile costs one barrier and the warps' dequantizing overlaps others' mma.
template <int G, bool AHEAD>
__global__ void __launch_bounds__(G * 32, 1) flash_kernel(AttentionPrefillArgs a) {
  extern __shared__ __align__(128) uint8_t smem[];
  __shared__ float ktab[32], vtab[32];
  constexpr int nt = G * 32;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int g = lane >> 2, t = lane & 3;  // mma fragment row / column pair
  const int kvh = blockIdx.x;
  const int r0 = (gridDim.y - 1 - blockIdx.y) * kRows;
  const int rows = min(kRows, a.T - r0);
  const int kend = a.pos + r0 + rows;  // keys [0, kend): the block's last row sees them all
  const int tiles = (kend + kKeys - 1) / kKeys;
  const size_t slot0 = size_t(kvh) * a.cache.capacity;

  __half* qs = reinterpret_cast<__half*>(smem);
  const Side ks{&a.cache.k, smem + G * kRows * kD * 2, a.cache.k.bits, AHEAD};
  const Side vs{&a.cache.v, ks.base + Side::bytes(ks.bits, AHEAD), a.cache.v.bits, AHEAD};
  if (ks.bits != 16 && tid < (1 << ks.bits)) ktab[tid] = a.k_codebook[tid] * 0.0625f;
  if (vs.bits != 16 && tid < (1 << vs.bits)) vtab[tid] = a.v_codebook[tid] * 0.0625f;

  // Tile 0 in flight first, then the queries (fp32 -> fp16; rows past T are zeros).
  float kn = ks.prefetch(0, slot0, 0, kend, tid, nt, 0);
  float vn = vs.prefetch(0, slot0, 0, kend, tid, nt, kKeys);
  cp_commit();
  for (int i = tid; i < G * kRows * 32; i += nt) {
    const int qr = i >> 5, c = i & 31, row = r0 + (qr & (kRows - 1));
    uint4 w = make_uint4(0, 0, 0, 0);
    if (row < a.T) {
      const float4* src =
          reinterpret_cast<const float4*>(a.q_work + (size_t(row) * a.heads + kvh * G + qr / kRows) * kD + c * 8);
      const float4 x = src[0], y = src[1];
      w = make_uint4(pack_half2(x.x, x.y), pack_half2(x.z, x.w), pack_half2(y.x, y.y), pack_half2(y.z, y.w));
    }
    *reinterpret_cast<uint4*>(qs + swz(qr, c)) = w;
  }
  ks.store_norm(0, kn, tid, 0);
  vs.store_norm(0, vn, tid, kKeys);
  if (AHEAD) {  // tile 1 in flight, tile 0 dequantized
    if (tiles > 1) {
      kn = ks.prefetch(1, slot0, kKeys, kend, tid, nt, 0);
      vn = vs.prefetch(1, slot0, kKeys, kend, tid, nt, kKeys);
    }
    cp_commit();
    cp_wait<1>();
    __syncthreads();
    ks.dequant(0, ktab, tid, nt);
    vs.dequant(0, vtab, tid, nt);
    if (tiles > 1) {
      ks.store_norm(1, kn, tid, 0);
      vs.store_norm(1, vn, tid, kKeys);
    }
  }

  float o[kD / 8][4];
#pragma unroll
  for (int n = 0; n < kD / 8; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0;
  float m0 = kNegInf, m1 = kNegInf, l0 = 0, l1 = 0;  // rows g and g + 8 (l: this lane's columns)
  const int p0 = a.pos + r0 + g, p1 = p0 + 8;        // their positions
  const uint32_t q_base = smem_addr(qs + warp * kRows * kD);

  for (int kt = 0; kt < tiles; ++kt) {
    const int stage = kt & 1, kbase = kt * kKeys;
    if (AHEAD) {
      // Raw kt + 1 has landed; every warp is past tile kt - 1 and its dequantizing of kt.
      cp_wait<0>();
      __syncthreads();
      if (kt + 2 < tiles) {
        kn = ks.prefetch(stage, slot0, kbase + 2 * kKeys, kend, tid, nt, 0);
        vn = vs.prefetch(stage, slot0, kbase + 2 * kKeys, kend, tid, nt, kKeys);
      }
      cp_commit();
      if (kt + 1 < tiles) {
        ks.dequant(stage ^ 1, ktab, tid, nt);
        vs.dequant(stage ^ 1, vtab, tid, nt);
      }
    } else {
      if (kt + 1 < tiles) {
        kn = ks.prefetch(stage ^ 1, slot0, kbase + kKeys, kend, tid, nt, 0);
        vn = vs.prefetch(stage ^ 1, slot0, kbase + kKeys, kend, tid, nt, kKeys);
      }
      cp_commit();
      cp_wait<1>();
      __syncthreads();
      if (ks.bits != 16 || vs.bits != 16) {
        ks.dequant(stage, ktab, tid, nt);
        vs.dequant(stage, vtab, tid, nt);
        __syncthreads();
      }
    }

    // S = Q K^T over the 64 keys: 8 n-tiles of 8 keys.
    float s[8][4];
#pragma unroll
    for (int n = 0; n < 8; ++n) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0;
    const __half* kt_s = ks.tile(stage);
#pragma unroll
    for (int kk = 0; kk < kD / 16; ++kk) {
      uint32_t qa[4];
      ldsm_x4(q_base + swz((lane & 7) + ((lane >> 3) & 1) * 8, 2 * kk + (lane >> 4)) * 2, qa);
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        uint32_t b[4];
        ldsm_x4(smem_addr(kt_s + swz(16 * j + (lane & 7) + ((lane >> 4) << 3), 2 * kk + ((lane >> 3) & 1))), b);
        mma16816(s[2 * j], qa, b[0], b[1]);
        mma16816(s[2 * j + 1], qa, b[2], b[3]);
      }
    }
    if (kbase + kKeys - 1 > a.pos + r0) {  // the tile crosses the diagonal of some row
#pragma unroll
      for (int n = 0; n < 8; ++n) {
        const int key = kbase + 8 * n + 2 * t;
        if (key > p0) s[n][0] = kNegInf;
        if (key + 1 > p0) s[n][1] = kNegInf;
        if (key > p1) s[n][2] = kNegInf;
        if (key + 1 > p1) s[n][3] = kNegInf;
      }
    }
    float mx0 = kNegInf, mx1 = kNegInf;
#pragma unroll
    for (int n = 0; n < 8; ++n) {
      mx0 = fmaxf(mx0, fmaxf(s[n][0], s[n][1]));
      mx1 = fmaxf(mx1, fmaxf(s[n][2], s[n][3]));
    }
#pragma unroll
    for (int x = 1; x < 4; x <<= 1) {
      mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, x));
      mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, x));
    }
    // Finite: key 0 is in tile 0 and unmasked for every row.
    const float n0 = fmaxf(m0, mx0), n1 = fmaxf(m1, mx1);
    const float c0 = __expf(m0 - n0), c1 = __expf(m1 - n1);
    m0 = n0;
    m1 = n1;
    l0 *= c0;
    l1 *= c1;
    // Past the first tiles the running maxima rarely move: skip the 128 multiplies then.
    if (__any_sync(0xffffffffu, c0 != 1.0f || c1 != 1.0f)) {
#pragma unroll
      for (int n = 0; n < kD / 8; ++n) {
        o[n][0] *= c0;
        o[n][1] *= c0;
        o[n][2] *= c1;
        o[n][3] *= c1;
      }
    }
    // P in fp16 as the A operand; l sums the rounded weights the mma actually uses.
    uint32_t pa[8][2];
#pragma unroll
    for (int n = 0; n < 8; ++n) {
      const __half2 h0 = __floats2half2_rn(__expf(s[n][0] - n0), __expf(s[n][1] - n0));
      const __half2 h1 = __floats2half2_rn(__expf(s[n][2] - n1), __expf(s[n][3] - n1));
      const float2 f0 = __half22float2(h0), f1 = __half22float2(h1);
      l0 += f0.x + f0.y;
      l1 += f1.x + f1.y;
      pa[n][0] = *reinterpret_cast<const uint32_t*>(&h0);
      pa[n][1] = *reinterpret_cast<const uint32_t*>(&h1);
    }
    // O += P V: V rows are keys (the k dimension), so its fragments load transposed.
    const __half* vt_s = vs.tile(stage);
#pragma unroll
    for (int kk = 0; kk < kKeys / 16; ++kk) {
      const uint32_t pk[4] = {pa[2 * kk][0], pa[2 * kk][1], pa[2 * kk + 1][0], pa[2 * kk + 1][1]};
#pragma unroll
      for (int c = 0; c < kD / 16; ++c) {
        uint32_t b[4];
        ldsm_x4_t(smem_addr(vt_s + swz(16 * kk + (lane & 7) + ((lane >> 3) & 1) * 8, 2 * c + (lane >> 4))), b);
        mma16816(o[2 * c], pk, b[0], b[1]);
        mma16816(o[2 * c + 1], pk, b[2], b[3]);
      }
    }
    if (AHEAD) {
      if (kt + 2 < tiles) {  // norms(stage) were last read dequantizing tile kt, before the barrier
        ks.store_norm(stage, kn, tid, 0);
        vs.store_norm(stage, vn, tid, kKeys);
      }
    } else {
      if (kt + 1 < tiles) {
        ks.store_norm(stage ^ 1, kn, tid, 0);
        vs.store_norm(stage ^ 1, vn, tid, kKeys);
      }
      __syncthreads();
    }
  }

  // Epilogue: full row sums, O / l through shared memory (the tiles are free now) so that a
  // lane holds 8 consecutive dims of a row for the inverse rotation and the gate.
  cp_wait<0>();
  if (AHEAD) __syncthreads();  // the output staging below reuses the tiles
#pragma unroll
  for (int x = 1; x < 4; x <<= 1) {
    l0 += __shfl_xor_sync(0xffffffffu, l0, x);
    l1 += __shfl_xor_sync(0xffffffffu, l1, x);
  }
  const float i0 = 1.0f / l0, i1 = 1.0f / l1;
  float* ob = reinterpret_cast<float*>(smem + G * kRows * kD * 2) + warp * kRows * kOStride;
#pragma unroll
  for (int n = 0; n < kD / 8; ++n) {
    *reinterpret_cast<float2*>(ob + g * kOStride + 8 * n + 2 * t) = make_float2(o[n][0] * i0, o[n][1] * i0);
    *reinterpret_cast<float2*>(ob + (g + 8) * kOStride + 8 * n + 2 * t) = make_float2(o[n][2] * i1, o[n][3] * i1);
  }
  __syncwarp();
  const int h = kvh * G + warp;
  for (int i = 0; i < rows; ++i) {
    const int row = r0 + i;
    const float4* src = reinterpret_cast<const float4*>(ob + i * kOStride + lane * 8);
    const float4 x = src[0], y = src[1];
    float v[8] = {x.x, x.y, x.z, x.w, y.x, y.y, y.z, y.w};
    if (vs.bits != 16) wht256_warp(v);  // back from the rotated domain
    const float* gate = a.proj + size_t(row) * a.proj_stride + h * 2 * kD + kD + lane * 8;
    float* dst = a.out + (size_t(row) * a.heads + h) * kD + lane * 8;
#pragma unroll
    for (int e = 0; e < 8; ++e) dst[e] = v[e] / (1.0f + __expf(-gate[e]));
  }
}

template <int G, bool AHEAD>
void launch(const AttentionPrefillArgs& a, cudaStream_t stream) {
  const int bytes = smem_bytes(G, a.cache.k.bits, a.cache.v.bits, AHEAD);
  // The largest layout once per kernel (fp16 K and V; Q5 codes with AHEAD); the others fit under it.
  static const cudaError_t attr = cudaFuncSetAttribute(flash_kernel<G, AHEAD>,
                                                       cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                       AHEAD ? smem_bytes(G, 5, 5, true) : smem_bytes(G, 16, 16, false));
  check(attr, "cudaFuncSetAttribute(flash_attention_prefill)");
  flash_kernel<G, AHEAD><<<dim3(a.cache.kv_heads, (a.T + kRows - 1) / kRows), G * 32, bytes, stream>>>(a);
  check_launch("flash_attention_prefill");
}

}  // namespace

bool flash_attention_supports_group(int group) { return group == 4 || group == 6; }

void flash_attention_causal(const AttentionPrefillArgs& a, cudaStream_t stream) {
  const bool codes = a.cache.k.bits != 16 && a.cache.v.bits != 16;
  const bool six = a.heads / a.cache.kv_heads == 6;
  if (codes)
    six ? launch<6, true>(a, stream) : launch<4, true>(a, stream);
  else
    six ? launch<6, false>(a, stream) : launch<4, false>(a, stream);
}

}  // namespace hlwq::cuda
