// dequantize_rotated (kernels/q_dequant.h) for Q5, Q4 and Q3 matrices: random codes and norms
// placed into the GPU layout by the host repack (q_put_run, as the
// loader does), expanded on the device, against the spec's value computed from the codes
// themselves: codebook[code] / sqrt(128) * norm (hlwq-format.md 1), rounded once to bf16.
// The kernel does the same two fp32 multiplies, so the comparison is exact. Whole matrices
// with a short last tile and row slices that start inside a tile (the prefill's slices).
#include <gtest/gtest.h>
#include <cuda_bf16.h>

#include <cstring>
#include <random>
#include <vector>

#include "core/error.h"
#include "gpu_test_util.h"
#include "q_dequant.h"
#include "q_matrix.h"
#include "qwen35_gpu.h"

namespace hlwq::cuda::test {
namespace {

struct HostMatrix {
  int bits, rows, cols;
  std::vector<uint8_t> codes;   // [rows][cols]
  std::vector<__half> norms;    // [rows][cols/128]
  std::vector<uint8_t> image;   // QMatrix::bytes_for(bits, rows, cols)
};

HostMatrix random_matrix(int bits, int rows, int cols, uint64_t seed) {
  HostMatrix m{bits, rows, cols, std::vector<uint8_t>(size_t(rows) * cols), {}, std::vector<uint8_t>(QMatrix::bytes_for(bits, rows, cols))};
  std::mt19937_64 g(seed);
  for (auto& c : m.codes) c = uint8_t(g() & ((1u << bits) - 1));
  for (float n : uniform(size_t(rows) * (cols / 128), 0.5f, 2.0f, seed + 1)) m.norms.push_back(__float2half(n));
  for (int r = 0; r < rows; ++r)
    for (int run = 0; run < cols / 32; ++run) {
      uint16_t norm;
      std::memcpy(&norm, &m.norms[size_t(r) * (cols / 128) + run / 4], 2);
      q_put_run(m.image.data(), bits, rows, cols, r, run / 4, run % 4, m.codes.data() + size_t(r) * cols + size_t(run) * 32,
                norm);
    }
  return m;
}

float expected(const HostMatrix& m, const std::vector<float>& book, int r, int c) {
  const float tab = book[m.codes[size_t(r) * m.cols + c]] * 0.08838834764831845f;
  return __bfloat162float(__float2bfloat16_rn(tab * __half2float(m.norms[size_t(r) * (m.cols / 128) + c / 128])));
}

TEST(QDequant, EveryWidthMatchesTheSpecValueOfEachCode) {
  HLWQ_REQUIRE_GPU();
  for (int bits : {5, 4, 3}) {
    const int rows = 40, cols = 384;  // tiles of 16, 16, 8 rows
    const HostMatrix h = random_matrix(bits, rows, cols, 11 + bits);
    const std::vector<float> book = converged_codebook(bits);
    Dev<uint8_t> image(h.image);
    Dev<float> dbook(book);
    const QMatrix q = q_matrix_in(image.p, bits, rows, cols);
    for (auto [first, count] : {std::pair{0, rows}, {5, 30}, {17, 23}, {32, 8}}) {
      SCOPED_TRACE("Q" + std::to_string(bits) + " rows " + std::to_string(first) + "+" + std::to_string(count));
      Dev<__nv_bfloat16> out(size_t(count) * cols);
      out.poison();
      dequantize_rotated(q.row_slice(first, count), dbook.p, out.p, nullptr);
      const auto got = out.download();
      int bad = 0;
      for (int r = 0; r < count; ++r)
        for (int c = 0; c < cols; ++c) {
          const float g = __bfloat162float(got[size_t(r) * cols + c]), e = expected(h, book, first + r, c);
          if (!(g == e) && bad++ < 5) ADD_FAILURE() << "row " << first + r << " col " << c << ": " << g << " vs " << e;
        }
      EXPECT_EQ(bad, 0);
    }
  }
}

TEST(QDequant, AWidthOutsideTheLayoutIsRefusedNamingIt) {
  QMatrix q;
  q.bits = 2;
  q.rows = 16;
  q.cols = 128;
  try {
    dequantize_rotated(q, nullptr, nullptr, nullptr);
    FAIL() << "expected Error{InvalidArgument}";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument);
    EXPECT_NE(std::string(e.what()).find("2-bit"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace hlwq::cuda::test
