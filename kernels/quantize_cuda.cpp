// GPU BlockQuantizer: a chunk of rows is cut into pieces that fit a slot of the planner's
// quantize arena (quantize_pieces.h). For each piece the thread pool copies the source values
// (usually a file mapping: the copy is where pages are read) into a pinned buffer, then one
// stream uploads, quantizes and downloads it. Two slots alternate, so piece s+1 is being copied
// while piece s is on the GPU. The device memory is the arena, allocated once when the
// quantizer starts: what `hlwq fit` and the plan name, never more.
#include "quantize_cuda.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "core/error.h"
#include "core/thread_pool.h"
#include "cuda_check.h"
#include "device_arenas.h"
#include "quantize_hlwq.h"
#include "quantize_pieces.h"

namespace hlwq::cuda {
namespace {

constexpr uint64_t kCopyPiece = 1ull << 20;  // host copy granularity per pool task

struct Slot {
  uint8_t* host_in = nullptr;    // pinned, as large as dev_in
  uint8_t* host_out = nullptr;   // pinned, as large as dev_out: packed codes, then scales
  DeviceBuffer dev_in, dev_out;  // views into the quantize arena
  cudaStream_t stream = nullptr;
  cudaEvent_t done = nullptr;
  QuantizePiece piece;           // the piece in flight
  bool busy = false;
};

class CudaBlockQuantizer final : public BlockQuantizer {
 public:
  CudaBlockQuantizer(const BlockQuantizeSpec& spec, ThreadPool& pool) : pool_(pool) {
    params_ = make_quantize_params(spec.bits, spec.centroids.data(), int(spec.centroids.size()),
                                   spec.scale == ScaleKind::Mse);
    bits_ = spec.bits;
    int device = 0;
    HLWQ_CUDA_CHECK(cudaGetDevice(&device));
    cudaDeviceProp prop{};
    HLWQ_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    name_ = std::string("cuda (") + prop.name + ")";
    try {
      const planner::Arena layout = planner::quantize_arena();
      arena_ = DeviceBuffer(layout.device_bytes(), "the GPU quantizer's arena (planner::quantize_arena)");
      const ArenaCarver carver(layout, arena_.get(), arena_.bytes());
      for (int i = 0; i < 2; ++i) {
        Slot& s = slots_[i];
        const std::string slot = "slot" + std::to_string(i);
        s.dev_in = carver.named(slot + "_in");
        s.dev_out = carver.named(slot + "_out");
        HLWQ_CUDA_CHECK(cudaHostAlloc(reinterpret_cast<void**>(&s.host_in), s.dev_in.bytes(), cudaHostAllocDefault));
        HLWQ_CUDA_CHECK(cudaHostAlloc(reinterpret_cast<void**>(&s.host_out), s.dev_out.bytes(), cudaHostAllocDefault));
        HLWQ_CUDA_CHECK(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking));
        HLWQ_CUDA_CHECK(cudaEventCreateWithFlags(&s.done, cudaEventDisableTiming));
      }
    } catch (...) {
      release();
      throw;
    }
  }
  ~CudaBlockQuantizer() override { release(); }

  std::string name() const override { return name_; }
  bool is_gpu() const override { return true; }

