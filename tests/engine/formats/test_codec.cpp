// Codec tests against the spec: test vectors, the Hadamard definition, codebook MSE on N(0,1).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/error.h"
#include "core/half.h"
#include "formats/hlwq_codec.h"

using namespace hlwq;

namespace {

std::vector<uint8_t> pack(CodePacking p, int bits, const std::vector<uint8_t>& codes) {
  std::vector<uint8_t> out(packed_bytes(p, bits, codes.size()));
  pack_codes(p, bits, codes.data(), codes.size(), out.data());
  return out;
}

std::vector<uint8_t> unpack(CodePacking p, int bits, const std::vector<uint8_t>& packed, std::size_t n) {
  std::vector<uint8_t> out(n);
  unpack_codes(p, bits, packed.data(), n, out.data());
  return out;
}

}  // namespace

TEST(Codec, BigEndianQ5TestVectors) {
  EXPECT_EQ(pack(CodePacking::BigEndianStream, 5, {1, 2, 3, 4, 5, 6, 7, 8}),
            (std::vector<uint8_t>{0x08, 0x86, 0x42, 0x98, 0xe8}));
  EXPECT_EQ(pack(CodePacking::BigEndianStream, 5, {31, 0, 31, 0, 31, 0, 31, 0}),
            (std::vector<uint8_t>{0xf8, 0x3e, 0x0f, 0x83, 0xe0}));
}

TEST(Codec, LittleEndianQ5TestVector) {
  EXPECT_EQ(pack(CodePacking::LittleEndianQ5, 5, {1, 2, 3, 4, 5, 6, 7, 8}),
            (std::vector<uint8_t>{0x41, 0x0c, 0x52, 0xcc, 0x41}));
}

TEST(Codec, SmallWidthStreamsFollowTheSpecFormulas) {
  const std::vector<uint8_t> c = {5, 3, 6, 1, 7, 2, 4, 0};
  // Q3: b0 = c0<<5|c1<<2|c2>>1 ; b1 = (c2&1)<<7|c3<<4|c4<<1|c5>>2 ; b2 = (c5&3)<<6|c6<<3|c7
  EXPECT_EQ(pack(CodePacking::BigEndianStream, 3, c),
            (std::vector<uint8_t>{uint8_t(c[0] << 5 | c[1] << 2 | c[2] >> 1),
                                  uint8_t((c[2] & 1) << 7 | c[3] << 4 | c[4] << 1 | c[5] >> 2),
                                  uint8_t((c[5] & 3) << 6 | c[6] << 3 | c[7])}));
  const std::vector<uint8_t> c2 = {3, 1, 2, 0, 0, 2, 1, 3};
  EXPECT_EQ(pack(CodePacking::BigEndianStream, 2, c2),
            (std::vector<uint8_t>{uint8_t(3 << 6 | 1 << 4 | 2 << 2 | 0), uint8_t(0 << 6 | 2 << 4 | 1 << 2 | 3)}));
  const std::vector<uint8_t> c4 = {15, 1, 2, 14, 0, 9, 7, 8};
  EXPECT_EQ(pack(CodePacking::BigEndianStream, 4, c4), (std::vector<uint8_t>{0xf1, 0x2e, 0x09, 0x78}));
}

TEST(Codec, HalfBlockNibbles) {
  std::vector<uint8_t> codes(128);
  for (int i = 0; i < 128; ++i) codes[i] = uint8_t((i * 7) % 16);
  const auto packed = pack(CodePacking::HalfBlockNibbles, 4, codes);
  ASSERT_EQ(packed.size(), 64u);
  for (int i = 0; i < 64; ++i) EXPECT_EQ(packed[i], uint8_t(codes[64 + i] << 4 | codes[i]));
}

TEST(Codec, EveryPackingRoundTrips) {
  std::mt19937 rng(1);
  struct Case { CodePacking p; int bits; };
  for (auto [p, bits] : {Case{CodePacking::BigEndianStream, 2}, Case{CodePacking::BigEndianStream, 3},
                         Case{CodePacking::BigEndianStream, 4}, Case{CodePacking::BigEndianStream, 5},
                         Case{CodePacking::LittleEndianQ5, 5}, Case{CodePacking::HalfBlockNibbles, 3},
                         Case{CodePacking::HalfBlockNibbles, 4}, Case{CodePacking::Int8, 5}}) {
    std::vector<uint8_t> codes(128 * 7);
    for (auto& c : codes) c = uint8_t(rng() % (1u << bits));
    EXPECT_EQ(unpack(p, bits, pack(p, bits, codes), codes.size()), codes) << int(p) << " " << bits;
  }
}

