// Fused GEMV at every code width (5, 4, 3 bits) and 1-8 tokens (and the repack from the hlwq-q5
// file layout) against a CPU reference written from the spec: W[r] = n_b * H(c[code] / sqrt(128)) per 128-block, so W[r] . x =
// sum_b n_b * (c[code_b] / sqrt(128)) . (H x_b) with H the symmetric normalised Hadamard
// matrix (built from its definition), in double.
// Tolerance: the kernel rounds the codebook values / sqrt(128) and the rotated activation
// (scaled per block by a power of two) to fp16, relative error <= 2^-11 each, multiplies
// exactly and accumulates in fp32; so every output is within ~1e-3 * sum_j |w_rj| |x_j| of
// the exact value in the worst case. The test allows 2e-3 of that per-row magnitude (and
// the SwiGLU output the same bound carried through silu(g) * u). The same holds per token and
// at every width (the table entries are codebook values rounded once either way); the
// RotatedBf16 input is given as bf16 and the reference uses exactly those values (scaling a
// bf16 value by a power of two into fp16 is exact down to fp16's subnormals).
#include <cuda_bf16.h>

#include <cstdlib>
#include <thread>

#include "gemv.h"
#include "gpu_test_util.h"
#include "prefill_linear.h"

namespace hlwq::cuda::test {
namespace {

// hlwq-format.md 3.1: 8 codes -> 5 bytes, c0 in the top bits of byte 0.
std::vector<uint8_t> pack_bigendian(const std::vector<uint8_t>& codes) {
  std::vector<uint8_t> out(codes.size() / 8 * 5);
  for (size_t g = 0; g < codes.size() / 8; ++g) {
    const uint8_t* c = &codes[g * 8];
    uint8_t* b = &out[g * 5];
    b[0] = uint8_t(c[0] << 3 | c[1] >> 2);
    b[1] = uint8_t((c[1] & 3) << 6 | c[2] << 1 | c[3] >> 4);
    b[2] = uint8_t((c[3] & 15) << 4 | c[4] >> 1);
    b[3] = uint8_t((c[4] & 1) << 7 | c[5] << 2 | c[6] >> 3);
    b[4] = uint8_t((c[6] & 7) << 5 | c[7]);
  }
  return out;
}

TEST(Gemv, TestPackerMatchesSpecVectors) {
  EXPECT_EQ(pack_bigendian({1, 2, 3, 4, 5, 6, 7, 8}), (std::vector<uint8_t>{0x08, 0x86, 0x42, 0x98, 0xe8}));
  EXPECT_EQ(pack_bigendian({31, 0, 31, 0, 31, 0, 31, 0}), (std::vector<uint8_t>{0xf8, 0x3e, 0x0f, 0x83, 0xe0}));
}

// The five-word run encoding keeps every code, and uses all 160 bits (so any bit pattern is
// a valid run, which the synthetic fill relies on).
TEST(Gemv, RunEncodingRoundTrips) {
  std::mt19937_64 g(7);
  for (int trial = 0; trial < 2000; ++trial) {
    uint8_t codes[32];
    for (auto& c : codes) c = uint8_t(g() % 32);
    uint32_t w[5];
    q5_encode_run(codes, w);
    for (int j = 0; j < 32; ++j) ASSERT_EQ(q5_decode_code(w, j), codes[j]) << "code " << j;
  }
  uint8_t ones[32];
  std::fill(ones, ones + 32, uint8_t(31));
  uint32_t w[5];
  q5_encode_run(ones, w);
  for (int q = 0; q < 5; ++q) EXPECT_EQ(w[q], 0xffffffffu) << "word " << q;
}

// Every (row, block, run) of a few shapes has its own place, and the places fill the bytes.
TEST(Gemv, LayoutOffsetsAreABijection) {
  for (auto [rows, cols] : std::vector<std::pair<int, int>>{{1, 128}, {16, 256}, {37, 1152}, {33, 384}}) {
    std::vector<int> nib(size_t(rows) * cols / 32, 0), hi(nib.size(), 0), norm(size_t(rows) * cols / 128, 0);
    const size_t runs = nib.size();
    for (int r = 0; r < rows; ++r)
      for (int b = 0; b < cols / 128; ++b)
        for (int t = 0; t < 4; ++t) {
          const QHostOffsets o = q_host_offsets(5, rows, cols, r, b, t);
          ASSERT_LT(o.lo / 16, runs);
          ++nib[o.lo / 16];
          ++hi[(o.hi - runs * 16) / 4];
          if (t == 0) ++norm[(o.norm - runs * 20) / 2];
        }
    for (int v : nib) EXPECT_EQ(v, 1);
    for (int v : hi) EXPECT_EQ(v, 1);
    for (int v : norm) EXPECT_EQ(v, 1);
  }
}

struct Case {
  int rows, cols;
  GemvInput input;
  GemvOutput output;
  int bits = 5;
  int tokens = 1;
  int pad = 0;  // extra elements per token row of in/gate/out (strides wider than the rows)
  bool via_prefill = false;  // RotatedBf16 through prefill_linear's Gemv path (packed input rows)
};

double silu(double v) { return v / (1.0 + std::exp(-v)); }

// A codebook with no symmetry, so swapped pair halves or a sign trick would show.
std::vector<float> asymmetric_table(int bits = 5) {
  auto t = bits == 5 ? q5_table() : kv_table(bits);
  for (size_t i = 0; i < t.size(); ++i) t[i] += 0.013f * float(i % 5) - 0.02f;
  return t;
}

float bf16_round(float v) { return __bfloat162float(__float2bfloat16(v)); }

// f(r) for r in [0, rows), rows spread over the host's threads (the 27B shapes' reference
// takes billions of multiply-adds).
template <typename F>
void parallel_rows(int rows, F&& f) {
  const int nth = int(std::max(1u, std::min(32u, std::thread::hardware_concurrency())));
  std::vector<std::thread> pool;
  for (int th = 0; th < nth; ++th)
    pool.emplace_back([&, th] {
      for (int r = th; r < rows; r += nth) f(r);
    });
  for (auto& t : pool) t.join();
}

// The matrix in the GPU layout: Q5 through the file-layout repack (so it is tested too),
// Q4/Q3 written on the host by q_put_run.
// `storage` holds QMatrix::bytes_for(bits, rows, cols) bytes.
QMatrix upload_matrix(Dev<uint8_t>& storage, int bits, int rows, int cols, const std::vector<uint8_t>& codes,
                      const std::vector<uint16_t>& norms) {
  storage.poison();
  const QMatrix m = q_matrix_in(storage.p, bits, rows, cols);
  const int nb = cols / 128;
  if (bits == 5) {
    const auto packed = pack_bigendian(codes);
    Dev<uint8_t> dpacked(packed);
    Dev<uint16_t> dnorms(norms);
    repack_q5_bigendian(dpacked.p, reinterpret_cast<const __half*>(dnorms.p), m, nullptr);
    check(cudaDeviceSynchronize(), "repack");
    return m;
  }
  std::vector<uint8_t> image(storage.n);
  parallel_rows(rows, [&](int r) {
    for (int b = 0; b < nb; ++b)
      for (int t = 0; t < 4; ++t)
        q_put_run(image.data(), bits, rows, cols, r, b, t, &codes[size_t(r) * cols + b * 128 + t * 32],
                  norms[size_t(r) * nb + b]);
  });
  storage.upload(image);
  return m;
}

void run_case(const Case& c, uint64_t seed) {
  SCOPED_TRACE("Q" + std::to_string(c.bits) + " rows=" + std::to_string(c.rows) + " cols=" + std::to_string(c.cols) +
               " tokens=" + std::to_string(c.tokens) + " pad=" + std::to_string(c.pad) + " input=" +
               std::to_string(int(c.input)) + " output=" + std::to_string(int(c.output)));
  std::mt19937_64 g(seed);
  const int nb = c.cols / 128, T = c.tokens, codes_n = 1 << c.bits;
  std::vector<uint8_t> codes(size_t(c.rows) * c.cols);
  for (size_t i = 0; i < codes.size(); i += 8) {  // 8 codes per draw: the lm_head case has 1.3 G
    const uint64_t v = g();
    for (int k = 0; k < 8; ++k) codes[i + k] = uint8_t((v >> (5 * k)) & (codes_n - 1));
  }
  std::vector<uint16_t> norms(size_t(c.rows) * nb);
  for (auto& n : norms) n = float_to_half(0.5f + float(g() % 1000) / 1000.0f);
  const auto table = asymmetric_table(c.bits);
  const int ld_in = c.cols + (c.via_prefill ? 0 : c.pad);
  const int width = c.output == GemvOutput::SwiGlu ? c.rows / 2 : c.rows, ld_out = width + c.pad;
  auto x = uniform(size_t(T) * ld_in, -1.f, 1.f, seed + 1);
  const auto gate = uniform(size_t(T) * ld_in, -3.f, 3.f, seed + 2);
  const auto norm_w = uniform(c.input == GemvInput::GatedNorm ? 128 : c.cols, -0.5f, 0.5f, seed + 3);
  const auto resid = uniform(size_t(T) * ld_out, -1.f, 1.f, seed + 4);
  std::vector<__nv_bfloat16> xb(x.size());  // RotatedBf16: x is the rotated input, as bf16
  if (c.input == GemvInput::RotatedBf16)
    for (size_t i = 0; i < x.size(); ++i) {
      x[i] = bf16_round(x[i]);
      xb[i] = __float2bfloat16(x[i]);
    }
  const double eps = 1e-6;
  const auto H = hadamard(128);
  std::vector<double> cs(codes_n);
  for (int i = 0; i < codes_n; ++i) cs[i] = table[i] / std::sqrt(128.0);

  // Reference inputs as the producers would make them, rotated per block (RotatedBf16: given).
  std::vector<std::vector<double>> xr(T, std::vector<double>(c.cols));
  for (int k = 0; k < T; ++k) {
    const float* xk = &x[size_t(k) * ld_in];
    const float* gk = &gate[size_t(k) * ld_in];
    std::vector<double> xin(xk, xk + c.cols);
    if (c.input == GemvInput::RmsNorm1p) {
      double ss = 0;
      for (double v : xin) ss += v * v;
      const double r = 1.0 / std::sqrt(ss / c.cols + eps);
      for (int i = 0; i < c.cols; ++i) xin[i] = xk[i] * r * (1.0 + norm_w[i]);
    } else if (c.input == GemvInput::GatedNorm) {
      for (int b = 0; b < nb; ++b) {
        double ss = 0;
        for (int j = 0; j < 128; ++j) ss += double(xk[b * 128 + j]) * xk[b * 128 + j];
        const double r = 1.0 / std::sqrt(ss / 128 + eps);
        for (int j = 0; j < 128; ++j) xin[b * 128 + j] = xk[b * 128 + j] * r * norm_w[j] * silu(gk[b * 128 + j]);
      }
    }
    for (int b = 0; b < nb; ++b) {
      if (c.input == GemvInput::RotatedBf16) {
        std::copy(xin.begin() + b * 128, xin.begin() + b * 128 + 128, xr[k].begin() + b * 128);
        continue;
      }
      const auto v = matvec(H, xin.data() + b * 128, 128);
      std::copy(v.begin(), v.end(), xr[k].begin() + b * 128);
    }
  }
  // y[k][r] and mag[k][r] = sum |w||x| in the rotated basis; rows spread over the host's threads.
  std::vector<double> y(size_t(T) * c.rows, 0.0), mag(y.size(), 0.0);
  parallel_rows(c.rows, [&](int r) {
    const uint8_t* cr = &codes[size_t(r) * c.cols];
    double w[128];
    for (int b = 0; b < nb; ++b) {
      const double n = half_to_float(norms[size_t(r) * nb + b]);
      for (int j = 0; j < 128; ++j) w[j] = cs[cr[b * 128 + j]];
      for (int k = 0; k < T; ++k) {
        const double* v = &xr[k][b * 128];
        double s = 0, m = 0;
        for (int j = 0; j < 128; ++j) {
          s += w[j] * v[j];
          m += std::fabs(w[j] * v[j]);
        }
        y[size_t(k) * c.rows + r] += n * s;
        mag[size_t(k) * c.rows + r] += n * m;
      }
    }
  });
  std::vector<double> expect(size_t(T) * width), bound(expect.size());
  const double tol = 2e-3;
  for (int k = 0; k < T; ++k) {
    const double* yk = &y[size_t(k) * c.rows];
    const double* mk = &mag[size_t(k) * c.rows];
    double* e = &expect[size_t(k) * width];
    double* bd = &bound[size_t(k) * width];
    if (c.output == GemvOutput::SwiGlu) {
      for (int r = 0; r < c.rows; r += 2) {
        e[r / 2] = silu(yk[r]) * yk[r + 1];
        const double dg = tol * mk[r], du = tol * mk[r + 1];
        bd[r / 2] = 1.1 * dg * (std::fabs(yk[r + 1]) + du) + (std::fabs(silu(yk[r])) + 1.1 * dg) * du + 1e-30;
      }
    } else {
      for (int r = 0; r < c.rows; ++r) {
        e[r] = c.output == GemvOutput::AddResidual ? resid[size_t(k) * ld_out + r] + yk[r] : yk[r];
        bd[r] = tol * mk[r] + 1e-6 * std::fabs(e[r]) + 1e-30;
      }
    }
  }

  Dev<uint8_t> storage(QMatrix::bytes_for(c.bits, c.rows, c.cols));
  const QMatrix m = upload_matrix(storage, c.bits, c.rows, c.cols, codes, norms);
  Dev<float> dx(x), dgate(gate), dnorm(norm_w), dtable(table);
  Dev<__nv_bfloat16> dxb(xb);
  Dev<float> dout(size_t(T) * ld_out);
  dout.poison();
  if (c.output == GemvOutput::AddResidual) {  // the rows get the residual, the padding stays NaN
    std::vector<float> init = resid;
    for (int k = 0; k < T; ++k)
      for (int i = width; i < ld_out; ++i) init[size_t(k) * ld_out + i] = std::nanf("");
    dout.upload(init);
  }
  GemvArgs a{m, dx.p, dgate.p, dnorm.p, float(eps), dout.p, dtable.p};
  a.tokens = T;
  a.in_rotated = dxb.p;
  if (c.pad || g() % 2) {  // packed rows are given as 0 or as the width, alike
    a.in_stride = a.gate_stride = ld_in;
    a.out_stride = ld_out;
  }
  if (c.via_prefill) {
    PrefillLinearArgs p;
    p.w = m;
    p.codebook = dtable.p;
    p.in = dxb.p;
    p.tokens = T;
    p.out = dout.p;
    p.ldo = ld_out;
    p.accumulate = c.output == GemvOutput::AddResidual;
    Dev<__nv_bfloat16> scratch(c.cols);  // the GEMV path leaves it (and the cuBLAS handle) alone
    p.scratch = scratch.p;
    p.scratch_elems = c.cols;
    p.path = PrefillGemmPath::Gemv;
    prefill_linear(nullptr, p, nullptr);
    check(cudaDeviceSynchronize(), "prefill_linear");
  } else {
    gemv(a, c.input, c.output, nullptr);
  }
  const auto got = dout.download();
  int bad = 0;
  double worst = 0;
  for (int k = 0; k < T; ++k)
    for (int i = 0; i < ld_out; ++i) {
      const float v = got[size_t(k) * ld_out + i];
      if (i >= width) {  // padding between token rows: untouched
        if (!std::isnan(v) && ++bad <= 5) ADD_FAILURE() << "token " << k << " padding [" << i << "] written: " << v;
        continue;
      }
      const double ex = expect[size_t(k) * width + i], b = bound[size_t(k) * width + i];
      const double e = std::fabs(double(v) - ex);
      if (!std::isfinite(v) || e > b) {
        if (++bad <= 5) ADD_FAILURE() << "token " << k << " out[" << i << "] = " << v << ", expected " << ex << " +- " << b;
      }
      if (std::isfinite(v)) worst = std::max(worst, e / b * tol);
    }
  EXPECT_EQ(bad, 0) << "of " << got.size() << " outputs";
  ::testing::Test::RecordProperty("worst_error_over_magnitude", std::to_string(worst));
}

constexpr GemvInput kInputs[] = {GemvInput::Plain, GemvInput::RmsNorm1p, GemvInput::GatedNorm, GemvInput::RotatedBf16};
constexpr GemvOutput kOutputs[] = {GemvOutput::Store, GemvOutput::AddResidual, GemvOutput::SwiGlu};

// 27B input widths (rows cut down to keep the CPU reference quick): hidden 5120,
// intermediate 17408, DeltaNet value width 6144; row counts that leave a short last
// 16-row tile, a single tile, and one row. Every width, input and output mode, 1, 2, 3, 5
// and 8 tokens (8 tokens of 6144 inputs at Q5 do not fit next to the table: two groups).
class GemvSmallShapes : public ::testing::TestWithParam<int> {};

TEST_P(GemvSmallShapes, MatchesCpuReference) {
  HLWQ_REQUIRE_GPU();
  const int bits = GetParam();
  uint64_t seed = 100 + 1000 * bits;
  for (auto [rows, cols] : std::vector<std::pair<int, int>>{
           {64, 256}, {37, 1152}, {40, 5120}, {12, 17408}, {18, 6144}, {6, 2560}, {2, 128}, {33, 384}, {300, 640}})
    for (GemvInput in : kInputs)
      for (GemvOutput out : kOutputs)
        for (int tokens : {1, 2, 3, 5, 8}) {
          if (out == GemvOutput::SwiGlu && (rows % 2 || in == GemvInput::RotatedBf16)) continue;
          run_case({rows, cols, in, out, bits, tokens, (rows + tokens) % 3 == 0 ? 4 : 0}, seed++);
        }
  run_case({1, 256, GemvInput::Plain, GemvOutput::Store, bits}, seed++);
  run_case({1, 256, GemvInput::RotatedBf16, GemvOutput::Store, bits, 7, 8}, seed++);
}

// prefill_linear's GEMV path: the rotated bf16 chunk [T][cols] in, [T][ldo] out, stored or
// added to the residual, at every width; more than 8 tokens go as passes of 8.
TEST(Gemv, PrefillLinearSendsFewTokensThroughTheGemv) {
  HLWQ_REQUIRE_GPU();
  uint64_t seed = 7000;
  for (int bits : {5, 4, 3})
    for (int tokens : {1, 3, 8, 13})
      for (GemvOutput out : {GemvOutput::Store, GemvOutput::AddResidual}) {
        run_case({37, 640, GemvInput::RotatedBf16, out, bits, tokens, 3, true}, seed++);
        run_case({5120, 6144, GemvInput::RotatedBf16, out, bits, tokens, 0, true}, seed++);
      }
}

// The measured dispatch (docs/PERFORMANCE.md "GEMV: Q4/Q3 and 1-8 tokens"): up to 8 tokens the
// GEMV at every width; Q4/Q3 (whose other path expands the matrix) up to 4 passes of 8.
TEST(Gemv, PrefillPathTakesTheGemvForShortChunks) {
  if (std::getenv("HLWQ_PREFILL_GEMM")) GTEST_SKIP() << "a path is forced";
  for (int bits : {5, 4, 3}) {
    EXPECT_EQ(prefill_gemm_path(1, 5120, 6144, bits), PrefillGemmPath::Gemv) << bits << "-bit";
    EXPECT_EQ(prefill_gemm_path(8, 34816, 5120, bits), PrefillGemmPath::Gemv) << bits << "-bit";
  }
  EXPECT_NE(prefill_gemm_path(9, 34816, 5120, 5), PrefillGemmPath::Gemv);
  for (int bits : {4, 3}) {
    EXPECT_EQ(prefill_gemm_path(32, 34816, 5120, bits), PrefillGemmPath::Gemv) << bits << "-bit";
    EXPECT_EQ(prefill_gemm_path(33, 34816, 5120, bits), PrefillGemmPath::DequantCublas) << bits << "-bit";
  }
}

INSTANTIATE_TEST_SUITE_P(Widths, GemvSmallShapes, ::testing::Values(5, 4, 3),
                         [](const auto& info) { return "Q" + std::to_string(info.param); });

// The 27B's full matrices in the modes the decode graph calls them, at every width and 1, 2,
// 3 and 8 tokens (the prefill's rotated bf16 input at the Store and residual shapes), and the
// lm_head (Q5: one token as decoded; Q4/Q3: three).
class Gemv27BShapes : public ::testing::TestWithParam<int> {};

TEST_P(Gemv27BShapes, MatchesCpuReference) {
  HLWQ_REQUIRE_GPU();
  const int bits = GetParam();
  uint64_t seed = 900 + 100 * bits;
  for (int tokens : {1, 2, 3, 8}) {
    run_case({34816, 5120, GemvInput::RmsNorm1p, GemvOutput::SwiGlu, bits, tokens}, seed++);    // gate/up, interleaved
    run_case({5120, 17408, GemvInput::Plain, GemvOutput::AddResidual, bits, tokens}, seed++);   // down, split K
    run_case({5120, 6144, GemvInput::GatedNorm, GemvOutput::AddResidual, bits, tokens}, seed++); // DeltaNet out_proj
    run_case({16480, 5120, GemvInput::RmsNorm1p, GemvOutput::Store, bits, tokens}, seed++);     // DeltaNet in_proj
    run_case({14336, 5120, GemvInput::RotatedBf16, GemvOutput::Store, bits, tokens}, seed++);   // attention q/k/v, prefill
    run_case({5120, 6144, GemvInput::RotatedBf16, GemvOutput::AddResidual, bits, tokens}, seed++);  // o_proj, prefill
  }
  run_case({248320, 5120, GemvInput::RmsNorm1p, GemvOutput::Store, bits, bits == 5 ? 1 : 3}, seed++);  // lm_head
}

INSTANTIATE_TEST_SUITE_P(Widths, Gemv27BShapes, ::testing::Values(5, 4, 3),
                         [](const auto& info) { return "Q" + std::to_string(info.param); });

// The launch options (GemvTuning) changed for one test and restored after it.
struct TuningScope {
  GemvTuning saved = gemv_tuning();
  ~TuningScope() { gemv_tuning() = saved; }
};

// The diagnostic trace: every CTA of the launch stamps its phases in order.
TEST(Gemv, TraceStampsEveryCtaInOrder) {
  HLWQ_REQUIRE_GPU();
  TuningScope scope;
  int dev = 0, sms = 0;
  ASSERT_EQ(cudaGetDevice(&dev), cudaSuccess);
  ASSERT_EQ(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev), cudaSuccess);
  const int words = gemv_trace_words();
  Dev<unsigned long long> trace(size_t(sms) * words);
  ASSERT_EQ(cudaMemset(trace.p, 0, size_t(sms) * words * 8), cudaSuccess);
  GemvTuning& t = gemv_tuning();
  t.trace = trace.p;
  t.trace_launches = 1;
  t.trace_ctas = sms;
  t.trace_next = 0;
  const int rows = 16 * sms * 3, cols = 512;  // three tiles per CTA
  Dev<uint8_t> storage(QMatrix::bytes_for(5, rows, cols));
  ASSERT_EQ(cudaMemset(storage.p, 0x5a, QMatrix::bytes_for(5, rows, cols)), cudaSuccess);
  const auto x = uniform(cols, -1.f, 1.f, 1);
  const auto table = asymmetric_table();
  Dev<float> dx(x), dtable(table), dout(rows);
  GemvArgs a{q_matrix_in(storage.p, 5, rows, cols), dx.p, nullptr, nullptr, 1e-6f, dout.p, dtable.p};
  dout.poison();
  gemv(a, GemvInput::Plain, GemvOutput::Store, nullptr);
  const auto traced = dout.download();
  dout.poison();
  gemv(a, GemvInput::Plain, GemvOutput::Store, nullptr);  // past trace_launches: not traced
  EXPECT_EQ(t.trace_next, 1);
  // Same kernel body with the stamps: the same sums up to the order in which the warps add
  // their tile sums (fp32, 1e-5 of the output's magnitude).
  const auto plain = dout.download();
  double ss = 0;
  for (float v : plain) ss += double(v) * v;
  const double rms = std::sqrt(ss / plain.size());
  for (size_t i = 0; i < plain.size(); ++i)
    ASSERT_NEAR(traced[i], plain[i], 1e-5 * (std::fabs(plain[i]) + rms)) << "row " << i;
  const auto got = trace.download();
  for (int c = 0; c < sms; ++c) {
    const unsigned long long* w = &got[size_t(c) * words];
    SCOPED_TRACE("cta " + std::to_string(c));
    EXPECT_GT(w[0], 0u);
    for (int i = 1; i < 6; ++i) EXPECT_LE(w[i - 1], w[i]) << "stamp " << i;
    EXPECT_LT(w[6], 1024u);  // SM id
    // A warp's loop-end stamp is read before the barrier that precedes stamp 4, but the
    // H200 returns it up to ~1 us after thread 0's post-barrier read: only the lower bound
    // holds.
    for (int k = 0; k < 16; ++k) EXPECT_LE(w[3], w[8 + k]) << "warp " << k;
  }
}

// Every check comes before any device call, so these run without a GPU too.
void expect_invalid(const GemvArgs& a, GemvInput in, GemvOutput out, const std::string& names) {
  try {
    gemv(a, in, out, nullptr);
    ADD_FAILURE() << "no error; expected one naming " << names;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument) << e.what();
    EXPECT_NE(std::string(e.what()).find(names), std::string::npos) << e.what();
  }
}

