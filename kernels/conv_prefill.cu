#include <string>

#include "conv_prefill.h"
#include "core/error.h"
#include "cuda_check.h"

namespace hlwq::cuda {
namespace {

constexpr int kSeg = 32;  // tokens per thread: short serial runs, many threads

__device__ __forceinline__ float silu(float v) { return v / (1.0f + __expf(-v)); }

__device__ __forceinline__ float input_at(const ConvPrefillArgs& a, int t, int c) {
  return t >= 0 ? a.in[size_t(t) * a.in_stride + c] : a.ring[((a.pos + t) & 3) * a.channels + c];
}

// Thread per (channel, segment of kSeg tokens); reads the ring, never writes it.
__global__ void conv_kernel(ConvPrefillArgs a) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= a.channels) return;
  const int t0 = blockIdx.y * kSeg, t1 = min(a.T, t0 + kSeg);
  const float4 w = *reinterpret_cast<const float4*>(a.conv_w + size_t(c) * 4);
  float x0 = input_at(a, t0 - 3, c), x1 = input_at(a, t0 - 2, c), x2 = input_at(a, t0 - 1, c);
  for (int t = t0; t < t1; ++t) {
    const float x3 = a.in[size_t(t) * a.in_stride + c];
    a.out[size_t(t) * a.channels + c] = silu(w.x * x0 + w.y * x1 + w.z * x2 + w.w * x3);
    x0 = x1; x1 = x2; x2 = x3;
  }
}

// After every conv block has read the ring: the chunk's last (up to) 4 inputs go in.
__global__ void ring_kernel(ConvPrefillArgs a) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= a.channels) return;
  for (int t = max(0, a.T - 4); t < a.T; ++t) a.ring[((a.pos + t) & 3) * a.channels + c] = a.in[size_t(t) * a.in_stride + c];
}

}  // namespace

void conv_prefill(const ConvPrefillArgs& a, cudaStream_t stream) {
  if (a.T <= 0 || a.channels <= 0 || a.pos < 0 || a.in_stride < a.channels)
    throw_error(ErrorKind::InvalidArgument, "conv_prefill: T ", std::to_string(a.T), ", channels ",
                std::to_string(a.channels), ", pos ", std::to_string(a.pos), ", in_stride ", std::to_string(a.in_stride));
  const unsigned bx = unsigned((a.channels + 255) / 256);
  conv_kernel<<<dim3(bx, unsigned((a.T + kSeg - 1) / kSeg)), 256, 0, stream>>>(a);
  check_launch("conv_prefill");
  ring_kernel<<<bx, 256, 0, stream>>>(a);
  check_launch("conv_prefill ring");
}

}  // namespace hlwq::cuda
