// GPU BlockQuantizer: a chunk of rows is cut into slices of about kSliceBytes of input. For
// each slice the thread pool copies the source rows (usually a file mapping: the copy is where
// pages are read) into a pinned buffer, then one stream uploads, quantizes and downloads it.
// Two slots alternate, so slice s+1 is being copied while slice s is on the GPU.
#include "quantize_cuda.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "core/error.h"
#include "core/thread_pool.h"
#include "cuda_check.h"
#include "quantize_hlwq.h"

namespace hlwq::cuda {
namespace {

constexpr uint64_t kSliceBytes = 16ull << 20;
constexpr uint64_t kCopyPiece = 1ull << 20;  // host copy granularity per pool task

struct Slot {
  uint8_t* host_in = nullptr;    // pinned
  uint8_t* host_out = nullptr;   // pinned: packed codes, then scales
  void* dev_in = nullptr;
  uint8_t* dev_out = nullptr;
  uint64_t in_cap = 0, out_cap = 0;
  cudaStream_t stream = nullptr;
  cudaEvent_t done = nullptr;
  int64_t row0 = -1, rows = 0;   // the slice in flight, row0 < 0: none
};

// Grows a pinned staging buffer and its device twin to `bytes` (the contents are not kept).
template <class Device>
void grow(uint8_t*& host, Device*& dev, uint64_t& cap, uint64_t bytes) {
  if (bytes <= cap) return;
  cudaFreeHost(host);
  cudaFree(dev);
  host = nullptr;
  dev = nullptr;
  cap = 0;
  HLWQ_CUDA_CHECK(cudaHostAlloc(reinterpret_cast<void**>(&host), bytes, cudaHostAllocDefault));
  HLWQ_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&dev), bytes));
  cap = bytes;
}

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
      for (Slot& s : slots_) {
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
    const int64_t nb = (c.cols + 127) / 128;
    const uint64_t row_in = uint64_t(c.cols) * dtype_size(c.dtype);
    const uint64_t row_out = packed_row_bytes(bits_, c.cols);
    const int64_t slice_rows = std::max<int64_t>(1, int64_t(kSliceBytes / row_in));
    try {
      for (Slot& s : slots_) reserve(s, uint64_t(slice_rows) * row_in, uint64_t(slice_rows) * (row_out + 2 * nb));
      int64_t n = 0;
      for (int64_t r0 = 0; r0 < c.rows; r0 += slice_rows, ++n) {
        Slot& s = slots_[n & 1];
        finish(s, c, row_out, nb);  // the slice this slot carried two steps ago
        const int64_t nr = std::min(slice_rows, c.rows - r0);
        const uint64_t in_bytes = uint64_t(nr) * row_in, packed_bytes = uint64_t(nr) * row_out;
        const std::byte* from = c.src + uint64_t(r0) * row_in;
        pool_.parallel_for(int64_t((in_bytes + kCopyPiece - 1) / kCopyPiece), [&](int64_t a, int64_t b) {
          const uint64_t lo = uint64_t(a) * kCopyPiece, hi = std::min(in_bytes, uint64_t(b) * kCopyPiece);
          std::memcpy(s.host_in + lo, from + lo, hi - lo);
        });
        HLWQ_CUDA_CHECK(cudaMemcpyAsync(s.dev_in, s.host_in, in_bytes, cudaMemcpyHostToDevice, s.stream));
        quantize_hlwq(s.dev_in, type, nr, c.cols, params_, s.dev_out,
                      reinterpret_cast<uint16_t*>(s.dev_out + packed_bytes), s.stream);
        HLWQ_CUDA_CHECK(cudaMemcpyAsync(s.host_out, s.dev_out, packed_bytes + 2 * uint64_t(nr) * nb,
                                        cudaMemcpyDeviceToHost, s.stream));
        HLWQ_CUDA_CHECK(cudaEventRecord(s.done, s.stream));
        s.row0 = r0;
        s.rows = nr;
      }
      finish(slots_[n & 1], c, row_out, nb);
      finish(slots_[(n + 1) & 1], c, row_out, nb);
    } catch (...) {
      for (Slot& s : slots_) {  // nothing half-done survives into the next call
        if (s.stream) cudaStreamSynchronize(s.stream);
        s.row0 = -1;
      }
      cudaGetLastError();
      throw;
    }
  }

 private:
  // Waits for the slot's slice and copies its codes and scales into the chunk's outputs.
  void finish(Slot& s, const RowChunk& c, uint64_t row_out, int64_t nb) {
    if (s.row0 < 0) return;
    HLWQ_CUDA_CHECK(cudaEventSynchronize(s.done));
    const uint64_t packed_bytes = uint64_t(s.rows) * row_out;
    std::memcpy(c.packed + uint64_t(s.row0) * row_out, s.host_out, packed_bytes);
    std::memcpy(c.scales + uint64_t(s.row0) * uint64_t(nb), s.host_out + packed_bytes, 2 * uint64_t(s.rows) * uint64_t(nb));
    s.row0 = -1;
  }

  void reserve(Slot& s, uint64_t in_bytes, uint64_t out_bytes) {
    grow(s.host_in, s.dev_in, s.in_cap, in_bytes);
    grow(s.host_out, s.dev_out, s.out_cap, out_bytes);
  }

  void release() noexcept {
    for (Slot& s : slots_) {
      if (s.stream) cudaStreamSynchronize(s.stream);
      cudaFreeHost(s.host_in);
      cudaFreeHost(s.host_out);
      cudaFree(s.dev_in);
      cudaFree(s.dev_out);
      if (s.done) cudaEventDestroy(s.done);
      if (s.stream) cudaStreamDestroy(s.stream);
      s = Slot{};
    }
    cudaGetLastError();
  }

  ThreadPool& pool_;
  HlwqQuantizeParams params_;
  int bits_ = 5;
  std::string name_;
  Slot slots_[2];
};

}  // namespace

std::unique_ptr<BlockQuantizer> make_cuda_block_quantizer(const BlockQuantizeSpec& spec, ThreadPool& pool) {
  if (device_count_or_zero() == 0) return nullptr;
  return std::make_unique<CudaBlockQuantizer>(spec, pool);
}

void register_cuda_block_quantizer() { register_gpu_block_quantizer(&make_cuda_block_quantizer); }

}  // namespace hlwq::cuda
