#pragma once
// The GPU layout of one attention layer's KV cache. K and V each have their own precision:
// fp16 (bits 16) or HLWQ codes (5/4/3/2 bits, hlwq-format.md section 5) of the rotated,
// normalised vector, stored so that lane l of a warp finds the codes of dims 8l..8l+7
// together: Q4 as 32-bit word l (dim 8l+i at bits 4i), Q2 as 16-bit word l (bits 2i), Q3 as
// a Q2-style plane of the low two bits (64 bytes) followed by one byte per lane of high bits,
// Q5 as a Q4-style plane of the low four bits (128 bytes) followed by one byte per lane of
// fifth bits (bit i for dim 8l+i). Bytes per vector = head_dim * bits / 8 (+ an fp16 norm),
// the spec's sizes. kv_pack_lane / kv_unpack_lane below are the only code that knows this
// order: every kernel that writes or reads the cache (decode, prefill) goes through them.
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

#ifdef __CUDACC__
// Writes lane `lane`'s 8 codes c[0..8) (dims 8*lane..8*lane+7) into one vector's bytes.
__device__ __forceinline__ void kv_pack_lane(int bits, const uint8_t* c, uint8_t* vec, int lane) {
  if (bits == 4 || bits == 5) {
    uint32_t w = 0, hi = 0;
    for (int i = 0; i < 8; ++i) {
      w |= uint32_t(c[i] & 15) << (4 * i);
      hi |= uint32_t(c[i] >> 4) << i;
    }
    reinterpret_cast<uint32_t*>(vec)[lane] = w;
    if (bits == 5) vec[128 + lane] = uint8_t(hi);
  } else {
    uint32_t lo = 0, hi = 0;
    for (int i = 0; i < 8; ++i) {
      lo |= uint32_t(c[i] & 3) << (2 * i);
      hi |= uint32_t(c[i] >> 2) << i;
    }
    reinterpret_cast<uint16_t*>(vec)[lane] = uint16_t(lo);
    if (bits == 3) vec[64 + lane] = uint8_t(hi);
  }
}
// Reads lane `lane`'s 8 codes back (BITS 5, 4, 3 or 2).
template <int BITS>
__device__ __forceinline__ void kv_unpack_lane(const uint8_t* vec, int lane, uint32_t (&code)[8]) {
  if constexpr (BITS == 4 || BITS == 5) {
    const uint32_t w = reinterpret_cast<const uint32_t*>(vec)[lane];
    const uint32_t hi = BITS == 5 ? vec[128 + lane] : 0u;
#pragma unroll
    for (int i = 0; i < 8; ++i) code[i] = ((w >> (4 * i)) & 15u) | (((hi >> i) & 1u) << 4);
  } else {
    const uint32_t lo = reinterpret_cast<const uint16_t*>(vec)[lane];
    const uint32_t hi = BITS == 3 ? vec[64 + lane] : 0u;
#pragma unroll
    for (int i = 0; i < 8; ++i) code[i] = ((lo >> (2 * i)) & 3u) | (((hi >> i) & 1u) << 2);
  }
}
#endif

}  // namespace hlwq::cuda
