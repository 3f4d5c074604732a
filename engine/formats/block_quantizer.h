#pragma once
// Who turns rows of a dense Linear into HLWQ codes and block scales. The streaming quantizer
// (quantizer.h) hands every chunk of rows to a BlockQuantizer. The CPU one (all cores) is the
// reference; a GPU one registers itself when the CUDA library is linked (kernels/
// quantize_registration.cpp), because engine/ never links CUDA. Every implementation must give
// the same bytes as quantize_block: the output file may not depend on the machine.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "formats/hlwq_codec.h"
#include "formats/weights.h"

namespace hlwq {

class ThreadPool;

enum class QuantizeDevice : uint8_t { Auto, Cpu, Cuda };
QuantizeDevice parse_quantize_device(std::string_view name);  // "auto" | "cpu" | "cuda"; Error{InvalidArgument} else
const char* quantize_device_name(QuantizeDevice device);

// What every block of one run is quantized with.
struct BlockQuantizeSpec {
  int bits = 5;                 // 2..5: the big-endian stream of spec 3.1
  std::vector<float> centroids;  // 2^bits, increasing
  ScaleKind scale = ScaleKind::Norm;
};

// `rows` rows of `cols` values, row-major and contiguous (BF16, F16 or F32). Outputs:
// packed = rows * packed_row_bytes(bits, cols) bytes, scales = rows * ceil(cols/128) fp16 bits.
// A block holding NaN/inf, or whose norm overflows float32, gets scale 0x7e00 (its codes are
// unspecified); the caller turns that into an Error naming the tensor.
struct RowChunk {
  const std::byte* src = nullptr;
  DType dtype = DType::BF16;
  int64_t rows = 0, cols = 0;
  uint8_t* packed = nullptr;
  uint16_t* scales = nullptr;
};

uint64_t packed_row_bytes(int bits, int64_t cols);

class BlockQuantizer {
 public:
  virtual ~BlockQuantizer() = default;
  virtual std::string name() const = 0;         // for messages: "cpu (16 threads)", "cuda (NVIDIA H100 ...)"
  virtual bool is_gpu() const = 0;
  virtual void quantize(const RowChunk& chunk) = 0;  // throws Error; may be called again after a throw
};

std::unique_ptr<BlockQuantizer> make_cpu_block_quantizer(const BlockQuantizeSpec& spec, ThreadPool& pool);

// Returns a GPU quantizer, or nullptr when no usable device is present; throws Error on a
// device failure. Registered by the CUDA library before main().
using GpuBlockQuantizerFactory = std::unique_ptr<BlockQuantizer> (*)(const BlockQuantizeSpec& spec, ThreadPool& pool);
void register_gpu_block_quantizer(GpuBlockQuantizerFactory factory);
bool gpu_block_quantizer_registered();

// Cpu: the CPU one. Auto / Cuda: the GPU one when registered and a device answers, else the CPU
// one; for Cuda (asked for explicitly) `why_not_gpu` then says why (no GPU, build without CUDA,
// the device error). Never throws for a missing or failing GPU.
std::unique_ptr<BlockQuantizer> make_block_quantizer(QuantizeDevice device, const BlockQuantizeSpec& spec,
                                                     ThreadPool& pool, std::string* why_not_gpu = nullptr);

}  // namespace hlwq
