#include "gemv_q5.h"

#include <cstdlib>
#include <string>

#include "core/error.h"
#include "cuda_check.h"
#include "hadamard.cuh"

namespace hlwq::cuda {
namespace {

constexpr int kWarps = 8;

// Activations in shared memory are padded by 4 floats after every 32 so that lane l reading
// its run of 32 with float4 loads hits distinct banks.
__device__ __forceinline__ int padded(int c) { return c + (c >> 5) * 4; }

__device__ __forceinline__ float silu(float v) { return v / (1.0f + __expf(-v)); }

__device__ float block_sum(float v, float* scratch) {
  for (int m = 16; m; m >>= 1) v += __shfl_xor_sync(0xffffffffu, v, m);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float s = 0;
  for (int i = 0; i < kWarps; ++i) s += scratch[i];
  return s;
}

// Fills xs with the rotated input for columns [c0, c1) (this block's K segment).
template <GemvInput IN>
__device__ void prologue(const GemvArgs& a, float* xs, float* scratch, int c0, int c1) {
  const int cols = a.w.cols;
  float scale = 1.0f;
  if constexpr (IN == GemvInput::RmsNorm1p) {
    float ss = 0;
    for (int c = threadIdx.x * 4; c < cols; c += blockDim.x * 4) {
      const float4 v = *reinterpret_cast<const float4*>(a.in + c);
      ss += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
    }
    scale = rsqrtf(block_sum(ss, scratch) / cols + a.eps);
  }
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  for (int chunk = c0 / 128 + warp; chunk < c1 / 128; chunk += kWarps) {
    const int c = chunk * 128 + lane * 4;
    const float4 v4 = *reinterpret_cast<const float4*>(a.in + c);
    float v[4] = {v4.x, v4.y, v4.z, v4.w};
    if constexpr (IN == GemvInput::RmsNorm1p) {
      const float4 w4 = *reinterpret_cast<const float4*>(a.norm_w + c);
      v[0] *= scale * (1.0f + w4.x); v[1] *= scale * (1.0f + w4.y);
      v[2] *= scale * (1.0f + w4.z); v[3] *= scale * (1.0f + w4.w);
    } else if constexpr (IN == GemvInput::GatedNorm) {
      float ss = v[0] * v[0] + v[1] * v[1] + v[2] * v[2] + v[3] * v[3];
      for (int m = 16; m; m >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, m);
      const float r = rsqrtf(ss / 128.0f + a.eps);
      const float4 w4 = *reinterpret_cast<const float4*>(a.norm_w + lane * 4);
      const float4 g4 = *reinterpret_cast<const float4*>(a.gate + c);
      v[0] *= r * w4.x * silu(g4.x); v[1] *= r * w4.y * silu(g4.y);
      v[2] *= r * w4.z * silu(g4.z); v[3] *= r * w4.w * silu(g4.w);
    }
    wht128_warp(v);
    *reinterpret_cast<float4*>(xs + padded(c - c0)) = make_float4(v[0], v[1], v[2], v[3]);
  }
}

// Table lookups by byte offset: the offsets are built four at a time in the bytes of one
// register (see q5_matrix.h), so each weight costs about two integer operations, a
// shared-memory load and an FMA.
__device__ __forceinline__ float lut(const float* tab, uint32_t off) {
  return *reinterpret_cast<const float*>(reinterpret_cast<const char*>(tab) + off);
}

template <int K>
__device__ __forceinline__ uint32_t byte_of(uint32_t v) {
  if constexpr (K == 3) return v >> 24;
  else return __byte_perm(v, 0u, 0x4440 + K);
}

// Accumulates one 32-code run of each of R rows. An offset byte is (low nibble << 2) plus
// the fifth bit at bit 6, i.e. 4 * code, so one conflict-free 32-entry table serves all codes.
template <int R>
__device__ __forceinline__ void run_dot(const uint4 (&nib)[R], const uint32_t (&hi)[R], const float* x,
                                        const float* tab, float (&s)[R]) {
#pragma unroll
  for (int q = 0; q < 4; ++q) {
    const float4 xa = *reinterpret_cast<const float4*>(x + 8 * q);
    const float4 xb = *reinterpret_cast<const float4*>(x + 8 * q + 4);
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const uint32_t w = q == 0 ? nib[r].x : q == 1 ? nib[r].y : q == 2 ? nib[r].z : nib[r].w;
      const uint32_t y = hi[r] << (2 * q);  // fifth bits of word q's even codes at bit 6, odd at bit 7
      const uint32_t e = ((w << 2) & 0x3C3C3C3Cu) | (y & 0x40404040u);
      const uint32_t o = ((w >> 2) & 0x3C3C3C3Cu) | ((y >> 1) & 0x40404040u);
      float t = s[r];
      t = fmaf(lut(tab, byte_of<0>(e)), xa.x, t);
      t = fmaf(lut(tab, byte_of<0>(o)), xa.y, t);
      t = fmaf(lut(tab, byte_of<1>(e)), xa.z, t);
      t = fmaf(lut(tab, byte_of<1>(o)), xa.w, t);
      t = fmaf(lut(tab, byte_of<2>(e)), xb.x, t);
      t = fmaf(lut(tab, byte_of<2>(o)), xb.y, t);
      t = fmaf(lut(tab, byte_of<3>(e)), xb.z, t);
      t = fmaf(lut(tab, byte_of<3>(o)), xb.w, t);
      s[r] = t;
    }
  }
}

// R rows per warp share every activation load; RUNS runs per lane per iteration keep
// R x RUNS 20-byte weight loads in flight per lane.
template <int R, int RUNS, GemvInput IN, GemvOutput OUT>
__global__ void __launch_bounds__(kWarps * 32) gemv_q5_kernel(GemvArgs a, int seg_runs) {
  extern __shared__ float smem[];
  __shared__ float tab[32];
  __shared__ float scratch[kWarps];
  float* xs = smem;
  if (threadIdx.x < 32) tab[threadIdx.x] = a.codebook[threadIdx.x] * 0.08838834764831845f;  // c / sqrt(128)
  const int runs_per_row = a.w.cols / 32;
  // blockIdx.y picks a slice of the input dimension (split-K); its partial sums are added
  // into the output with atomics, which only the residual epilogue allows.
  const int seg_begin = blockIdx.y * seg_runs, seg_end = min(runs_per_row, seg_begin + seg_runs);
  prologue<IN>(a, xs, scratch, seg_begin * 32, seg_end * 32);
  __syncthreads();

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int blocks_per_row = a.w.cols / 128;
  const int groups = (a.w.rows + R - 1) / R;
  for (int g = blockIdx.x * kWarps + warp; g < groups; g += gridDim.x * kWarps) {
    const int r0 = g * R;
    float acc[R] = {};
    for (int base = seg_begin; base < seg_end; base += 32 * RUNS) {
      uint4 nib[RUNS][R];
      uint32_t hi[RUNS][R];
      float nrm[RUNS][R];
#pragma unroll
      for (int k = 0; k < RUNS; ++k) {
        const int run = base + 32 * k + lane;
        const bool has = run < seg_end;
#pragma unroll
        for (int r = 0; r < R; ++r) {
          const size_t row = size_t(min(r0 + r, a.w.rows - 1));
          const size_t i = row * runs_per_row + (has ? run : seg_begin);
          nib[k][r] = __ldcs(a.w.nib + i);  // streamed once per token: keep them from evicting the activations
          hi[k][r] = __ldcs(a.w.hi + i);
          nrm[k][r] = has ? __half2float(a.w.norms[row * blocks_per_row + (run >> 2)]) : 0.0f;
        }
      }
#pragma unroll
      for (int k = 0; k < RUNS; ++k) {
        const int run = base + 32 * k + lane;
        if (run >= seg_end) break;
        float s[R] = {};
        run_dot<R>(nib[k], hi[k], xs + padded((run - seg_begin) * 32), tab, s);
#pragma unroll
        for (int r = 0; r < R; ++r) acc[r] = fmaf(s[r], nrm[k][r], acc[r]);
      }
    }
#pragma unroll
    for (int r = 0; r < R; ++r)
      for (int m = 16; m; m >>= 1) acc[r] += __shfl_xor_sync(0xffffffffu, acc[r], m);
    if (lane == 0) {
      if constexpr (OUT == GemvOutput::SwiGlu) {
#pragma unroll
        for (int r = 0; r < R; r += 2)
          if (r0 + r + 1 < a.w.rows) a.out[(r0 + r) / 2] = silu(acc[r]) * acc[r + 1];
      } else {
#pragma unroll
        for (int r = 0; r < R; ++r) {
          if (r0 + r >= a.w.rows) break;
          if constexpr (OUT == GemvOutput::AddResidual) {
            if (gridDim.y > 1) atomicAdd(a.out + r0 + r, acc[r]);
            else a.out[r0 + r] += acc[r];
          } else {
            a.out[r0 + r] = acc[r];
          }
        }
      }
    }
  }
}

template <int R, int RUNS, GemvInput IN, GemvOutput OUT>
void launch(const GemvArgs& a, cudaStream_t stream) {
  auto kernel = gemv_q5_kernel<R, RUNS, IN, OUT>;
  const int runs = a.w.cols / 32;
  const int groups = (a.w.rows + R - 1) / R;
  // Few rows over a long input (down_proj, o_proj: 5120 x 17408) leave most of the GPU idle
  // with one warp per row group, and few large work items leave a long tail, so residual
  // GEMVs split K into slices of one warp iteration each (atomics add the slices).
  int seg_runs = runs;
  if (OUT == GemvOutput::AddResidual) seg_runs = 32 * RUNS;
  const int splits = (runs + seg_runs - 1) / seg_runs;
  const std::size_t smem = gemv_q5_smem_bytes(std::min(runs, seg_runs) * 32);
  static std::size_t configured_smem = 0;
  if (configured_smem < smem) {  // opt in to more than 48 KiB once per instantiation and size
    check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)),
          "cudaFuncSetAttribute(gemv_q5 shared memory)");
    configured_smem = smem;
  }
  int dev = 0, sms = 0, max_blocks_per_sm = 0;
  check(cudaGetDevice(&dev), "cudaGetDevice");
  check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev), "cudaDeviceGetAttribute(SM count)");
  check(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&max_blocks_per_sm, kernel, kWarps * 32, smem),
        "cudaOccupancyMaxActiveBlocksPerMultiprocessor(gemv_q5)");
  const int needed = (groups + kWarps - 1) / kWarps;
  const int per_split = std::max(1, sms * std::max(1, max_blocks_per_sm) / splits);
  const int grid = std::max(1, std::min(needed, per_split));
  kernel<<<dim3(grid, splits), kWarps * 32, smem, stream>>>(a, seg_runs);
  check_launch("gemv_q5");
}