TEST(Gemv, RejectsBadShapesWidthsTokensAndStrides) {
  float dummy = 0;
  GemvArgs a;
  a.in = &dummy;
  a.out = &dummy + 1;
  a.w.rows = 4;
  a.w.cols = 100;
  expect_invalid(a, GemvInput::Plain, GemvOutput::Store, "4x100");
  a.w.cols = 128;
  a.w.stored_rows = 8;  // a row slice: the GEMV takes whole matrices only
  expect_invalid(a, GemvInput::Plain, GemvOutput::Store, "of 8");
  a.w.rows = 3;
  a.w.stored_rows = 3;
  expect_invalid(a, GemvInput::Plain, GemvOutput::SwiGlu, "3 rows");
  a.w.rows = a.w.stored_rows = 4;
  a.w.bits = 2;
  expect_invalid(a, GemvInput::Plain, GemvOutput::Store, "2-bit");
  a.w.bits = 4;
  a.tokens = 9;
  expect_invalid(a, GemvInput::Plain, GemvOutput::Store, "got 9");
  a.tokens = 0;
  expect_invalid(a, GemvInput::Plain, GemvOutput::Store, "got 0");
  a.tokens = 2;
  a.in_stride = 64;  // narrower than a row
  expect_invalid(a, GemvInput::Plain, GemvOutput::Store, "in 64");
  a.in_stride = 130;  // rows not float4-aligned
  expect_invalid(a, GemvInput::Plain, GemvOutput::Store, "in 130");
  a.in_stride = 0;
  a.out_stride = 3;
  expect_invalid(a, GemvInput::Plain, GemvOutput::Store, "out 3");
  a.out_stride = 0;
  expect_invalid(a, GemvInput::RotatedBf16, GemvOutput::Store, "no input");
  a.in_rotated = reinterpret_cast<const __nv_bfloat16*>(&dummy);
  expect_invalid(a, GemvInput::RotatedBf16, GemvOutput::SwiGlu, "Store or AddResidual");
  a.out = &dummy;
  expect_invalid(a, GemvInput::Plain, GemvOutput::AddResidual, "alias");
}

}  // namespace
}  // namespace hlwq::cuda::test
