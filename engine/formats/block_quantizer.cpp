// The CPU BlockQuantizer (rows in parallel on the pool, quantize_block per 128-block) and the
// registry slot the CUDA library fills.
#include "formats/block_quantizer.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "core/error.h"
#include "core/half.h"
#include "core/thread_pool.h"

namespace hlwq {
namespace {

std::atomic<GpuBlockQuantizerFactory> g_gpu_factory{nullptr};

void to_float_row(const std::byte* src, DType dtype, int64_t cols, float* out) {
  switch (dtype) {
    case DType::BF16:
      for (int64_t j = 0; j < cols; ++j) {
        uint16_t h;
        std::memcpy(&h, src + 2 * j, 2);
        out[j] = bf16_to_f32(h);
      }
      break;
    case DType::F16:
      for (int64_t j = 0; j < cols; ++j) {
        uint16_t h;
        std::memcpy(&h, src + 2 * j, 2);
        out[j] = f16_to_f32(h);
      }
      break;
    default: std::memcpy(out, src, std::size_t(cols) * 4); break;
  }
}

class CpuBlockQuantizer final : public BlockQuantizer {
 public:
  CpuBlockQuantizer(const BlockQuantizeSpec& spec, ThreadPool& pool)
      : spec_(spec), search_(spec.centroids), pool_(pool) {
    packed_bytes(CodePacking::BigEndianStream, spec.bits, kHlwqBlock);  // validates bits
  }
  std::string name() const override { return "cpu (" + std::to_string(pool_.size()) + " threads)"; }
  bool is_gpu() const override { return false; }

  void quantize(const RowChunk& c) override {
    if (c.dtype != DType::BF16 && c.dtype != DType::F16 && c.dtype != DType::F32)
      throw_error(ErrorKind::InvalidArgument, "quantizer: dtype ", dtype_name(c.dtype), " is not BF16, F16 or F32");
    const int64_t nb = (c.cols + kHlwqBlock - 1) / kHlwqBlock;
    const uint64_t row_in = uint64_t(c.cols) * dtype_size(c.dtype);
    const uint64_t row_out = packed_row_bytes(spec_.bits, c.cols);
    pool_.parallel_for(
        c.rows,
        [&](int64_t a, int64_t b) {
          std::vector<float> row(std::size_t(nb) * kHlwqBlock, 0.0f);  // padding columns stay 0
          std::vector<uint8_t> codes(std::size_t(nb) * kHlwqBlock);
          for (int64_t r = a; r < b; ++r) {
            to_float_row(c.src + uint64_t(r) * row_in, c.dtype, c.cols, row.data());
            for (int64_t k = 0; k < nb; ++k)
              c.scales[uint64_t(r * nb + k)] =
                  quantize_block(row.data() + k * kHlwqBlock, search_, spec_.scale, codes.data() + k * kHlwqBlock);
            pack_codes(CodePacking::BigEndianStream, spec_.bits, codes.data(), codes.size(), c.packed + uint64_t(r) * row_out);
          }
        },
        4);
  }

 private:
  BlockQuantizeSpec spec_;
  CodeSearch search_;
  ThreadPool& pool_;
};

}  // namespace

QuantizeDevice parse_quantize_device(std::string_view name) {
  if (name == "auto") return QuantizeDevice::Auto;
  if (name == "cpu") return QuantizeDevice::Cpu;
  if (name == "cuda" || name == "gpu") return QuantizeDevice::Cuda;
  throw_error(ErrorKind::InvalidArgument, "--device ", std::string(name), ": expected cpu, cuda or auto");
}

const char* quantize_device_name(QuantizeDevice device) {
  switch (device) {
    case QuantizeDevice::Auto: return "auto";
    case QuantizeDevice::Cpu: return "cpu";
    case QuantizeDevice::Cuda: return "cuda";
  }
  return "?";
}

uint64_t packed_row_bytes(int bits, int64_t cols) {
  return packed_bytes(CodePacking::BigEndianStream, bits, uint64_t((cols + kHlwqBlock - 1) / kHlwqBlock) * kHlwqBlock);
}

std::unique_ptr<BlockQuantizer> make_cpu_block_quantizer(const BlockQuantizeSpec& spec, ThreadPool& pool) {
  return std::make_unique<CpuBlockQuantizer>(spec, pool);
}

void register_gpu_block_quantizer(GpuBlockQuantizerFactory factory) { g_gpu_factory.store(factory); }
bool gpu_block_quantizer_registered() { return g_gpu_factory.load() != nullptr; }

std::unique_ptr<BlockQuantizer> make_block_quantizer(QuantizeDevice device, const BlockQuantizeSpec& spec,
                                                     ThreadPool& pool, std::string* why_not_gpu) {
  auto cpu = make_cpu_block_quantizer(spec, pool);  // validates the spec whatever the device
  if (device == QuantizeDevice::Cpu) return cpu;
  auto say = [&](const std::string& why) {
    if (why_not_gpu) *why_not_gpu = why;
  };
  const GpuBlockQuantizerFactory factory = g_gpu_factory.load();
  if (!factory) {
    if (device == QuantizeDevice::Cuda) say("this build has no CUDA support");
    return cpu;
  }
  try {
    if (auto gpu = factory(spec, pool)) return gpu;
    if (device == QuantizeDevice::Cuda) say("no CUDA GPU is visible");
  } catch (const Error& e) {
    say(e.what());  // a device that exists but fails is worth a warning even under auto
  }
  return cpu;
}

}  // namespace hlwq
