// Prefill linear path (rotate activations, expand codes to bf16, cuBLAS GEMM) against
// Y = X W^T with W dequantized by the spec's formula in double. Tolerances: bf16 operands
// and output, relative error < 1.5e-2; prefill_linear (row slices, fp32 output, accumulate
// into the residual) against the same bf16 operands in double < 1e-3.
#include <cuda_bf16.h>

#include "gpu_test_util.h"
#include "prefill_gemm.h"
#include "prefill_gemm_q5.h"
#include "prefill_gemm_q5_wgmma.h"
#include "prefill_linear.h"

namespace hlwq::cuda::test {
namespace {

uint16_t to_bf16(float f) { return __bfloat16_as_ushort(__float2bfloat16(f)); }
float from_bf16(uint16_t h) { return __bfloat162float(__ushort_as_bfloat16(h)); }

// A random Q5 matrix in the GPU layout (random nibble/high words, so every 5-bit pattern and
// both halves of a pair occur) and its weights read back on the host with the reference decode
// of q_matrix.h, in double.
struct RandomQ5 {
  int rows, cols;
  std::vector<uint32_t> nib, hi;
  std::vector<uint16_t> norms;
  std::vector<float> table = q5_table();

  RandomQ5(int r, int c, uint64_t seed) : rows(r), cols(c) {
    std::mt19937_64 g(seed);
    nib.resize(size_t(rows) * cols / 32 * 4);
    hi.resize(size_t(rows) * cols / 32);
    for (auto& w : nib) w = uint32_t(g());
    for (auto& w : hi) w = uint32_t(g());
    norms.resize(size_t(rows) * (cols / 128));
    for (auto& n : norms) n = float_to_half(0.5f + float(g() % 1000) / 1000.0f);
  }
  // Stored row r in the rotated domain: norm * codebook[code] / sqrt(128) per 128-block.
  std::vector<double> row(int r) const {
    std::vector<double> w(cols);
    for (int b = 0; b < cols / 128; ++b) {
      const size_t rb = q_row_block(rows, cols, r, b);
      const double n = half_to_float(norms[rb]);
      for (int run = 0; run < 4; ++run) {
        const size_t i = rb * 4 + run;
        const uint32_t words[5] = {nib[i * 4], nib[i * 4 + 1], nib[i * 4 + 2], nib[i * 4 + 3], hi[i]};
        for (int j = 0; j < 32; ++j)
          w[b * 128 + run * 32 + j] = n * table[q5_decode_code(words, j)] / std::sqrt(128.0);
      }
    }
    return w;
  }
  // All rows in the weights' own domain: H_128 applied to each rotated block.
  std::vector<double> dense() const {
    const auto H = hadamard(128);
    std::vector<double> W(size_t(rows) * cols);
    for (int r = 0; r < rows; ++r) {
      const auto rot = row(r);
      for (int b = 0; b < cols / 128; ++b) {
        const auto w = matvec(H, rot.data() + b * 128, 128);
        std::copy(w.begin(), w.end(), W.begin() + size_t(r) * cols + b * 128);
      }
    }
    return W;
  }
  QMatrix upload(Dev<uint8_t>& storage) const {
    QMatrix m = q_matrix_in(storage.p, 5, rows, cols);
    check(cudaMemcpy(const_cast<uint4*>(m.nib), nib.data(), nib.size() * 4, cudaMemcpyHostToDevice), "nib");
    check(cudaMemcpy(const_cast<uint32_t*>(m.hi), hi.data(), hi.size() * 4, cudaMemcpyHostToDevice), "hi");
    check(cudaMemcpy(const_cast<__half*>(m.norms), norms.data(), norms.size() * 2, cudaMemcpyHostToDevice), "norms");
    return m;
  }
};

// The GEMM operands of one call on device buffers (bf16 activations, fp32 output).
PrefillGemmQ5Args gemm_args(const QMatrix& m, const float* codebook, const Dev<uint16_t>& x, int tokens,
                            Dev<float>& out, int ldo, bool accumulate) {
  PrefillGemmQ5Args a;
  a.w = m;
  a.codebook = codebook;
  a.in = reinterpret_cast<const __nv_bfloat16*>(x.p);
  a.tokens = tokens;
  a.out = out.p;
  a.ldo = ldo;
  a.accumulate = accumulate;
  return a;
}

void run(int tokens, int rows, int cols, uint64_t seed) {
  SCOPED_TRACE(std::to_string(tokens) + "x" + std::to_string(rows) + "x" + std::to_string(cols));
  const RandomQ5 q(rows, cols, seed);
  const auto W = q.dense();
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

  Dev<uint8_t> storage(QMatrix::bytes_for(5, rows, cols));
  const QMatrix m = q.upload(storage);
  const auto table = q5_table();
  Dev<float> dtable(table);
  Dev<uint16_t> dx(xb), dxr(xb.size()), dw(size_t(rows) * cols), dy(size_t(tokens) * rows);
  dxr.poison();
  dw.poison();
  dy.poison();
  cublasHandle_t handle;
  check(cublasCreate(&handle), "cublasCreate");
  rotate_rows_bf16(reinterpret_cast<__nv_bfloat16*>(dx.p), reinterpret_cast<__nv_bfloat16*>(dxr.p), tokens, cols, nullptr);
  dequantize_rotated(m, dtable.p, reinterpret_cast<__nv_bfloat16*>(dw.p), nullptr);
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

// prefill_linear: the row slices, the fp32 output with a wider stride and the accumulate
// into a non-zero residual, against X W_rot^T in double with W_rot the whole matrix expanded
// once by dequantize_rotated (checked above against the spec) - so this test holds for
// any GPU layout of the codes. Columns past n must stay untouched.
void run_linear(int tokens, int rows, int cols, size_t scratch_rows, bool accumulate, uint64_t seed,
                PrefillGemmPath path) {
  SCOPED_TRACE(std::to_string(tokens) + "x" + std::to_string(rows) + "x" + std::to_string(cols) + " slice " +
               std::to_string(scratch_rows) + (accumulate ? " +=" : " =") +
               (path == PrefillGemmPath::OnChip          ? " on chip"
                : path == PrefillGemmPath::OnChipMmaSync ? " on chip (mma.sync)"
                                                         : " dequant+cuBLAS"));
  Dev<uint8_t> storage(QMatrix::bytes_for(5, rows, cols));
  const QMatrix m = q_matrix_in(storage.p, 5, rows, cols);
  fill_random_q(m, seed, 1.0f, nullptr);
  const auto table = q5_table();
  Dev<float> dtable(table);
  Dev<uint16_t> dfull(size_t(rows) * cols);
  dequantize_rotated(m, dtable.p, reinterpret_cast<__nv_bfloat16*>(dfull.p), nullptr);
  const auto wfull = dfull.download();

  const int ldo = rows + 3;
  const auto xf = uniform(size_t(tokens) * cols, -1.f, 1.f, seed + 1);
  const auto out0 = uniform(size_t(tokens) * ldo, -2.f, 2.f, seed + 2);
  std::vector<uint16_t> xb(xf.size());
  for (size_t i = 0; i < xf.size(); ++i) xb[i] = to_bf16(xf[i]);
  std::vector<double> expect(out0.begin(), out0.end());
  for (int t = 0; t < tokens; ++t)
    for (int r = 0; r < rows; ++r) {
      double s = 0;
      for (int k = 0; k < cols; ++k) s += double(from_bf16(xb[size_t(t) * cols + k])) * from_bf16(wfull[size_t(r) * cols + k]);
      expect[size_t(t) * ldo + r] = (accumulate ? out0[size_t(t) * ldo + r] : 0.0) + s;
    }
  Dev<float> dout(out0);
  Dev<uint16_t> dx(xb), dw(scratch_rows * cols);
  dw.poison();
  cublasHandle_t handle;
  check(cublasCreate(&handle), "cublasCreate");
  const PrefillLinearArgs a{gemm_args(m, dtable.p, dx, tokens, dout, ldo, accumulate),
                            reinterpret_cast<__nv_bfloat16*>(dw.p), scratch_rows * cols, path};
  prefill_linear(handle, a, nullptr);
  const auto got = dout.download();
  cublasDestroy(handle);
  // Dequant + cuBLAS multiplies the same bf16 weights: only the fp32 summation order differs.
  // The on-chip kernel rounds codebook / sqrt(128) to bf16 and applies the norm in fp32, the
  // reference rounds their product: two roundings of one weight, at most 2^-8 apart.
  const bool onchip = path == PrefillGemmPath::OnChip || path == PrefillGemmPath::OnChipMmaSync;
  EXPECT_LT(rel_err(got, expect), onchip ? 6e-3 : 1e-3);
  for (int t = 0; t < tokens; ++t)
    for (int r = rows; r < ldo; ++r) ASSERT_EQ(got[size_t(t) * ldo + r], out0[size_t(t) * ldo + r]) << "column past n";
}

TEST(PrefillLinear, SlicesAndResidualMatchReference) {
  HLWQ_REQUIRE_GPU();
  for (PrefillGemmPath p : {PrefillGemmPath::DequantCublas, PrefillGemmPath::OnChip, PrefillGemmPath::OnChipMmaSync}) {
    run_linear(5, 24, 256, 24, false, 10, p);      // one slice, store
    run_linear(33, 40, 1152, 7, true, 11, p);      // 6 slices, the last partial, accumulate
    run_linear(64, 48, 5120, 16, true, 12, p);     // 27B hidden
    run_linear(17, 600, 1024, 300, true, 13, p);   // slices rounded to 256 rows: 256, 256, 88
  }
}

TEST(PrefillLinear, RejectsBadShapes) {
  HLWQ_REQUIRE_GPU();
  PrefillLinearArgs a;
  a.w.rows = 8;
  a.w.cols = 128;
  a.tokens = 4;
  a.ldo = 8;
  a.scratch_elems = 64;  // less than one row
  EXPECT_THROW(prefill_linear(nullptr, a, nullptr), Error);
  a.scratch_elems = 1024;
  a.ldo = 4;  // narrower than the matrix
  EXPECT_THROW(prefill_linear(nullptr, a, nullptr), Error);
}


// prefill_gemm_q5 / _wgmma (codes decoded on chip) against CPU loops over the rotated-domain
// weights norm * codebook[code] / sqrt(128), read with the reference decode of q_matrix.h
// from random layout words (so every 5-bit pattern and both halves of a pair occur). Both
// kernels round codebook / sqrt(128) once to bf16 (relative error <= 2^-9), apply the norm
// in fp32 and accumulate in fp32 over at most 17408 terms (<= 17408 * 2^-24 ~ 1e-3 of
// sum |w||x| in the worst case), so each output must be within 4e-3 * sum_k |w_k||x_k| (plus
// fp32 rounding of the residual add) of the double sum. Sampled rows (all tokens) keep the CPU loops short at the 27B shapes; every
// output must be finite (written over a NaN poison) and columns past n untouched.
// Rows [first, first + count) of a stored matrix of `stored` rows; every `step`-th view row
// plus the first and last 20 are checked against the CPU. Both kernels where the wgmma one runs
// (its activation scratch holding `scratch_tokens` rows: fewer than `tokens` runs in passes).
void run_onchip(int tokens, int stored, int cols, int first, int count, bool accumulate, int step, uint64_t seed,
                int scratch_tokens = 0) {
  SCOPED_TRACE(std::to_string(tokens) + " tokens, rows " + std::to_string(first) + "+" + std::to_string(count) + " of " +
               std::to_string(stored) + "x" + std::to_string(cols) + (accumulate ? " +=" : " ="));
  const RandomQ5 q(stored, cols, seed);
  Dev<uint8_t> storage(QMatrix::bytes_for(5, stored, cols));
  const QMatrix m = q.upload(storage).row_slice(first, count);
  const auto xf = uniform(size_t(tokens) * cols, -1.f, 1.f, seed + 1);
  std::vector<uint16_t> xb(xf.size());
  for (size_t i = 0; i < xf.size(); ++i) xb[i] = to_bf16(xf[i]);
  const int ldo = count + 3;
  auto out0 = uniform(size_t(tokens) * ldo, -2.f, 2.f, seed + 2);
  if (!accumulate)  // a store must write every output: start from NaN
    for (int t = 0; t < tokens; ++t)
      for (int r = 0; r < count; ++r) out0[size_t(t) * ldo + r] = NAN;
  Dev<float> dtable(q.table), dout(out0);
  Dev<uint16_t> dx(xb);
  const PrefillGemmQ5Args a = gemm_args(m, dtable.p, dx, tokens, dout, ldo, accumulate);

  // The CPU sums of the sampled rows, computed once for both kernels.
  std::vector<int> rows;
  for (int r = 0; r < count; ++r)
    if (r < 20 || r >= count - 20 || r % step == 0) rows.push_back(r);
  std::vector<double> sum(rows.size() * tokens), mag(rows.size() * tokens);
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto w = q.row(first + rows[i]);
    for (int t = 0; t < tokens; ++t) {
      double s = 0, mg = 0;
      for (int k = 0; k < cols; ++k) {
        const double x = from_bf16(xb[size_t(t) * cols + k]);
        s += x * w[k];
        mg += std::fabs(x * w[k]);
      }
      sum[i * tokens + t] = s;
      mag[i * tokens + t] = mg;
    }
  }
  auto check_out = [&](const char* kernel) {
    SCOPED_TRACE(kernel);
    const auto got = dout.download();
    for (int t = 0; t < tokens; ++t) {
      for (int r = 0; r < count; ++r) ASSERT_TRUE(std::isfinite(got[size_t(t) * ldo + r])) << "token " << t << " row " << r;
      for (int r = count; r < ldo; ++r) ASSERT_EQ(got[size_t(t) * ldo + r], out0[size_t(t) * ldo + r]) << "column past n";
    }
    for (size_t i = 0; i < rows.size(); ++i)
      for (int t = 0; t < tokens; ++t) {
        const int r = rows[i];
        const double base = accumulate ? out0[size_t(t) * ldo + r] : 0.0, s = sum[i * tokens + t];
        const double tol = 4e-3 * mag[i * tokens + t] + 1.2e-7 * (std::fabs(base) + std::fabs(s));
        ASSERT_NEAR(got[size_t(t) * ldo + r], base + s, tol) << "token " << t << " row " << r;
      }
  };
  prefill_gemm_q5(a, nullptr);
  check_out("mma.sync kernel");
  if (!wgmma_available()) return;
  dout.upload(out0);
  Dev<uint16_t> scratch(size_t(scratch_tokens ? scratch_tokens : tokens) * cols);
  scratch.poison();
  prefill_gemm_q5_wgmma(a, reinterpret_cast<__nv_bfloat16*>(scratch.p), scratch.n, nullptr);
  check_out("wgmma kernel");
}

TEST(PrefillGemmQ5, ShortPromptsAt27BShapes) {
  HLWQ_REQUIRE_GPU();
  for (int T : {1, 7, 64}) {
    run_onchip(T, 16480, 5120, 0, 16480, false, 97, 100 + T);   // DeltaNet in_proj (qkv|z|b|a)
    run_onchip(T, 34816, 5120, 0, 34816, false, 211, 200 + T);  // gate_up
    run_onchip(T, 5120, 17408, 0, 5120, true, 61, 300 + T);     // down, into the residual
  }
}

TEST(PrefillGemmQ5, TokenTailsViewsAndShortTiles) {
  HLWQ_REQUIRE_GPU();
  run_onchip(130, 1000, 1152, 37, 963, false, 7, 20);   // view ending in the 8-row last tile
  run_onchip(65, 1000, 1152, 0, 1000, true, 5, 21);     // one token past a 64 tile
  run_onchip(33, 200, 6144, 16, 100, true, 1, 22);      // out_proj width, split K
  run_onchip(300, 5120, 6144, 0, 5120, false, 127, 23); // out_proj shape, 3 token tiles
  run_onchip(520, 256, 256, 0, 256, true, 1, 24);       // many token tiles, two K blocks
  run_onchip(300, 640, 1152, 0, 640, true, 3, 25, 100); // wgmma: activations in 3 passes
}

TEST(PrefillGemmQ5, RejectsBadShapes) {
  HLWQ_REQUIRE_GPU();
  PrefillGemmQ5Args a;
  a.w.rows = a.w.stored_rows = 8;
  a.w.cols = 128;
  a.tokens = 0;
  a.ldo = 8;
  EXPECT_THROW(prefill_gemm_q5(a, nullptr), Error);
  a.tokens = 4;
  a.w.cols = 100;
  EXPECT_THROW(prefill_gemm_q5(a, nullptr), Error);
  a.w.cols = 128;
  a.ldo = 4;
  EXPECT_THROW(prefill_gemm_q5(a, nullptr), Error);
  a.ldo = 8;
  a.w.row0 = 4;  // the view runs past the stored rows
  EXPECT_THROW(prefill_gemm_q5(a, nullptr), Error);
}

}  // namespace
}  // namespace hlwq::cuda::test
