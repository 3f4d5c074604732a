// HLWQ block quantization, one warp per 128-block. Lane l holds elements l, l+32, l+64, l+96,
// so loads are coalesced, butterfly stages 1..16 are lane shuffles and 32, 64 stay in registers.
// Every float operation is an explicit _rn intrinsic in the CPU's order (engine/formats/
// hlwq_codec.cpp, quantize_block): no contraction or reassociation may change a rounding, and
// the output file must not depend on where it was made.
#include "quantize_hlwq.h"

#include <cuda_fp16.h>

#include <algorithm>
#include <string>

#include "core/error.h"
#include "cuda_check.h"

namespace hlwq::cuda {
namespace {

constexpr unsigned kFull = 0xffffffffu;
constexpr int kWarpsPerCta = 8;

__device__ __forceinline__ float load_value(const void* src, QuantSource type, int64_t i) {
  switch (type) {
    case QuantSource::BF16: return __uint_as_float(uint32_t(__ldg(static_cast<const unsigned short*>(src) + i)) << 16);
    case QuantSource::F16: return __half2float(__ushort_as_half(__ldg(static_cast<const unsigned short*>(src) + i)));
    default: return __ldg(static_cast<const float*>(src) + i);
  }
}

// core/half.h f32_to_f16, line for line: round to nearest even, overflow to inf, NaN -> 0x7e00.
__device__ uint16_t f32_to_f16_exact(float f) {
  const uint32_t u = __float_as_uint(f);
  const uint32_t sign = (u >> 16) & 0x8000u;
  const uint32_t absu = u & 0x7fffffffu;
  if (absu > 0x7f800000u) return uint16_t(sign | 0x7e00u);
  if (absu >= 0x477ff000u) return uint16_t(sign | 0x7c00u);
  if (absu < 0x38800000u) return uint16_t(sign | uint32_t(rintf(__fmul_rn(__uint_as_float(absu), 16777216.0f))));
  const uint32_t mant = absu & 0x7fffffu;
  const uint32_t exp = (absu >> 23) - 127 + 15;
  uint32_t h = (exp << 10) | (mant >> 13);
  const uint32_t rest = mant & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;
  return uint16_t(sign | h);
}

__global__ void __launch_bounds__(kWarpsPerCta * 32)
    quantize_hlwq_kernel(const void* __restrict__ src, QuantSource type, int64_t rows, int64_t cols, int64_t nb,
                         const HlwqQuantizeParams p, uint8_t* __restrict__ packed, uint16_t* __restrict__ scales) {
  const int lane = threadIdx.x & 31;
  const int64_t nwarps = int64_t(gridDim.x) * kWarpsPerCta;
  const int64_t total = rows * nb;
  const int block_bytes = 16 * p.bits;  // 128 codes of `bits` bits
  for (int64_t blk = int64_t(blockIdx.x) * kWarpsPerCta + (threadIdx.x >> 5); blk < total; blk += nwarps) {
    const int64_t r = blk / nb;
    const int64_t col0 = (blk - r * nb) * 128;
    float x[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int64_t col = col0 + lane + 32 * i;
      x[i] = col < cols ? load_value(src, type, r * cols + col) : 0.0f;  // padding columns are zero
    }

    // Norm: the CPU keeps 8 float64 partial sums, part[k] over elements k, k+8, ..., k+120 in
    // that order. Element k + 8m sits in lane k + 8(m%4), register m/4.
    double part = 0.0;
    const int k = lane & 7;
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        const double v = double(__shfl_sync(kFull, x[i], k + 8 * q));
        part = __dadd_rn(part, __dmul_rn(v, v));
      }
    double pk[8];
#pragma unroll
    for (int t = 0; t < 8; ++t) pk[t] = __shfl_sync(kFull, part, t);
    const double sum = __dadd_rn(__dadd_rn(__dadd_rn(pk[0], pk[1]), __dadd_rn(pk[2], pk[3])),
                                 __dadd_rn(__dadd_rn(pk[4], pk[5]), __dadd_rn(pk[6], pk[7])));
    const float norm = __double2float_rn(__dsqrt_rn(sum));
    uint8_t* out = packed + blk * block_bytes;
    if (!isfinite(norm)) {  // warp-uniform: every lane computed the same sum
      if (lane < block_bytes) out[lane] = 0;
      if (lane + 32 < block_bytes) out[lane + 32] = 0;
      if (lane + 64 < block_bytes) out[lane + 64] = 0;
      if (lane == 0) scales[blk] = 0x7e00;
      continue;
    }
    const float n = fmaxf(norm, 1e-10f);

    // Unnormalised Walsh-Hadamard: stage h pairs (j, j+h) -> (a+b, a-b).
#pragma unroll
    for (int h = 1; h < 32; h <<= 1)
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const float o = __shfl_xor_sync(kFull, x[i], h);
        x[i] = (lane & h) ? __fsub_rn(o, x[i]) : __fadd_rn(x[i], o);
      }
#pragma unroll
    for (int h = 1; h <= 2; h <<= 1)  // element strides 32 and 64: registers i and i + h
#pragma unroll
      for (int i = 0; i < 4; ++i)
        if (!(i & h)) {
          const float a = x[i], b = x[i + h];
          x[i] = __fadd_rn(a, b);
          x[i + h] = __fsub_rn(a, b);
        }

