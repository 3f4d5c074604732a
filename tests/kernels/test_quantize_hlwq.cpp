// The GPU quantizer against the CPU one (itself checked bit for bit against tools/hlwq_ref):
// same packed codes and same fp16 scales, byte for byte, for every bits x codebook x scale,
// several shapes up to a 27B MLP down_proj (5120 x 17408), BF16/F16/F32 sources and the
// awkward blocks (zero, tiny, fp16-overflowing, NaN, zero padding). Skips without a GPU.
#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/half.h"
#include "core/thread_pool.h"
#include "formats/block_quantizer.h"
#include "gpu_test_util.h"
#include "quantize_cuda.h"

namespace {

using namespace hlwq;

struct Combo {
  int bits;
  Codebook book;
};
const Combo kCombos[] = {{5, Codebook::Converged},       {4, Codebook::Converged},       {3, Codebook::Converged},
                         {2, Codebook::Converged},       {5, Codebook::ReferenceLoader}, {4, Codebook::ReferenceLoader},
                         {3, Codebook::ReferenceLoader}, {2, Codebook::ReferenceLoader}, {5, Codebook::ReferenceQuantizer}};

ThreadPool& pool() {
  static ThreadPool p;
  return p;
}

std::vector<std::byte> encode(const std::vector<float>& v, DType dt) {
  std::vector<std::byte> out(v.size() * dtype_size(dt));
  for (size_t i = 0; i < v.size(); ++i) {
    if (dt == DType::F32) {
      std::memcpy(&out[4 * i], &v[i], 4);
    } else {
      const uint16_t h = dt == DType::F16 ? f32_to_f16(v[i]) : f32_to_bf16(v[i]);
      std::memcpy(&out[2 * i], &h, 2);
    }
  }
  return out;
}

// Gaussian rows with a spread that changes from row to row (real Linears differ per row).
std::vector<float> gaussian(int64_t rows, int64_t cols, uint64_t seed) {
  std::mt19937_64 g(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> v(size_t(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    const float s = 0.005f * float(1 + r % 13);
    for (int64_t j = 0; j < cols; ++j) v[size_t(r * cols + j)] = s * nd(g);
  }
  return v;
}

// Quantizes with both devices; counts blocks whose scale or codes differ (NaN-scale blocks
// compare scales only: their codes are unspecified).
struct Outcome {
  int64_t blocks = 0, differing = 0, first = -1;
};
Outcome compare(const std::vector<std::byte>& src, DType dt, int64_t rows, int64_t cols, const BlockQuantizeSpec& spec) {
  const int64_t nb = (cols + 127) / 128;
  const uint64_t row_out = packed_row_bytes(spec.bits, cols), block_bytes = 16 * uint64_t(spec.bits);
  std::vector<uint8_t> pc(rows * row_out), pg(rows * row_out, 0xee);
  std::vector<uint16_t> sc(rows * nb), sg(rows * nb, 0xeeee);
  make_cpu_block_quantizer(spec, pool())->quantize({src.data(), dt, rows, cols, pc.data(), sc.data()});
  auto gpu = cuda::make_cuda_block_quantizer(spec, pool());
  EXPECT_TRUE(gpu);
  if (!gpu) return {};
  gpu->quantize({src.data(), dt, rows, cols, pg.data(), sg.data()});
  Outcome o;
  o.blocks = rows * nb;
  for (int64_t b = 0; b < rows * nb; ++b) {
    const bool nan = sc[b] == 0x7e00;
    const bool same = sc[b] == sg[b] &&
                      (nan || std::memcmp(pc.data() + b * block_bytes, pg.data() + b * block_bytes, block_bytes) == 0);
    if (!same && o.first < 0) o.first = b;
    o.differing += !same;
  }
  return o;
}

std::string label(const Combo& c, ScaleKind s, DType dt, int64_t rows, int64_t cols) {
  return std::string(codebook_name(c.book)) + " q" + std::to_string(c.bits) + (s == ScaleKind::Mse ? " mse " : " norm ") +
         dtype_name(dt) + " " + std::to_string(rows) + "x" + std::to_string(cols);
}

BlockQuantizeSpec spec_of(const Combo& c, ScaleKind s) {
  const auto t = codebook_table(c.book, c.bits);
  return {c.bits, {t.begin(), t.end()}, s};
}

TEST(CudaQuantize, SameBytesAsTheCpuForEveryCombinationAndShape) {
  HLWQ_REQUIRE_GPU();
  const std::pair<int64_t, int64_t> shapes[] = {{1, 128}, {3, 300}, {37, 1024}, {256, 5120}, {5120, 17408}};
  for (const auto& [rows, cols] : shapes) {
    const auto v = gaussian(rows, cols, uint64_t(rows * 131 + cols));
    for (DType dt : {DType::BF16, DType::F16, DType::F32}) {
      if (dt != DType::BF16 && rows * cols > 2'000'000) continue;  // the big one is a BF16 checkpoint tensor
      const auto src = encode(v, dt);
      for (const Combo& c : kCombos)
        for (ScaleKind s : {ScaleKind::Norm, ScaleKind::Mse}) {
          const Outcome o = compare(src, dt, rows, cols, spec_of(c, s));
          EXPECT_EQ(o.differing, 0) << label(c, s, dt, rows, cols) << ": " << o.differing << " of " << o.blocks
                                    << " blocks differ, first " << o.first;
        }
    }
  }
}

TEST(CudaQuantize, AwkwardBlocksMatchTheCpu) {
  HLWQ_REQUIRE_GPU();
  const int64_t rows = 8, cols = 200;  // two blocks per row, the second zero-padded
  std::vector<float> v = gaussian(rows, cols, 99);
  auto row = [&](int64_t r) { return v.begin() + r * cols; };
  std::fill(row(0), row(1), 0.0f);                                   // zero: norm clamps to 1e-10
  std::fill(row(1), row(2), 1e-30f);                                  // tiny but normal in f32
  std::fill(row(2), row(3), 7000.0f);                                 // norm ~80000: beyond fp16 -> 0x7c00
  v[size_t(3 * cols + 5)] = std::nanf("");                            // NaN in the first block only
  v[size_t(4 * cols + 150)] = INFINITY;                               // inf in the padded block
  for (int64_t j = 0; j < cols; ++j) v[size_t(5 * cols + j)] = (j % 2 ? 1.0f : -1.0f);  // a Walsh row: z one-hot
  v[size_t(6 * cols)] = 3.0f;                                          // a single spike
  for (DType dt : {DType::F32, DType::BF16, DType::F16}) {
    const auto src = encode(v, dt);
    for (const Combo& c : kCombos)
      for (ScaleKind s : {ScaleKind::Norm, ScaleKind::Mse}) {
        const Outcome o = compare(src, dt, rows, cols, spec_of(c, s));
        EXPECT_EQ(o.differing, 0) << label(c, s, dt, rows, cols) << ": first differing block " << o.first;
      }
  }
}

TEST(CudaQuantize, RefusesWhatItCannotDo) {
  HLWQ_REQUIRE_GPU();
  const auto t = codebook_table(Codebook::Converged, 5);
  BlockQuantizeSpec spec{5, {t.begin(), t.end()}, ScaleKind::Norm};
  auto gpu = cuda::make_cuda_block_quantizer(spec, pool());
  ASSERT_TRUE(gpu);
  std::vector<std::byte> src(128);
  std::vector<uint8_t> packed(80);
  std::vector<uint16_t> scales(1);
  EXPECT_THROW(gpu->quantize({src.data(), DType::I32, 1, 32, packed.data(), scales.data()}), Error);
  spec.centroids.pop_back();
  EXPECT_THROW(cuda::make_cuda_block_quantizer(spec, pool()), Error);
}

}  // namespace
