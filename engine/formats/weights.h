#pragma once
// The one in-memory representation of a loaded checkpoint, whatever it came from
// (hlwq-q* repo, legacy polar_engine_v5, or a BF16 checkpoint quantized at load).
// Dense tensors are views into mapped files; quantized tensors keep their packed codes.
// Nothing is expanded to floats unless a backend asks for it (see hlwq_codec.h).
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hlwq {

enum class DType : uint8_t { BF16, F16, F32, U8, I8, I32, I64 };
std::size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);  // safetensors spelling: "BF16", "F16", ...

struct DenseTensor {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::span<const std::byte> bytes;  // row-major, little-endian
  int64_t numel() const;
};

// How the codes of a quantized tensor are laid out (hlwq-format.md section 3).
enum class CodePacking : uint8_t {
  BigEndianStream,   // 3.1: hlwq-q5 (and the KV codes): MSB-first bitstream, bits per code
  LittleEndianQ5,    // 3.2: legacy packed_q5
  HalfBlockNibbles,  // 3.2: legacy Q3/Q4, byte i of a block = code[64+i] << 4 | code[i]
  Int8,              // legacy: one byte per code
};

enum class ScaleKind : uint8_t { Norm, Mse };

// One quantized Linear weight W[rows=out, cols=in] in 128-blocks along the input dimension.
struct QuantTensor {
  std::string name;                 // the parameter name, e.g. "...mlp.up_proj.weight"
  int64_t rows = 0;                 // out
  int64_t cols = 0;                 // in (unpadded)
  int64_t blocks_per_row = 0;       // ceil(cols / 128)
  int bits = 5;
  CodePacking packing = CodePacking::BigEndianStream;
  ScaleKind scale = ScaleKind::Norm;
  std::vector<float> codebook;      // 2^bits centroids in the N(0,1) domain, increasing
  std::span<const uint8_t> codes;   // rows * blocks_per_row * 128 codes in `packing`
  std::span<const uint16_t> norms;  // fp16 bits, [rows, blocks_per_row]
  static constexpr int kBlock = 128;
};

// Owns the mapped files and any buffers the tensors point into.
class WeightStore {
 public:
  WeightStore();
  ~WeightStore();
  WeightStore(WeightStore&&) noexcept;
  WeightStore& operator=(WeightStore&&) noexcept;

  bool contains(std::string_view name) const;            // dense or quantized
  const DenseTensor* dense(std::string_view name) const;  // nullptr if absent or quantized
  const QuantTensor* quant(std::string_view name) const;  // nullptr if absent or dense
  // Throw Error{MissingTensor} naming the tensor and the model directory.
  const DenseTensor& require_dense(std::string_view name) const;
  const QuantTensor& require_quant(std::string_view name) const;
  std::vector<std::string> names() const;
  std::size_t resident_bytes() const;  // bytes of all tensor data (codes + norms + dense)

  // Used by loaders.
  void add_dense(DenseTensor tensor);
  void add_quant(QuantTensor tensor);
  void keep_alive(std::shared_ptr<const void> owner);  // a mapped file or an owned buffer
  void set_source(std::string description);            // "dir (format)" for error messages
  const std::string& source() const;

 private:
  std::map<std::string, DenseTensor, std::less<>> dense_;
  std::map<std::string, QuantTensor, std::less<>> quant_;
  std::vector<std::shared_ptr<const void>> owners_;
  std::string source_;
};

}  // namespace hlwq