  void quantize(const RowChunk& c) override {
    QuantSource type;
    switch (c.dtype) {
      case DType::BF16: type = QuantSource::BF16; break;
      case DType::F16: type = QuantSource::F16; break;
      case DType::F32: type = QuantSource::F32; break;
      default: throw_error(ErrorKind::InvalidArgument, "quantizer: dtype ", dtype_name(c.dtype), " is not BF16, F16 or F32");
    }
    if (c.rows <= 0 || c.cols <= 0) return;
    const int vb = int(dtype_size(c.dtype));
    try {
      const auto pieces =
          quantize_pieces(c.rows, c.cols, vb, bits_, slots_[0].dev_in.bytes(), slots_[0].dev_out.bytes());
      for (size_t n = 0; n < pieces.size(); ++n) {
        Slot& s = slots_[n & 1];
        finish(s, c);  // the piece this slot carried two steps ago
        const QuantizePiece& p = pieces[n];
        const uint64_t in_bytes = p.in_bytes(c.cols, vb), packed_bytes = p.packed_bytes(bits_);
        const std::byte* from = c.src + (uint64_t(p.row0) * uint64_t(c.cols) + uint64_t(p.block0) * 128) * uint64_t(vb);
        pool_.parallel_for(int64_t((in_bytes + kCopyPiece - 1) / kCopyPiece), [&](int64_t a, int64_t b) {
          const uint64_t lo = uint64_t(a) * kCopyPiece, hi = std::min(in_bytes, uint64_t(b) * kCopyPiece);
          std::memcpy(s.host_in + lo, from + lo, hi - lo);
        });
        HLWQ_CUDA_CHECK(cudaMemcpyAsync(s.dev_in.get(), s.host_in, in_bytes, cudaMemcpyHostToDevice, s.stream));
        uint8_t* out = s.dev_out.get<uint8_t>();
        quantize_hlwq(s.dev_in.get(), type, p.rows, p.cols(c.cols), params_, out,
                      reinterpret_cast<uint16_t*>(out + packed_bytes), s.stream);
        HLWQ_CUDA_CHECK(
            cudaMemcpyAsync(s.host_out, out, p.out_bytes(bits_), cudaMemcpyDeviceToHost, s.stream));
        HLWQ_CUDA_CHECK(cudaEventRecord(s.done, s.stream));
        s.piece = p;
        s.busy = true;
      }
      finish(slots_[pieces.size() & 1], c);
      finish(slots_[(pieces.size() + 1) & 1], c);
    } catch (...) {
      for (Slot& s : slots_) {  // nothing half-done survives into the next call
        if (s.stream) cudaStreamSynchronize(s.stream);
        s.busy = false;
      }
      cudaGetLastError();
      throw;
    }
  }

 private:
  // Waits for the slot's piece and copies its codes and scales into the chunk's outputs: whole
  // rows are one run of the outputs, and so is a part of one row.
  void finish(Slot& s, const RowChunk& c) {
    if (!s.busy) return;
    HLWQ_CUDA_CHECK(cudaEventSynchronize(s.done));
    const QuantizePiece& p = s.piece;
    const uint64_t nb = uint64_t((c.cols + 127) / 128), block_bytes = 16 * uint64_t(bits_);
    const uint64_t at = uint64_t(p.row0) * nb + uint64_t(p.block0), packed_bytes = p.packed_bytes(bits_);
    std::memcpy(c.packed + at * block_bytes, s.host_out, packed_bytes);
    std::memcpy(c.scales + at, s.host_out + packed_bytes, 2 * uint64_t(p.rows) * uint64_t(p.blocks));
    s.busy = false;
  }

  void release() noexcept {
    for (Slot& s : slots_) {
      if (s.stream) cudaStreamSynchronize(s.stream);
      cudaFreeHost(s.host_in);
      cudaFreeHost(s.host_out);
      if (s.done) cudaEventDestroy(s.done);
      if (s.stream) cudaStreamDestroy(s.stream);
      s = Slot{};
    }
    arena_ = DeviceBuffer();
    cudaGetLastError();
  }

  ThreadPool& pool_;
  HlwqQuantizeParams params_;
  int bits_ = 5;
  std::string name_;
  DeviceBuffer arena_;  // planner::quantize_arena(), one allocation
  Slot slots_[2];
};

}  // namespace

std::unique_ptr<BlockQuantizer> make_cuda_block_quantizer(const BlockQuantizeSpec& spec, ThreadPool& pool) {
  if (device_count_or_zero() == 0) return nullptr;
  return std::make_unique<CudaBlockQuantizer>(spec, pool);
}

void register_cuda_block_quantizer() { register_gpu_block_quantizer(&make_cuda_block_quantizer); }

}  // namespace hlwq::cuda
