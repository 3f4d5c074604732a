#pragma once
// Q3 pair indexes for the tensor-core attention (attention_mma.cu), gathered once per cached
// vector instead of once per lookup. A Q3 pair index (two adjacent dims: their low 2 bits and
// their high bit each, 6 bits) takes bits from two places of the cache layout (kv_cache.h: a
// plane of 2-bit lows, then a byte of high bits per 8 dims), which cost two shifts, two masks
// and an OR per lookup. Here the 16 indexes of 32 dims are first gathered into four words,
// one index per byte (bits 0-5; bits 6-7 are don't-care), with 11 instructions per 16 pairs
// (two PRMT, five shifts, four LOP3 bit-selects); a lookup then costs one shift and one mask,
// as for Q4. Index bit order as attention_mma.cu's table: lo(a) | lo(b) << 2 | hi(a) << 4 |
// hi(b) << 5. Host-callable so that the test checks it bit for bit against the layout.
#include <cstdint>

#ifdef __CUDACC__
#define HLWQ_Q3_HD __host__ __device__ __forceinline__
#else
#define HLWQ_Q3_HD inline
#endif

namespace hlwq::cuda::q3_pairs {

// CUDA's __byte_perm (default mode): byte n of the result is byte (s >> 4n) & 7 of y:x.
HLWQ_Q3_HD uint32_t byte_perm(uint32_t x, uint32_t y, uint32_t s) {
#ifdef __CUDA_ARCH__
  return __byte_perm(x, y, s);
#else
  const uint64_t v = uint64_t(y) << 32 | x;
  uint32_t r = 0;
  for (int n = 0; n < 4; ++n) r |= uint32_t(v >> (8 * ((s >> (4 * n)) & 7)) & 255u) << (8 * n);
  return r;
#endif
}

// Bits of a where m is set, of b elsewhere (one LOP3).
HLWQ_Q3_HD uint32_t select(uint32_t a, uint32_t b, uint32_t m) { return (a & m) | (b & ~m); }

// One group of 32 dims: lo0 / lo1 = the 2-bit lows of dims 0-15 / 16-31 (dim d at bits 2d),
// hi = their high bits (dim d at bit d). Out: g[s] byte b = the index of dims 8b + 2s, +1.
HLWQ_Q3_HD void gather(uint32_t lo0, uint32_t lo1, uint32_t hi, uint32_t* g) {
  const uint32_t p0 = byte_perm(lo0, lo1, 0x6420);  // byte b: lows of dims 8b..8b+3
  const uint32_t p1 = byte_perm(lo0, lo1, 0x7531);  // byte b: lows of dims 8b+4..8b+7
  // Each select puts a pair's 4 low bits at bits 0-3 of byte b and the two high bits of the
  // same dims (hi bits 8b + 2s, +1) at bits 4-5 by one shift of hi.
  g[0] = select(p0, hi << 4, 0x0F0F0F0Fu);
  g[1] = select(p0 >> 4, hi << 2, 0x0F0F0F0Fu);
  g[2] = select(p1, hi, 0x0F0F0F0Fu);
  g[3] = select(p1 >> 4, hi >> 2, 0x0F0F0F0Fu);
}

// The codes of the pair's first and second dim from its index (the table's layout).
HLWQ_Q3_HD void codes(uint32_t idx, uint32_t& a, uint32_t& b) {
  a = (idx & 3u) | ((idx >> 4) & 1u) << 2;
  b = ((idx >> 2) & 3u) | ((idx >> 5) & 1u) << 2;
}

// Pair j (dims 2j, 2j+1) of a thread's 64 dims, after gather() of dims 0-31 into words 0-3
// and of dims 32-63 into words 4-7: its word and the shift of its byte.
HLWQ_Q3_HD constexpr int word(int j) { return 4 * (j >> 4) + (j & 3); }
HLWQ_Q3_HD constexpr int shift(int j) { return 8 * ((j >> 2) & 3); }

}  // namespace hlwq::cuda::q3_pairs
