#pragma once
// The GPU layout of one attention layer's KV cache. K and V each have their own precision:
// fp16 (bits 16) or HLWQ codes (4/3/2 bits, hlwq-format.md section 5) of the rotated,
// normalised vector, stored so that lane l of a warp finds the codes of dims 8l..8l+7
// together: Q4 as 32-bit word l (dim 8l+i at bits 4i), Q2 as 16-bit word l (bits 2i), Q3 as
// a Q2-style plane of the low two bits (64 bytes) followed by one byte per lane of high bits.
// Bytes per vector = head_dim * bits / 8 (+ an fp16 norm), the spec's sizes.
#include <cuda_fp16.h>

#include <cstddef>
#include <cstdint>

namespace hlwq::cuda {

constexpr int kHeadDim = 256;  // Qwen3.5 attention head_dim; the kernels are written for it

__host__ __device__ inline int kv_vector_bytes(int bits) { return bits == 16 ? kHeadDim * 2 : kHeadDim * bits / 8; }

struct KvSide {
  uint8_t* data = nullptr;  // [kv_heads][capacity][kv_vector_bytes(bits)]
  __half* norms = nullptr;  // [kv_heads][capacity], unused at fp16
  int bits = 16;
};

struct KvLayer {
  KvSide k, v;
  int kv_heads = 0;
  int capacity = 0;  // tokens

  static std::size_t side_bytes(int bits, int kv_heads, int capacity) {
    return std::size_t(kv_heads) * capacity * (kv_vector_bytes(bits) + (bits == 16 ? 0 : 2));
  }
};

// Carves one side out of `storage` (side_bytes(...) bytes).
KvSide kv_side_in(void* storage, int bits, int kv_heads, int capacity);

}  // namespace hlwq::cuda
