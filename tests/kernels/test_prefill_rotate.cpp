// The prefill GEMM inputs (prefill_rotate.h) against plain loops in double: RMSNorm(1+w),
// the gated norm, SwiGLU or nothing, then the explicit normalised 128-point Hadamard matrix
// on every 128-chunk. Outputs are bf16 (8 significant bits): relative error < 5e-3.
#include <cuda_bf16.h>

#include "gpu_test_util.h"
#include "prefill_rotate.h"

namespace hlwq::cuda::test {
namespace {

std::vector<float> bf16_to_float(const std::vector<uint16_t>& v) {
  std::vector<float> f(v.size());
  for (size_t i = 0; i < v.size(); ++i) f[i] = __bfloat162float(__ushort_as_bfloat16(v[i]));
  return f;
}

// Applies H_128 to every 128-chunk of x (rows of `cols`).
std::vector<double> rotate(const std::vector<double>& x, int cols) {
  static const auto H = hadamard(128);
  std::vector<double> y(x.size());
  for (size_t c = 0; c < x.size(); c += 128) {
    const auto r = matvec(H, x.data() + c, 128);
    std::copy(r.begin(), r.end(), y.begin() + c);
  }
  (void)cols;
  return y;
}

double silu(double v) { return v / (1.0 + std::exp(-v)); }

__nv_bfloat16* bf(Dev<uint16_t>& d) { return reinterpret_cast<__nv_bfloat16*>(d.p); }

TEST(PrefillRotate, RmsNorm1p) {
  HLWQ_REQUIRE_GPU();
  for (auto [T, cols] : {std::pair{3, 128}, std::pair{17, 5120}, std::pair{2, 1152}}) {
    SCOPED_TRACE(std::to_string(T) + "x" + std::to_string(cols));
    const auto x = uniform(size_t(T) * cols, -3.f, 3.f, 1 + T), w = uniform(cols, -0.5f, 0.5f, 2 + T);
    std::vector<double> ref(x.size());
    for (int t = 0; t < T; ++t) {
      double ss = 0;
      for (int i = 0; i < cols; ++i) ss += double(x[size_t(t) * cols + i]) * x[size_t(t) * cols + i];
      const double r = 1.0 / std::sqrt(ss / cols + 1e-6);
      for (int i = 0; i < cols; ++i) ref[size_t(t) * cols + i] = x[size_t(t) * cols + i] * r * (1.0 + w[i]);
    }
    Dev<float> dx(x), dw(w);
    Dev<uint16_t> out(x.size());
    out.poison();
    rmsnorm1p_rotate_rows(dx.p, dw.p, 1e-6f, bf(out), T, cols, nullptr);
    EXPECT_LT(rel_err(bf16_to_float(out.download()), rotate(ref, cols)), 5e-3);
  }
}

TEST(PrefillRotate, GatedNormSwiGluPlain) {
  HLWQ_REQUIRE_GPU();
  const int T = 5, heads = 48, cols = heads * 128, gate_stride = cols + 256;
  const auto x = uniform(size_t(T) * cols, -2.f, 2.f, 11), w = uniform(128, 0.5f, 1.5f, 12);
  const auto gate = uniform(size_t(T) * gate_stride, -4.f, 4.f, 13);
  std::vector<double> gref(x.size()), pref(x.begin(), x.end());
  for (int t = 0; t < T; ++t)
    for (int h = 0; h < heads; ++h) {
      const float* v = &x[size_t(t) * cols + h * 128];
      double ss = 0;
      for (int i = 0; i < 128; ++i) ss += double(v[i]) * v[i];
      const double r = 1.0 / std::sqrt(ss / 128 + 1e-6);
      for (int i = 0; i < 128; ++i)
        gref[size_t(t) * cols + h * 128 + i] = v[i] * r * w[i] * silu(gate[size_t(t) * gate_stride + h * 128 + i]);
    }
  const auto y = uniform(size_t(T) * 2 * cols, -3.f, 3.f, 14);
  std::vector<double> sref(x.size());
  for (size_t i = 0; i < sref.size(); ++i) sref[i] = silu(y[2 * i]) * y[2 * i + 1];

  Dev<float> dx(x), dw(w), dg(gate), dy(y);
  Dev<uint16_t> out(x.size());
  out.poison();
  gated_norm_rotate_rows(dx.p, dg.p, gate_stride, dw.p, 1e-6f, bf(out), T, cols, nullptr);
  EXPECT_LT(rel_err(bf16_to_float(out.download()), rotate(gref, cols)), 5e-3) << "gated norm";
  out.poison();
  swiglu_rotate_rows(dy.p, bf(out), T, cols, nullptr);
  EXPECT_LT(rel_err(bf16_to_float(out.download()), rotate(sref, cols)), 5e-3) << "swiglu";
  out.poison();
  rotate_rows_f32(dx.p, bf(out), T, cols, nullptr);
  EXPECT_LT(rel_err(bf16_to_float(out.download()), rotate(pref, cols)), 5e-3) << "plain";
}

TEST(PrefillRotate, RejectsWidthsThatAreNotWholeChunks) {
  HLWQ_REQUIRE_GPU();
  EXPECT_THROW(rotate_rows_f32(nullptr, nullptr, 4, 100, nullptr), Error);
  EXPECT_THROW(swiglu_rotate_rows(nullptr, nullptr, 0, 128, nullptr), Error);
}

}  // namespace
}  // namespace hlwq::cuda::test
