#pragma once
// The HLWQ weight codec (hlwq-format.md sections 1-3): the 128-point Walsh-Hadamard
// transform, the Lloyd-Max codebooks, block quantize/dequantize and every code packing.
// dequantize_rows / unpack_row_codes are the CPU backend's inner loop: keep them fast.
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "formats/weights.h"

namespace hlwq {

inline constexpr int kHlwqBlock = 128;

// In place, normalised (H = H_128 / sqrt(128), its own inverse). Plain float butterflies in a
// fixed order, so tools/hlwq_ref reproduces the result bit for bit.
void wht128(float* x);
// The unnormalised transform (entries +-1): sqrt(128) * wht128(x). The quantizer uses it.
void wht128_unnormalised(float* x);

// Which Lloyd-Max table (spec section 2). Not every name exists at every width:
// converged 2..5, reference-loader 2..5, reference-quantizer 5 only.
enum class Codebook : uint8_t { Converged, ReferenceLoader, ReferenceQuantizer };
const char* codebook_name(Codebook book);  // "converged", "reference-loader", "reference-quantizer"
Codebook parse_codebook(std::string_view name);  // throws Error{InvalidArgument} listing the names
// All 2^bits centroids, increasing. Throws Error{InvalidArgument} for a missing (book, bits).
std::span<const float> codebook_table(Codebook book, int bits);
// Mean squared error of the table on N(0,1), as listed in the spec (for tests and docs).
double codebook_spec_mse(Codebook book, int bits);

// Nearest-centroid search prepared once per codebook: a uniform grid gives a starting code,
// at most a couple of midpoint compares finish it. Result = number of float32 midpoints
// (c_k + c_k+1) * 0.5f strictly below z, exactly (ties go to the lower index).
class CodeSearch {
 public:
  explicit CodeSearch(std::span<const float> centroids);
  uint8_t code(float z) const {
    float t = (z - lo_) * inv_step_;
    t = t < 0.0f ? 0.0f : (t > max_cell_ ? max_cell_ : t);
    int c = start_[std::size_t(int(t))];
    while (c < count_ && mid_[std::size_t(c)] < z) ++c;
    return uint8_t(c);
  }
  // codes for z[0..n): the cell arithmetic runs vectorised, then the short fix-up loops.
  void codes(const float* z, int n, uint8_t* out) const;
  std::span<const float> centroids() const { return book_; }

 private:
  std::vector<float> book_, mid_;
  std::vector<uint8_t> start_;
  float lo_ = 0, inv_step_ = 1, max_cell_ = 0;
  int count_ = 0;
};

uint16_t quantize_block(const float* block, const CodeSearch& search, ScaleKind scale, uint8_t* codes_out);

// Nearest-centroid codes for n already-normalised values (the scalar step of quantize_block).
void quantize_scalars(const float* z, int64_t n, std::span<const float> centroids, uint8_t* codes_out);

// Quantize one block of 128 floats (spec 1): codes_out[128] in 0..2^bits-1, returns the fp16
// bits of the scale: the block norm (ScaleKind::Norm) or the MSE-optimal n*<z,c>/<c,c>.
// A non-finite input returns 0x7e00 (fp16 NaN) so the caller can name the tensor.
// Nearest centroid = number of float32 midpoints (c_k + c_k+1) * 0.5f strictly below z,
// which sends ties to the lower index.
uint16_t quantize_block(const float* block, std::span<const float> centroids, ScaleKind scale, uint8_t* codes_out);
// b = scale * H(c[code] / sqrt(128)); out[128].
void dequantize_block(const uint8_t* codes, uint16_t scale_f16, std::span<const float> centroids, float* out);

// Bytes `ncodes` codes take in a packing. ncodes must be a multiple of 128 for
// HalfBlockNibbles and of 8 for BigEndianStream / LittleEndianQ5 (every row is).
uint64_t packed_bytes(CodePacking packing, int bits, uint64_t ncodes);
// Validates (packing, bits): BigEndianStream 2..5 (and 8), LittleEndianQ5 5, HalfBlockNibbles 3..4
// (2 too), Int8 any. Throws Error{InvalidArgument}.
void check_packing(CodePacking packing, int bits);
void pack_codes(CodePacking packing, int bits, const uint8_t* codes, uint64_t ncodes, uint8_t* out);
void unpack_codes(CodePacking packing, int bits, const uint8_t* packed, uint64_t ncodes, uint8_t* codes);

// Backend entry points. out is [nrows, cols] floats (padding columns dropped);
// codes_out is blocks_per_row * 128 bytes, one code per byte.
void dequantize_rows(const QuantTensor& t, int64_t row0, int64_t nrows, float* out);
void unpack_row_codes(const QuantTensor& t, int64_t row, uint8_t* codes_out);
// Bytes of packed codes per row (rows start at row * row_bytes in t.codes).
uint64_t row_code_bytes(const QuantTensor& t);
// Checks sizes of codes/norms/codebook against rows/cols/bits; throws Error{CorruptFile}
// naming `where` and the tensor. Loaders call it on every QuantTensor they build.
void validate_quant_tensor(const QuantTensor& t, const std::string& where);

}  // namespace hlwq