TEST(Codec, PackingRejectsImpossibleWidths) {
  EXPECT_THROW(packed_bytes(CodePacking::LittleEndianQ5, 4, 128), Error);
  EXPECT_THROW(packed_bytes(CodePacking::BigEndianStream, 6, 128), Error);
  EXPECT_THROW(packed_bytes(CodePacking::BigEndianStream, 5, 7), Error);
}

TEST(Codec, WhtMatchesTheSylvesterDefinition) {
  // H_1 = [1], H_2n = [[H, H], [H, -H]] / sqrt(2), built in double independently of the butterflies.
  std::vector<double> h = {1.0};
  for (int n = 1; n < 128; n *= 2) {
    std::vector<double> next(4 * n * n);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) {
        const double v = h[i * n + j] / std::sqrt(2.0);
        next[i * 2 * n + j] = v;
        next[i * 2 * n + j + n] = v;
        next[(i + n) * 2 * n + j] = v;
        next[(i + n) * 2 * n + j + n] = -v;
      }
    h = std::move(next);
  }
  std::mt19937 rng(2);
  std::normal_distribution<float> nd;
  std::vector<float> x(128), y(128);
  for (auto& v : x) v = nd(rng);
  y = x;
  wht128(y.data());
  for (int i = 0; i < 128; ++i) {
    double ref = 0;
    for (int j = 0; j < 128; ++j) ref += h[i * 128 + j] * x[j];
    EXPECT_NEAR(y[i], ref, 1e-5);
  }
  wht128(y.data());  // its own inverse
  for (int i = 0; i < 128; ++i) EXPECT_NEAR(y[i], x[i], 1e-5);
}

TEST(Codec, CodebooksAreSymmetricIncreasingAndComplete) {
  for (Codebook b : {Codebook::Converged, Codebook::ReferenceLoader})
    for (int bits = 2; bits <= 5; ++bits) {
      const auto t = codebook_table(b, bits);
      ASSERT_EQ(t.size(), std::size_t(1) << bits);
      for (std::size_t k = 0; k < t.size(); ++k) {
        EXPECT_EQ(t[k], -t[t.size() - 1 - k]);
        if (k) EXPECT_LT(t[k - 1], t[k]);
      }
    }
  EXPECT_EQ(codebook_table(Codebook::ReferenceQuantizer, 5).size(), 32u);
  EXPECT_THROW(codebook_table(Codebook::ReferenceQuantizer, 4), Error);
  EXPECT_EQ(parse_codebook("reference-loader"), Codebook::ReferenceLoader);
  EXPECT_THROW(parse_codebook("lloyd"), Error);
}

// Spec section 2: each table's MSE on N(0,1) must be reproduced within 1%.
TEST(Codec, ScalarMseOnGaussianMatchesSpecTable) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> nd;
  const int n = 2'000'000;
  std::vector<float> z(n);
  for (auto& v : z) v = float(nd(rng));
  std::vector<uint8_t> codes(n);
  struct Case { Codebook b; int bits; };
  for (auto [b, bits] : {Case{Codebook::Converged, 5}, Case{Codebook::Converged, 4}, Case{Codebook::Converged, 3},
                         Case{Codebook::Converged, 2}, Case{Codebook::ReferenceLoader, 5},
                         Case{Codebook::ReferenceQuantizer, 5}}) {
    const auto t = codebook_table(b, bits);
    quantize_scalars(z.data(), n, t, codes.data());
    double se = 0;
    for (int i = 0; i < n; ++i) se += (double(z[i]) - t[codes[i]]) * (double(z[i]) - t[codes[i]]);
    const double mse = se / n, want = codebook_spec_mse(b, bits);
    EXPECT_NEAR(mse, want, 0.01 * want) << codebook_name(b) << " " << bits;
  }
}

TEST(Codec, NearestCentroidTiesGoLow) {
  const auto t = codebook_table(Codebook::Converged, 2);
  const float mid = (t[1] + t[2]) * 0.5f;  // 0 for a symmetric table
  uint8_t code;
  quantize_scalars(&mid, 1, t, &code);
  EXPECT_EQ(code, 1);
  const float big = 100.f, small = -100.f;
  quantize_scalars(&big, 1, t, &code);
  EXPECT_EQ(code, 3);
  quantize_scalars(&small, 1, t, &code);
  EXPECT_EQ(code, 0);
}

