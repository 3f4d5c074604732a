#include "gemv_q5.h"

#include <string>

#include "core/error.h"
#include "cuda_check.h"
#include "hadamard.cuh"

namespace hlwq::cuda {
namespace {

constexpr int kWarps = 8;
constexpr int kRowsPerWarp = 4;  // rows share each activation load; 4 keeps 8 loads in flight

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

template <GemvInput IN>
__device__ void prologue(const GemvArgs& a, float* xs, float* scratch) {
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
  for (int chunk = warp; chunk < cols / 128; chunk += kWarps) {
    const int c0 = chunk * 128 + lane * 4;
    const float4 v4 = *reinterpret_cast<const float4*>(a.in + c0);
    float v[4] = {v4.x, v4.y, v4.z, v4.w};
    if constexpr (IN == GemvInput::RmsNorm1p) {
      const float4 w4 = *reinterpret_cast<const float4*>(a.norm_w + c0);
      v[0] *= scale * (1.0f + w4.x); v[1] *= scale * (1.0f + w4.y);
      v[2] *= scale * (1.0f + w4.z); v[3] *= scale * (1.0f + w4.w);
    } else if constexpr (IN == GemvInput::GatedNorm) {
      float ss = v[0] * v[0] + v[1] * v[1] + v[2] * v[2] + v[3] * v[3];
      for (int m = 16; m; m >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, m);
      const float r = rsqrtf(ss / 128.0f + a.eps);
      const float4 w4 = *reinterpret_cast<const float4*>(a.norm_w + lane * 4);
      const float4 g4 = *reinterpret_cast<const float4*>(a.gate + c0);
      v[0] *= r * w4.x * silu(g4.x); v[1] *= r * w4.y * silu(g4.y);
      v[2] *= r * w4.z * silu(g4.z); v[3] *= r * w4.w * silu(g4.w);
    }
    wht128_warp(v);
    *reinterpret_cast<float4*>(xs + padded(c0)) = make_float4(v[0], v[1], v[2], v[3]);
  }
}

// Dot product of one 32-weight run with the matching activations.
__device__ __forceinline__ float run_dot(uint4 nib, uint32_t hi, const float* x, const float* tab) {
  const uint32_t w[4] = {nib.x, nib.y, nib.z, nib.w};
  float s = 0;
#pragma unroll
  for (int q = 0; q < 4; ++q) {
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int j = q * 8 + i;
      const uint32_t code = ((w[q] >> (4 * i)) & 15u) | (((hi >> j) & 1u) << 4);
      s = fmaf(tab[code], x[j], s);
    }
  }
  return s;
}

template <GemvInput IN, GemvOutput OUT>
__global__ void __launch_bounds__(kWarps * 32) gemv_q5_kernel(GemvArgs a) {
  extern __shared__ float smem[];
  __shared__ float tab[32];
  __shared__ float scratch[kWarps];
  float* xs = smem;
  if (threadIdx.x < 32) tab[threadIdx.x] = a.codebook[threadIdx.x] * 0.08838834764831845f;  // c / sqrt(128)
  prologue<IN>(a, xs, scratch);
  __syncthreads();

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int runs_per_row = a.w.cols / 32;
  const int blocks_per_row = a.w.cols / 128;
  const int groups = (a.w.rows + kRowsPerWarp - 1) / kRowsPerWarp;
  for (int g = blockIdx.x * kWarps + warp; g < groups; g += gridDim.x * kWarps) {
    const int r0 = g * kRowsPerWarp;
    float acc[kRowsPerWarp] = {};
    for (int run = lane; run < runs_per_row; run += 32) {
      uint4 nib[kRowsPerWarp];
      uint32_t hi[kRowsPerWarp];
      float nrm[kRowsPerWarp];
#pragma unroll
      for (int r = 0; r < kRowsPerWarp; ++r) {
        const int row = min(r0 + r, a.w.rows - 1);
        const size_t idx = size_t(row) * runs_per_row + run;
        nib[r] = __ldcs(a.w.nib + idx);  // streamed once per token: keep it out of L1/L2's way
        hi[r] = __ldcs(a.w.hi + idx);
        nrm[r] = __half2float(a.w.norms[size_t(row) * blocks_per_row + (run >> 2)]);
      }
      float x[32];
      const float* xp = xs + padded(run * 32);
#pragma unroll
      for (int q = 0; q < 8; ++q) {
        const float4 v = *reinterpret_cast<const float4*>(xp + 4 * q);
        x[4 * q] = v.x; x[4 * q + 1] = v.y; x[4 * q + 2] = v.z; x[4 * q + 3] = v.w;
      }
#pragma unroll
      for (int r = 0; r < kRowsPerWarp; ++r) acc[r] = fmaf(run_dot(nib[r], hi[r], x, tab), nrm[r], acc[r]);
    }
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r)
      for (int m = 16; m; m >>= 1) acc[r] += __shfl_xor_sync(0xffffffffu, acc[r], m);
    if (lane == 0) {
      if constexpr (OUT == GemvOutput::SwiGlu) {
#pragma unroll
        for (int r = 0; r < kRowsPerWarp; r += 2)
          if (r0 + r + 1 < a.w.rows) a.out[(r0 + r) / 2] = silu(acc[r]) * acc[r + 1];
      } else {
#pragma unroll
        for (int r = 0; r < kRowsPerWarp; ++r) {
          if (r0 + r >= a.w.rows) break;
          if constexpr (OUT == GemvOutput::AddResidual) a.out[r0 + r] += acc[r];
          else a.out[r0 + r] = acc[r];
        }
      }
    }
  }
}

template <GemvInput IN, GemvOutput OUT>
void launch(const GemvArgs& a, cudaStream_t stream) {
  auto kernel = gemv_q5_kernel<IN, OUT>;
  const std::size_t smem = gemv_q5_smem_bytes(a.w.cols);
  static int max_blocks_per_sm = 0, sms = 0;
  static std::size_t configured_smem = 0;
  if (configured_smem < smem) {  // opt in to more than 48 KiB once per instantiation and size
    check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)),
          "cudaFuncSetAttribute(gemv_q5 shared memory)");
    configured_smem = smem;
  }
  int dev = 0;
  check(cudaGetDevice(&dev), "cudaGetDevice");
  check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev), "cudaDeviceGetAttribute(SM count)");
  check(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&max_blocks_per_sm, kernel, kWarps * 32, smem),
        "cudaOccupancyMaxActiveBlocksPerMultiprocessor(gemv_q5)");
  const int groups = (a.w.rows + kRowsPerWarp - 1) / kRowsPerWarp;
  const int needed = (groups + kWarps - 1) / kWarps;
  const int grid = std::max(1, std::min(needed, sms * std::max(1, max_blocks_per_sm)));
  kernel<<<grid, kWarps * 32, smem, stream>>>(a);
  check_launch("gemv_q5");
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
