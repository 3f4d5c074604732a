// Prefill linear path (rotate activations, expand codes to bf16, cuBLAS GEMM) against
// Y = X W^T with W dequantized by the spec's formula in double. Tolerance: bf16 operands and
// output, relative error < 1.5e-2.
#include <cuda_bf16.h>

#include "gpu_test_util.h"
#include "prefill_gemm.h"

namespace hlwq::cuda::test {
namespace {

uint16_t to_bf16(float f) { return __bfloat16_as_ushort(__float2bfloat16(f)); }
float from_bf16(uint16_t h) { return __bfloat162float(__ushort_as_bfloat16(h)); }

void run(int tokens, int rows, int cols, uint64_t seed) {
  SCOPED_TRACE(std::to_string(tokens) + "x" + std::to_string(rows) + "x" + std::to_string(cols));
  std::mt19937_64 g(seed);
  const int nb = cols / 128;
  // Build the GPU layout directly: random nibble/high words, then read the codes back from them.
  std::vector<uint32_t> nib(size_t(rows) * cols / 32 * 4), hi(size_t(rows) * cols / 32);
  for (auto& w : nib) w = uint32_t(g());
  for (auto& w : hi) w = uint32_t(g());
  std::vector<uint16_t> norms(size_t(rows) * nb);
  for (auto& n : norms) n = float_to_half(0.5f + float(g() % 1000) / 1000.0f);
  const auto table = q5_table();
  const auto H = hadamard(128);
  std::vector<double> W(size_t(rows) * cols);
  std::vector<double> cb(128);
  for (int r = 0; r < rows; ++r)
    for (int b = 0; b < nb; ++b) {
      for (int j = 0; j < 128; ++j) {
        const size_t run = size_t(r) * (cols / 32) + b * 4 + j / 32;
        const int jj = j % 32;
        const int code = int((nib[run * 4 + jj / 8] >> (4 * (jj % 8))) & 15u) | int(((hi[run] >> q5_hi_bit(jj)) & 1u) << 4);
        cb[j] = table[code] / std::sqrt(128.0);
      }
      const auto w = matvec(H, cb.data(), 128);
      for (int j = 0; j < 128; ++j) W[size_t(r) * cols + b * 128 + j] = half_to_float(norms[size_t(r) * nb + b]) * w[j];
    }
  const auto xf = uniform(size_t(tokens) * cols, -1.f, 1.f, seed + 1);
  std::vector<uint16_t> xb(xf.size());
  for (size_t i = 0; i < xf.size(); ++i) xb[i] = to_bf16(xf[i]);
  std::vector<double> expect(size_t(tokens) * rows, 0.0);
  for (int t = 0; t < tokens; ++t)
    for (int r = 0; r < rows; ++r) {
      double s = 0;
      for (int k = 0; k < cols; ++k) s += from_bf16(xb[size_t(t) * cols + k]) * W[size_t(r) * cols + k];
      expect[size_t(t) * rows + r] = s;
    }

  Dev<uint8_t> storage(Q5Matrix::bytes_for(rows, cols));
  Q5Matrix m = q5_matrix_in(storage.p, rows, cols);
  check(cudaMemcpy(const_cast<uint4*>(m.nib), nib.data(), nib.size() * 4, cudaMemcpyHostToDevice), "nib");
  check(cudaMemcpy(const_cast<uint32_t*>(m.hi), hi.data(), hi.size() * 4, cudaMemcpyHostToDevice), "hi");
  check(cudaMemcpy(const_cast<__half*>(m.norms), norms.data(), norms.size() * 2, cudaMemcpyHostToDevice), "norms");
  Dev<float> dtable(table);
  Dev<uint16_t> dx(xb), dxr(xb.size()), dw(size_t(rows) * cols), dy(size_t(tokens) * rows);
  dxr.poison();
  dw.poison();
  dy.poison();
  cublasHandle_t handle;
  check(cublasCreate(&handle), "cublasCreate");
  rotate_rows_bf16(reinterpret_cast<__nv_bfloat16*>(dx.p), reinterpret_cast<__nv_bfloat16*>(dxr.p), tokens, cols, nullptr);
  dequantize_q5_rotated(m, dtable.p, reinterpret_cast<__nv_bfloat16*>(dw.p), nullptr);
  gemm_bf16_xwt(handle, reinterpret_cast<__nv_bfloat16*>(dxr.p), reinterpret_cast<__nv_bfloat16*>(dw.p),
                reinterpret_cast<__nv_bfloat16*>(dy.p), tokens, rows, cols);
  const auto got = dy.download();
  cublasDestroy(handle);
  std::vector<float> gf(got.size());
  for (size_t i = 0; i < got.size(); ++i) gf[i] = from_bf16(got[i]);
  EXPECT_LT(rel_err(gf, expect), 1.5e-2);
}

TEST(PrefillGemm, MatchesDequantizedReference) {
  HLWQ_REQUIRE_GPU();
  run(1, 8, 128, 1);
  run(17, 40, 1152, 2);
  run(64, 48, 5120, 3);    // 27B hidden
  run(32, 16, 17408, 4);   // 27B intermediate
}

}  // namespace
}  // namespace hlwq::cuda::test