    const float inv = __frcp_rn(n);  // == 1.0f / n, correctly rounded
    float z[4];
    uint32_t code[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      z[i] = __fmul_rn(x[i], inv);
      uint32_t c = 0;
      for (int t = 0; t < p.mids; ++t) c += p.mid[t] < z[i] ? 1u : 0u;  // midpoints strictly below z
      code[i] = c;
    }

    float scale = n;
    if (p.mse) {  // <z,c> and <c,c> in float64, element 0..127 in order, like the CPU
      double zc = 0.0, cc = 0.0;
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const float ci = p.centroids[code[i]];
        for (int l = 0; l < 32; ++l) {
          const double zj = double(__shfl_sync(kFull, z[i], l));
          const double cj = double(__shfl_sync(kFull, ci, l));
          zc = __dadd_rn(zc, __dmul_rn(zj, cj));
          cc = __dadd_rn(cc, __dmul_rn(cj, cj));
        }
      }
      scale = __double2float_rn(__ddiv_rn(__dmul_rn(double(n), zc), cc));
    }

    // Pack: lane g < 16 writes codes 8g..8g+7 (lanes 8g%32.., register g/4) as `bits` bytes,
    // first code in the top bits (spec 3.1).
    const uint32_t word = code[0] | code[1] << 8 | code[2] << 16 | code[3] << 24;
    uint64_t acc = 0;
#pragma unroll
    for (int t = 0; t < 8; ++t) {
      const uint32_t w = __shfl_sync(kFull, word, (8 * lane + t) & 31);
      acc = (acc << p.bits) | ((w >> (8 * ((lane >> 2) & 3))) & 0xffu);
    }
    if (lane < 16) {
      uint8_t* o = out + lane * p.bits;
      for (int b = p.bits - 1; b >= 0; --b, acc >>= 8) o[b] = uint8_t(acc);
    }
    if (lane == 0) scales[blk] = f32_to_f16_exact(scale);
  }
}

}  // namespace

HlwqQuantizeParams make_quantize_params(int bits, const float* centroids, int count, bool mse) {
  if (bits < 2 || bits > 5)
    throw_error(ErrorKind::InvalidArgument, "GPU quantizer: ", std::to_string(bits), " bits (2..5 supported)");
  if (count != (1 << bits))
    throw_error(ErrorKind::InvalidArgument, "GPU quantizer: codebook of ", std::to_string(count), " entries for ",
                std::to_string(bits), " bits");
  HlwqQuantizeParams p;
  p.bits = bits;
  p.mids = count - 1;
  p.mse = mse ? 1 : 0;
  for (int i = 0; i < count; ++i) p.centroids[i] = centroids[i];
  for (int i = 0; i + 1 < count; ++i) p.mid[i] = (centroids[i] + centroids[i + 1]) * 0.5f;
  return p;
}

void quantize_hlwq(const void* src, QuantSource type, int64_t rows, int64_t cols, const HlwqQuantizeParams& params,
                   uint8_t* packed, uint16_t* scales, cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return;
  const int64_t nb = (cols + 127) / 128;
  const int64_t ctas = std::min<int64_t>((rows * nb + kWarpsPerCta - 1) / kWarpsPerCta, int64_t(1) << 20);
  quantize_hlwq_kernel<<<unsigned(ctas), kWarpsPerCta * 32, 0, stream>>>(src, type, rows, cols, nb, params, packed,
                                                                          scales);
  check_launch("quantize_hlwq_kernel");
}

}  // namespace hlwq::cuda
