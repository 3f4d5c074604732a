#include "formats/hlwq_codec.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <string>

#include "core/error.h"
#include "core/half.h"

namespace hlwq {
namespace {

constexpr float kInvSqrt128 = 0.08838834764831845f;

// The 7 butterfly stages on 4-float vectors (GCC/Clang vector extensions, plain SSE2).
// Stages 1 and 2 run inside a vector via shuffles; a + (-b) is exactly a - b in IEEE
// arithmetic, so the result is bit-identical to the scalar definition tools/hlwq_ref uses.
typedef float v4f __attribute__((vector_size(16)));

inline v4f load4(const float* p) {
  v4f v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store4(float* p, v4f v) { std::memcpy(p, &v, sizeof v); }

inline void butterflies(float* x) {
  const v4f sign1 = {1.0f, -1.0f, 1.0f, -1.0f}, sign2 = {1.0f, 1.0f, -1.0f, -1.0f};
  for (int j = 0; j < kHlwqBlock; j += 4) {
    v4f v = load4(x + j);
    v4f a = __builtin_shufflevector(v, v, 0, 0, 2, 2), b = __builtin_shufflevector(v, v, 1, 1, 3, 3);
    v = a + b * sign1;
    a = __builtin_shufflevector(v, v, 0, 1, 0, 1);
    b = __builtin_shufflevector(v, v, 2, 3, 2, 3);
    store4(x + j, a + b * sign2);
  }
  for (int h = 4; h < kHlwqBlock; h <<= 1)
    for (int i = 0; i < kHlwqBlock; i += 2 * h)
      for (int j = i; j < i + h; j += 4) {
        const v4f a = load4(x + j), b = load4(x + j + h);
        store4(x + j, a + b);
        store4(x + j + h, a - b);
      }
}

// Specialised bit widths of the MSB-first stream: 8 codes in `bits` bytes.
template <int Bits>
void pack_be(const uint8_t* codes, uint64_t ncodes, uint8_t* out) {
  for (uint64_t g = 0; g < ncodes / 8; ++g, codes += 8, out += Bits) {
    uint64_t acc = 0;
    for (int i = 0; i < 8; ++i) acc = (acc << Bits) | (codes[i] & ((1u << Bits) - 1));
    for (int b = Bits - 1; b >= 0; --b, acc >>= 8) out[b] = uint8_t(acc);
  }
}

template <int Bits>
void unpack_be(const uint8_t* in, uint64_t ncodes, uint8_t* codes) {
  constexpr uint64_t mask = (1u << Bits) - 1;
  for (uint64_t g = 0; g < ncodes / 8; ++g, in += Bits, codes += 8) {
    uint64_t acc = 0;
    for (int b = 0; b < Bits; ++b) acc = (acc << 8) | in[b];
    for (int i = 7; i >= 0; --i, acc >>= Bits) codes[i] = uint8_t(acc & mask);
  }
}

void pack_le5(const uint8_t* codes, uint64_t ncodes, uint8_t* out) {
  for (uint64_t g = 0; g < ncodes / 8; ++g, codes += 8, out += 5) {
    uint64_t acc = 0;
    for (int i = 0; i < 8; ++i) acc |= uint64_t(codes[i] & 31u) << (5 * i);
    for (int b = 0; b < 5; ++b, acc >>= 8) out[b] = uint8_t(acc);
  }
}

void unpack_le5(const uint8_t* in, uint64_t ncodes, uint8_t* codes) {
  for (uint64_t g = 0; g < ncodes / 8; ++g, in += 5, codes += 8) {
    uint64_t acc = 0;
    for (int b = 4; b >= 0; --b) acc = (acc << 8) | in[b];
    for (int i = 0; i < 8; ++i, acc >>= 5) codes[i] = uint8_t(acc & 31u);
  }
}

void require(bool ok, const std::string& message) {
  if (!ok) throw Error(ErrorKind::InvalidArgument, message);
}

uint64_t group_size(CodePacking packing) { return packing == CodePacking::HalfBlockNibbles ? 128 : packing == CodePacking::Int8 ? 1 : 8; }

const char* packing_name(CodePacking p) {
  switch (p) {
    case CodePacking::BigEndianStream: return "big-endian stream";
    case CodePacking::LittleEndianQ5: return "little-endian Q5";
    case CodePacking::HalfBlockNibbles: return "half-block nibbles";
    case CodePacking::Int8: return "int8";
  }
  return "?";
}

}  // namespace

void wht128_unnormalised(float* x) { butterflies(x); }

void wht128(float* x) {
  butterflies(x);
  for (int j = 0; j < kHlwqBlock; ++j) x[j] *= kInvSqrt128;
}

CodeSearch::CodeSearch(std::span<const float> centroids) : book_(centroids.begin(), centroids.end()) {
  if (book_.size() < 2 || book_.size() > 256)
    throw_error(ErrorKind::InvalidArgument, "codebook of ", std::to_string(book_.size()), " entries (2..256 expected)");
  count_ = int(book_.size()) - 1;
  for (int k = 0; k < count_; ++k) mid_.push_back((book_[k] + book_[k + 1]) * 0.5f);
  constexpr int kCells = 1024;
  const double lo = double(mid_.front()) - 1.0, hi = double(mid_.back()) + 1.0;
  const double step = (hi - lo) / kCells;
  lo_ = float(lo);
  inv_step_ = float(1.0 / step);
  max_cell_ = float(kCells - 1);
  start_.resize(kCells);
  // Cell i starts at the count of midpoints below the previous cell's lower edge: never more
  // than the true count, whatever the float rounding of the cell index.
  for (int i = 0; i < kCells; ++i) {
    const double edge = lo + (i - 1) * step;
    int c = 0;
    while (c < count_ && double(mid_[std::size_t(c)]) < edge) ++c;
    start_[std::size_t(i)] = uint8_t(c);
  }
}

void CodeSearch::codes(const float* z, int n, uint8_t* out) const {
  int cell[kHlwqBlock];
  for (int base = 0; base < n; base += kHlwqBlock) {
    const int m = std::min(kHlwqBlock, n - base);
    for (int j = 0; j < m; ++j) {
      float t = (z[base + j] - lo_) * inv_step_;
      t = std::min(std::max(t, 0.0f), max_cell_);
      cell[j] = int(t);
    }
    for (int j = 0; j < m; ++j) {
      const float v = z[base + j];
      int c = start_[std::size_t(cell[j])];
      while (c < count_ && mid_[std::size_t(c)] < v) ++c;
      out[base + j] = uint8_t(c);
    }
  }
}

void quantize_scalars(const float* z, int64_t n, std::span<const float> centroids, uint8_t* codes_out) {
  const CodeSearch search(centroids);
  for (int64_t i = 0; i < n; ++i) codes_out[i] = search.code(z[i]);
}

uint16_t quantize_block(const float* block, std::span<const float> centroids, ScaleKind scale, uint8_t* codes_out) {
  return quantize_block(block, CodeSearch(centroids), scale, codes_out);
}

uint16_t quantize_block(const float* block, const CodeSearch& search, ScaleKind scale, uint8_t* codes_out) {
  const auto centroids = search.centroids();
  // Eight partial sums break the add latency chain; float64 keeps the order immaterial at
  // float32 precision of the result.
  double part[8] = {};
  for (int j = 0; j < kHlwqBlock; j += 8)
    for (int k = 0; k < 8; ++k) part[k] += double(block[j + k]) * double(block[j + k]);
  const double sum = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
  const float norm = float(std::sqrt(sum));
  if (!std::isfinite(norm)) return 0x7e00;
  const float n = std::max(norm, 1e-10f);
  alignas(64) float z[kHlwqBlock];
  std::memcpy(z, block, sizeof z);
  butterflies(z);  // sqrt(128) * H b
  const float inv = 1.0f / n;
  for (int j = 0; j < kHlwqBlock; ++j) z[j] *= inv;
  search.codes(z, kHlwqBlock, codes_out);
  if (scale == ScaleKind::Norm) return f32_to_f16(n);
  double zc = 0, cc = 0;
  for (int j = 0; j < kHlwqBlock; ++j) {
    const double c = centroids[codes_out[j]];
    zc += double(z[j]) * c;
    cc += c * c;
  }
  return f32_to_f16(float(double(n) * zc / cc));
}

void dequantize_block(const uint8_t* codes, uint16_t scale_f16, std::span<const float> centroids, float* out) {
  for (int j = 0; j < kHlwqBlock; ++j) out[j] = centroids[codes[j]];
  butterflies(out);
  const float s = f16_to_f32(scale_f16) * (1.0f / kHlwqBlock);
  for (int j = 0; j < kHlwqBlock; ++j) out[j] *= s;
}

void check_packing(CodePacking packing, int bits) {
  const std::string what = std::string(packing_name(packing)) + " packing with " + std::to_string(bits) + " bits";
  switch (packing) {
    case CodePacking::BigEndianStream: require((bits >= 2 && bits <= 5) || bits == 8, "unsupported " + what); break;
    case CodePacking::LittleEndianQ5: require(bits == 5, "unsupported " + what); break;
    case CodePacking::HalfBlockNibbles: require(bits >= 2 && bits <= 4, "unsupported " + what); break;
    case CodePacking::Int8: require(bits >= 1 && bits <= 8, "unsupported " + what); break;
  }
}

uint64_t packed_bytes(CodePacking packing, int bits, uint64_t ncodes) {
  check_packing(packing, bits);
  require(ncodes % group_size(packing) == 0, std::to_string(ncodes) + " codes do not fill whole groups of the " +
                                                 packing_name(packing) + " packing");
  switch (packing) {
    case CodePacking::BigEndianStream: return ncodes / 8 * uint64_t(bits);
    case CodePacking::LittleEndianQ5: return ncodes / 8 * 5;
    case CodePacking::HalfBlockNibbles: return ncodes / 2;
    case CodePacking::Int8: return ncodes;
  }
  return 0;
}

void pack_codes(CodePacking packing, int bits, const uint8_t* codes, uint64_t ncodes, uint8_t* out) {
  packed_bytes(packing, bits, ncodes);  // validates
  switch (packing) {
    case CodePacking::BigEndianStream:
      switch (bits) {
        case 2: return pack_be<2>(codes, ncodes, out);
        case 3: return pack_be<3>(codes, ncodes, out);
        case 4: return pack_be<4>(codes, ncodes, out);
        case 5: return pack_be<5>(codes, ncodes, out);
        default: std::memcpy(out, codes, ncodes); return;
      }
    case CodePacking::LittleEndianQ5: return pack_le5(codes, ncodes, out);
    case CodePacking::HalfBlockNibbles:
      for (uint64_t b = 0; b < ncodes; b += 128, codes += 128, out += 64)
        for (int i = 0; i < 64; ++i) out[i] = uint8_t((codes[64 + i] & 15u) << 4 | (codes[i] & 15u));
      return;
    case CodePacking::Int8: std::memcpy(out, codes, ncodes); return;
  }
}

void unpack_codes(CodePacking packing, int bits, const uint8_t* packed, uint64_t ncodes, uint8_t* codes) {
  packed_bytes(packing, bits, ncodes);
  switch (packing) {
    case CodePacking::BigEndianStream:
      switch (bits) {
        case 2: return unpack_be<2>(packed, ncodes, codes);
        case 3: return unpack_be<3>(packed, ncodes, codes);
        case 4: return unpack_be<4>(packed, ncodes, codes);
        case 5: return unpack_be<5>(packed, ncodes, codes);
        default: std::memcpy(codes, packed, ncodes); return;
      }
    case CodePacking::LittleEndianQ5: return unpack_le5(packed, ncodes, codes);
    case CodePacking::HalfBlockNibbles:
      for (uint64_t b = 0; b < ncodes; b += 128, codes += 128, packed += 64)
        for (int i = 0; i < 64; ++i) {
          codes[i] = packed[i] & 15u;
          codes[64 + i] = packed[i] >> 4;
        }
      return;
    case CodePacking::Int8: std::memcpy(codes, packed, ncodes); return;
  }
}

uint64_t row_code_bytes(const QuantTensor& t) {
  return packed_bytes(t.packing, t.bits, uint64_t(t.blocks_per_row) * kHlwqBlock);
}

void unpack_row_codes(const QuantTensor& t, int64_t row, uint8_t* codes_out) {
  const uint64_t rb = row_code_bytes(t);
  unpack_codes(t.packing, t.bits, t.codes.data() + uint64_t(row) * rb, uint64_t(t.blocks_per_row) * kHlwqBlock,
               codes_out);
}

void dequantize_rows(const QuantTensor& t, int64_t row0, int64_t nrows, float* out) {
  if (row0 < 0 || nrows < 0 || row0 + nrows > t.rows)
    throw_error(ErrorKind::InvalidArgument, "rows [", std::to_string(row0), ", ", std::to_string(row0 + nrows),
                ") outside ", t.name, " with ", std::to_string(t.rows), " rows");
  const int64_t nb = t.blocks_per_row;
  // A 256-entry table: codes outside the codebook (a corrupt legacy file) read 0, never past it.
  alignas(64) float table[256] = {};
  for (std::size_t k = 0; k < t.codebook.size() && k < 256; ++k) table[k] = t.codebook[k];
  std::vector<uint8_t> codes(std::size_t(nb) * kHlwqBlock);
  alignas(64) float block[kHlwqBlock];
  for (int64_t r = 0; r < nrows; ++r) {
    const int64_t row = row0 + r;
    unpack_row_codes(t, row, codes.data());
    float* dst = out + r * t.cols;
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* c = codes.data() + b * kHlwqBlock;
      for (int j = 0; j < kHlwqBlock; ++j) block[j] = table[c[j]];
      butterflies(block);
      const float s = f16_to_f32(t.norms[std::size_t(row * nb + b)]) * (1.0f / kHlwqBlock);
      const int64_t col0 = b * kHlwqBlock;
      const int64_t n = std::min<int64_t>(kHlwqBlock, t.cols - col0);
      for (int64_t j = 0; j < n; ++j) dst[col0 + j] = block[j] * s;
    }
  }
}

void validate_quant_tensor(const QuantTensor& t, const std::string& where) {
  auto bad = [&](const std::string& why) {
    throw_error(ErrorKind::CorruptFile, where, ": quantized tensor ", t.name, ": ", why);
  };
  if (t.rows <= 0 || t.cols <= 0) bad("rows and cols must be positive");
  if (t.blocks_per_row != (t.cols + kHlwqBlock - 1) / kHlwqBlock)
    bad("blocks_per_row " + std::to_string(t.blocks_per_row) + " does not match cols " + std::to_string(t.cols));
  try {
    check_packing(t.packing, t.bits);
  } catch (const Error& e) {
    bad(e.what());
  }
  if (t.codebook.size() != (std::size_t(1) << t.bits))
    bad("codebook has " + std::to_string(t.codebook.size()) + " entries for " + std::to_string(t.bits) + " bits");
  for (std::size_t k = 0; k < t.codebook.size(); ++k)
    if (!std::isfinite(t.codebook[k]) || (k > 0 && !(t.codebook[k] > t.codebook[k - 1])))
      bad("codebook is not finite and strictly increasing");
  const uint64_t ncodes = uint64_t(t.rows) * uint64_t(t.blocks_per_row) * kHlwqBlock;
  const uint64_t want = packed_bytes(t.packing, t.bits, ncodes);
  if (t.codes.size() != want)
    bad("codes hold " + std::to_string(t.codes.size()) + " bytes, expected " + std::to_string(want));
  if (t.norms.size() != uint64_t(t.rows) * uint64_t(t.blocks_per_row))
    bad("norms hold " + std::to_string(t.norms.size()) + " values, expected " +
        std::to_string(uint64_t(t.rows) * uint64_t(t.blocks_per_row)));
  // Byte-per-code and nibble packings can hold codes beyond the codebook: reject them here so
  // backends may index the codebook with any unpacked code.
  const unsigned limit = 1u << t.bits;
  if (t.packing == CodePacking::Int8 && t.bits < 8) {
    for (uint8_t c : t.codes)
      if (c >= limit) bad("code " + std::to_string(c) + " outside a " + std::to_string(t.bits) + "-bit codebook");
  } else if (t.packing == CodePacking::HalfBlockNibbles && t.bits < 4) {
    for (uint8_t c : t.codes)
      if ((c & 15u) >= limit || (c >> 4) >= limit)
        bad("code outside a " + std::to_string(t.bits) + "-bit codebook");
  }
  for (uint16_t n : t.norms)
    if ((n & 0x7c00u) == 0x7c00u) bad("a block norm is infinite or NaN");
}

}  // namespace hlwq