// 8 rows x 1 run per warp iteration measured faster than 4 x 2 on an H200 (9.7 vs 10.4 ms
// per 27B token); HLWQ_GEMV_ROWS=4 selects the other for A/B timing.
bool four_rows() {
  static const bool v = [] {
    const char* e = std::getenv("HLWQ_GEMV_ROWS");
    return e && std::string(e) == "4";
  }();
  return v;
}

template <GemvInput IN, GemvOutput OUT>
void launch(const GemvArgs& a, cudaStream_t stream) {
  if (four_rows()) launch<4, 2, IN, OUT>(a, stream);
  else launch<8, 1, IN, OUT>(a, stream);
}

}  // namespace

std::size_t gemv_q5_smem_bytes(int cols) { return std::size_t(cols + cols / 32 * 4) * sizeof(float); }

void gemv_q5(const GemvArgs& a, GemvInput input, GemvOutput output, cudaStream_t stream) {
  if (a.w.cols % 128 != 0 || a.w.cols <= 0 || a.w.rows <= 0)
    throw_error(ErrorKind::InvalidArgument, "gemv_q5: matrix ", std::to_string(a.w.rows), "x",
                std::to_string(a.w.cols), " is not a positive multiple of 128 columns");
  if (output == GemvOutput::SwiGlu && a.w.rows % 2 != 0)
    throw_error(ErrorKind::InvalidArgument, "gemv_q5: SwiGLU needs (gate, up) row pairs, got ",
                std::to_string(a.w.rows), " rows");
  if (output == GemvOutput::AddResidual && a.in == a.out)
    throw_error(ErrorKind::InvalidArgument, "gemv_q5: the residual output must not alias the input");
#define HLWQ_GEMV_CASE(I, O) \
  if (input == GemvInput::I && output == GemvOutput::O) return launch<GemvInput::I, GemvOutput::O>(a, stream);
  HLWQ_GEMV_CASE(Plain, Store)
  HLWQ_GEMV_CASE(Plain, AddResidual)
  HLWQ_GEMV_CASE(Plain, SwiGlu)
  HLWQ_GEMV_CASE(RmsNorm1p, Store)
  HLWQ_GEMV_CASE(RmsNorm1p, AddResidual)
  HLWQ_GEMV_CASE(RmsNorm1p, SwiGlu)
  HLWQ_GEMV_CASE(GatedNorm, Store)
  HLWQ_GEMV_CASE(GatedNorm, AddResidual)
  HLWQ_GEMV_CASE(GatedNorm, SwiGlu)
#undef HLWQ_GEMV_CASE
  throw_error(ErrorKind::Internal, "gemv_q5: unknown input/output mode");
}

}  // namespace hlwq::cuda