TEST(Codec, BlockRoundTripOnGaussianWeights) {
  std::mt19937 rng(4);
  std::normal_distribution<float> nd(0.0f, 0.02f);
  for (int bits = 2; bits <= 5; ++bits) {
    const auto t = codebook_table(Codebook::Converged, bits);
    for (ScaleKind sk : {ScaleKind::Norm, ScaleKind::Mse}) {
      double err = 0, energy = 0, cos_sum = 0;
      const int blocks = 4000;
      for (int b = 0; b < blocks; ++b) {
        float x[128], y[128];
        uint8_t codes[128];
        for (auto& v : x) v = nd(rng);
        const uint16_t s = quantize_block(x, t, sk, codes);
        dequantize_block(codes, s, t, y);
        double dot = 0, xx = 0, yy = 0;
        for (int j = 0; j < 128; ++j) {
          err += (x[j] - y[j]) * double(x[j] - y[j]);
          energy += double(x[j]) * x[j];
          dot += double(x[j]) * y[j];
          xx += double(x[j]) * x[j];
          yy += double(y[j]) * y[j];
        }
        cos_sum += dot / std::sqrt(xx * yy);
      }
      const double rel = err / energy, spec = codebook_spec_mse(Codebook::Converged, bits);
      // A block's rotated coordinates are close to, not exactly, N(0,1): allow 5%. The MSE
      // scale can only lower the error.
      if (sk == ScaleKind::Norm) EXPECT_NEAR(rel, spec, 0.05 * spec) << bits;
      else EXPECT_LT(rel, spec * 1.02) << bits;
      EXPECT_NEAR(cos_sum / blocks, std::sqrt(1 - spec), 0.002) << bits;
    }
  }
}

TEST(Codec, NonFiniteBlockIsFlagged) {
  float x[128] = {};
  x[5] = std::nanf("");
  uint8_t codes[128];
  EXPECT_EQ(quantize_block(x, codebook_table(Codebook::Converged, 5), ScaleKind::Norm, codes), 0x7e00);
}

TEST(Codec, DequantizeRowsAndUnpackRowCodesAgreeWithBlocks) {
  std::mt19937 rng(5);
  std::normal_distribution<float> nd;
  for (int bits : {3, 4, 5}) {
    const int64_t rows = 5, cols = 300, nb = 3;  // cols not a multiple of 128: padded
    const auto t = codebook_table(Codebook::Converged, bits);
    std::vector<uint8_t> codes(rows * nb * 128);
    std::vector<uint16_t> norms(rows * nb);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t b = 0; b < nb; ++b) {
        float x[128] = {};
        for (int j = 0; j < 128 && b * 128 + j < cols; ++j) x[j] = nd(rng);
        norms[r * nb + b] = quantize_block(x, t, ScaleKind::Norm, &codes[(r * nb + b) * 128]);
      }
    std::vector<uint8_t> packed(packed_bytes(CodePacking::BigEndianStream, bits, codes.size()));
    pack_codes(CodePacking::BigEndianStream, bits, codes.data(), codes.size(), packed.data());
    QuantTensor q;
    q.name = "w";
    q.rows = rows;
    q.cols = cols;
    q.blocks_per_row = nb;
    q.bits = bits;
    q.codebook.assign(t.begin(), t.end());
    q.codes = packed;
    q.norms = norms;
    validate_quant_tensor(q, "test");
    std::vector<float> out(2 * cols);
    dequantize_rows(q, 2, 2, out.data());
    std::vector<uint8_t> row(nb * 128);
    for (int64_t r = 2; r < 4; ++r) {
      unpack_row_codes(q, r, row.data());
      EXPECT_TRUE(std::equal(row.begin(), row.end(), codes.begin() + r * nb * 128));
      for (int64_t b = 0; b < nb; ++b) {
        float y[128];
        dequantize_block(&codes[(r * nb + b) * 128], norms[r * nb + b], t, y);
        for (int j = 0; j < 128 && b * 128 + j < cols; ++j) EXPECT_EQ(out[(r - 2) * cols + b * 128 + j], y[j]);
      }
    }
    EXPECT_THROW(dequantize_rows(q, 4, 2, out.data()), Error);
  }
}

// The grid search must equal the plain rule (count of float32 midpoints strictly below z)
// everywhere, including exactly on and one ulp either side of every midpoint.
TEST(Codec, CodeSearchEqualsTheMidpointRule) {
  std::mt19937 rng(6);
  std::normal_distribution<float> nd(0.0f, 2.0f);
  for (Codebook b : {Codebook::Converged, Codebook::ReferenceLoader})
    for (int bits = 2; bits <= 5; ++bits) {
      const auto t = codebook_table(b, bits);
      const CodeSearch search(t);
      std::vector<float> zs = {0.0f, -0.0f, 1e30f, -1e30f, INFINITY, -INFINITY};
      for (std::size_t k = 0; k + 1 < t.size(); ++k) {
        const float m = (t[k] + t[k + 1]) * 0.5f;
        zs.insert(zs.end(), {m, std::nextafter(m, 1e9f), std::nextafter(m, -1e9f)});
      }
      for (int i = 0; i < 100000; ++i) zs.push_back(nd(rng));
      for (float z : zs) {
        int want = 0;
        for (std::size_t k = 0; k + 1 < t.size(); ++k) want += (t[k] + t[k + 1]) * 0.5f < z;
        ASSERT_EQ(search.code(z), want) << z;
      }
    }
}
