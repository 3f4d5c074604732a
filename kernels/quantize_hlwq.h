#pragma once
// HLWQ weight quantization on the GPU (hlwq-format.md sections 1 and 3.1): dense rows in,
// big-endian packed codes and fp16 block scales out. One warp per 128-block. Bit-exact with the
// CPU's quantize_block: the same float32 butterfly order, the same float64 partial sums for the
// norm and the MSE scale, the same midpoint count for the code, the same fp16 rounding.
#include <cuda_runtime.h>

#include <cstdint>

namespace hlwq::cuda {

enum class QuantSource : int { BF16 = 0, F16 = 1, F32 = 2 };

struct HlwqQuantizeParams {
  int bits = 5;        // 2..5
  int mids = 31;       // 2^bits - 1
  int mse = 0;         // 1: MSE-optimal scale n*<z,c>/<c,c>; 0: the block norm
  float centroids[32] = {};
  float mid[31] = {};  // (c_k + c_k+1) * 0.5f in float32, as the CPU's CodeSearch computes them
};

// Fills mids from centroids (host). Throws Error{InvalidArgument} for bits outside 2..5 or a
// table of the wrong size.
HlwqQuantizeParams make_quantize_params(int bits, const float* centroids, int count, bool mse);

// src: rows x cols values of `type`, row-major, contiguous, on the device. packed: rows *
// ceil(cols/128) * 16 * bits bytes; scales: rows * ceil(cols/128) fp16 bits (0x7e00 for a block
// with NaN/inf or a norm beyond float32: its codes are then zero). Asynchronous on `stream`.
void quantize_hlwq(const void* src, QuantSource type, int64_t rows, int64_t cols, const HlwqQuantizeParams& params,
                   uint8_t* packed, uint16_t* scales, cudaStream_t stream);

}  // namespace hlwq::cuda
