// The Q3 pair-index gather of the tensor-core attention (kernels/attention_q3_pairs.h), on the
// host, bit for bit: random Q3 vectors are packed as hlwq-format.md section 5 / kv_cache.h lay
// them out (a plane of 2-bit lows, lane l's 8 dims as 16-bit word l with dim 8l+i at bits 2i;
// then a byte of high bits per lane, bit i = dim 8l+i), each mma thread c's 24 bytes are taken
// as attention_mma.cu loads them (16 B of lows at 16c, 8 B of high bits at 64 + 8c), gathered,
// and every pair's 6-bit field must decode (through the pair table's layout) to the codes of
// its two dims. Each gathered bit is a copy of one input bit, so random vectors (every bit
// both ways many times) pin the routing down; no GPU needed.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "attention_q3_pairs.h"

namespace hlwq::cuda::test {
namespace {

constexpr int kDims = 256;

std::vector<uint8_t> pack_q3(const std::vector<int>& code) {
  std::vector<uint8_t> v(kDims * 3 / 8, 0);
  for (int d = 0; d < kDims; ++d) {
    const int lane = d / 8, i = d % 8;
    const int lo_bit = 16 * lane + 2 * i;  // little-endian 16-bit word `lane`
    v[lo_bit / 8] |= uint8_t((code[d] & 3) << (lo_bit % 8));
    v[64 + lane] |= uint8_t(((code[d] >> 2) & 1) << i);
  }
  return v;
}

uint32_t word_at(const std::vector<uint8_t>& v, int byte) {
  uint32_t w;
  std::memcpy(&w, v.data() + byte, 4);  // little-endian, as the GPU reads it
  return w;
}

TEST(AttentionQ3Pairs, GatheredIndexesDecodeToTheCodesOfEachPair) {
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> pick(0, 7);
  std::vector<int> code(kDims);
  int checked = 0;
  for (int vec = 0; vec < 4000; ++vec) {
    for (int d = 0; d < kDims; ++d) code[d] = vec == 0 ? 0 : vec == 1 ? 7 : pick(rng);  // extremes first
    const auto bytes = pack_q3(code);
    for (int c = 0; c < 4; ++c) {
      uint32_t w[6];
      for (int i = 0; i < 4; ++i) w[i] = word_at(bytes, 16 * c + 4 * i);
      for (int i = 0; i < 2; ++i) w[4 + i] = word_at(bytes, 64 + 8 * c + 4 * i);
      uint32_t g[8];
      q3_pairs::gather(w[0], w[1], w[4], g);
      q3_pairs::gather(w[2], w[3], w[5], g + 4);
      for (int j = 0; j < 32; ++j) {
        const uint32_t idx = (g[q3_pairs::word(j)] >> q3_pairs::shift(j)) & 63u;
        uint32_t a, b;
        q3_pairs::codes(idx, a, b);
        const int d = 64 * c + 2 * j;
        ASSERT_EQ(int(a), code[d]) << "vector " << vec << " thread " << c << " pair " << j;
        ASSERT_EQ(int(b), code[d + 1]) << "vector " << vec << " thread " << c << " pair " << j;
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 4000 * 4 * 32);
}

// The host stand-in for __byte_perm against its documented meaning on a few selectors.
TEST(AttentionQ3Pairs, BytePermPicksBytes) {
  EXPECT_EQ(q3_pairs::byte_perm(0x33221100u, 0x77665544u, 0x6420), 0x66442200u);
  EXPECT_EQ(q3_pairs::byte_perm(0x33221100u, 0x77665544u, 0x7531), 0x77553311u);
  EXPECT_EQ(q3_pairs::byte_perm(0x33221100u, 0x77665544u, 0x0123), 0x00112233u);
}

}  // namespace
}  // namespace hlwq::cuda::test
