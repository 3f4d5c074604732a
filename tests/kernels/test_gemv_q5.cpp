// Fused Q5 GEMV (and the repack from the hlwq-q5 file layout) against a CPU reference written
// from the spec: W[r] = n_b * H(c[code] / sqrt(128)) per 128-block, so W[r] . x =
// sum_b n_b * (c[code_b] / sqrt(128)) . (H x_b) with H the symmetric normalised Hadamard
// matrix (built from its definition), in double.
// Tolerance: the kernel rounds the codebook values / sqrt(128) and the rotated activation
// (scaled per block by a power of two) to fp16, relative error <= 2^-11 each, multiplies
// exactly and accumulates in fp32; so every output is within ~1e-3 * sum_j |w_rj| |x_j| of
// the exact value in the worst case. The test allows 2e-3 of that per-row magnitude (and
// the SwiGLU output the same bound carried through silu(g) * u).
#include "gemv_q5.h"
#include "gpu_test_util.h"

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

TEST(GemvQ5, TestPackerMatchesSpecVectors) {
  EXPECT_EQ(pack_bigendian({1, 2, 3, 4, 5, 6, 7, 8}), (std::vector<uint8_t>{0x08, 0x86, 0x42, 0x98, 0xe8}));
  EXPECT_EQ(pack_bigendian({31, 0, 31, 0, 31, 0, 31, 0}), (std::vector<uint8_t>{0xf8, 0x3e, 0x0f, 0x83, 0xe0}));
}

// The five-word run encoding keeps every code, and uses all 160 bits (so any bit pattern is
// a valid run, which the synthetic fill relies on).
TEST(GemvQ5, RunEncodingRoundTrips) {
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
TEST(GemvQ5, LayoutOffsetsAreABijection) {
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
};

double silu(double v) { return v / (1.0 + std::exp(-v)); }

// A codebook with no symmetry, so swapped pair halves or a sign trick would show.
std::vector<float> asymmetric_table() {
  auto t = q5_table();
  for (size_t i = 0; i < t.size(); ++i) t[i] += 0.013f * float(i % 5) - 0.02f;
  return t;
}

void run_case(const Case& c, uint64_t seed) {
  SCOPED_TRACE("rows=" + std::to_string(c.rows) + " cols=" + std::to_string(c.cols) + " input=" +
               std::to_string(int(c.input)) + " output=" + std::to_string(int(c.output)));
  std::mt19937_64 g(seed);
  const int nb = c.cols / 128;
  std::vector<uint8_t> codes(size_t(c.rows) * c.cols);
  for (size_t i = 0; i < codes.size(); i += 8) {  // 8 codes per draw: the lm_head case has 1.3 G
    const uint64_t v = g();
    for (int k = 0; k < 8; ++k) codes[i + k] = uint8_t((v >> (5 * k)) & 31);
  }
  std::vector<uint16_t> norms(size_t(c.rows) * nb);
  for (auto& n : norms) n = float_to_half(0.5f + float(g() % 1000) / 1000.0f);
  const auto table = asymmetric_table();
  const auto x = uniform(c.cols, -1.f, 1.f, seed + 1);
  const auto gate = uniform(c.cols, -3.f, 3.f, seed + 2);
  const auto norm_w = uniform(c.input == GemvInput::GatedNorm ? 128 : c.cols, -0.5f, 0.5f, seed + 3);
  const auto resid = uniform(c.rows, -1.f, 1.f, seed + 4);
  const double eps = 1e-6;

  // reference input as the producer would make it
  std::vector<double> xin(x.begin(), x.end());
  if (c.input == GemvInput::RmsNorm1p) {
    double ss = 0;
    for (double v : xin) ss += v * v;
    const double r = 1.0 / std::sqrt(ss / c.cols + eps);
    for (int i = 0; i < c.cols; ++i) xin[i] = x[i] * r * (1.0 + norm_w[i]);
  } else if (c.input == GemvInput::GatedNorm) {
    for (int b = 0; b < nb; ++b) {
      double ss = 0;
      for (int j = 0; j < 128; ++j) ss += double(x[b * 128 + j]) * x[b * 128 + j];
      const double r = 1.0 / std::sqrt(ss / 128 + eps);
      for (int j = 0; j < 128; ++j) xin[b * 128 + j] = x[b * 128 + j] * r * norm_w[j] * silu(gate[b * 128 + j]);
    }
  }
  const auto H = hadamard(128);
  std::vector<double> xr(c.cols);  // H x per block
  for (int b = 0; b < nb; ++b) {
    const auto v = matvec(H, xin.data() + b * 128, 128);
    std::copy(v.begin(), v.end(), xr.begin() + b * 128);
  }
  std::vector<double> cs(32);
  for (int i = 0; i < 32; ++i) cs[i] = table[i] / std::sqrt(128.0);
  std::vector<double> y(c.rows, 0.0), mag(c.rows, 0.0);  // mag: sum |w||x| in the rotated basis
  for (int r = 0; r < c.rows; ++r) {
    const uint8_t* cr = &codes[size_t(r) * c.cols];
    for (int b = 0; b < nb; ++b) {
      double s = 0, m = 0;
      for (int j = 0; j < 128; ++j) {
        const double w = cs[cr[b * 128 + j]], v = xr[b * 128 + j];
        s += w * v;
        m += std::fabs(w * v);
      }
      const double n = half_to_float(norms[size_t(r) * nb + b]);
      y[r] += n * s;
      mag[r] += n * m;
    }
  }
  std::vector<double> expect, bound;
  const double tol = 2e-3;
  if (c.output == GemvOutput::SwiGlu) {
    for (int r = 0; r < c.rows; r += 2) {
      expect.push_back(silu(y[r]) * y[r + 1]);
      const double dg = tol * mag[r], du = tol * mag[r + 1];
      bound.push_back(1.1 * dg * (std::fabs(y[r + 1]) + du) + (std::fabs(silu(y[r])) + 1.1 * dg) * du + 1e-30);
    }
  } else {
    for (int r = 0; r < c.rows; ++r) {
      expect.push_back(c.output == GemvOutput::AddResidual ? resid[r] + y[r] : y[r]);
      bound.push_back(tol * mag[r] + 1e-6 * std::fabs(expect.back()) + 1e-30);
    }
  }

  const auto packed = pack_bigendian(codes);
  Dev<uint8_t> dpacked(packed);
  Dev<uint16_t> dnorms(norms);
  Dev<uint8_t> storage(QMatrix::bytes_for(5, c.rows, c.cols));
  storage.poison();
  QMatrix m = q_matrix_in(storage.p, 5, c.rows, c.cols);
  repack_q5_bigendian(dpacked.p, reinterpret_cast<const __half*>(dnorms.p), m, nullptr);
  Dev<float> dx(x), dgate(gate), dnorm(norm_w), dtable(table);
  Dev<float> dout(expect.size());
  if (c.output == GemvOutput::AddResidual) dout.upload(resid);
  else dout.poison();
  GemvArgs a{m, dx.p, dgate.p, dnorm.p, float(eps), dout.p, dtable.p};
  gemv_q5(a, c.input, c.output, nullptr);
  const auto got = dout.download();
  int bad = 0;
  double worst = 0;
  for (size_t i = 0; i < expect.size(); ++i) {
    const double e = std::fabs(double(got[i]) - expect[i]);
    if (!std::isfinite(got[i]) || e > bound[i]) {
      if (++bad <= 5) ADD_FAILURE() << "out[" << i << "] = " << got[i] << ", expected " << expect[i] << " +- " << bound[i];
    }
    if (std::isfinite(got[i])) worst = std::max(worst, e / bound[i] * tol);
  }
  EXPECT_EQ(bad, 0) << "of " << expect.size() << " outputs";
  ::testing::Test::RecordProperty("worst_error_over_magnitude", std::to_string(worst));
}

TEST(GemvQ5, MatchesCpuReferenceAcrossShapesAndModes) {
  HLWQ_REQUIRE_GPU();
  uint64_t seed = 100;
  // 27B input widths (rows cut down to keep the CPU reference quick): hidden 5120,
  // intermediate 17408, DeltaNet value width 6144; row counts that leave a short last
  // 16-row tile, a single tile, and one row.
  for (auto [rows, cols] : std::vector<std::pair<int, int>>{
           {64, 256}, {37, 1152}, {40, 5120}, {12, 17408}, {18, 6144}, {6, 2560}, {2, 128}, {33, 384}, {300, 640}})
    for (GemvInput in : {GemvInput::Plain, GemvInput::RmsNorm1p, GemvInput::GatedNorm})
      for (GemvOutput out : {GemvOutput::Store, GemvOutput::AddResidual, GemvOutput::SwiGlu}) {
        if (out == GemvOutput::SwiGlu && rows % 2) continue;
        run_case({rows, cols, in, out}, seed++);
      }
  run_case({1, 256, GemvInput::Plain, GemvOutput::Store}, seed++);
}

// The 27B's full matrices as the decode graph calls them.
TEST(GemvQ5, MatchesCpuReferenceAt27BShapes) {
  HLWQ_REQUIRE_GPU();
  run_case({34816, 5120, GemvInput::RmsNorm1p, GemvOutput::SwiGlu}, 900);     // gate/up, interleaved
  run_case({5120, 17408, GemvInput::Plain, GemvOutput::AddResidual}, 901);    // down, split K
  run_case({5120, 6144, GemvInput::GatedNorm, GemvOutput::AddResidual}, 902); // DeltaNet out_proj
  run_case({16480, 5120, GemvInput::RmsNorm1p, GemvOutput::Store}, 903);      // DeltaNet in_proj
  run_case({248320, 5120, GemvInput::RmsNorm1p, GemvOutput::Store}, 904);     // lm_head
}

// The launch options (GemvTuning) changed for one test and restored after it.
struct TuningScope {
  GemvTuning saved = gemv_q5_tuning();
  ~TuningScope() { gemv_q5_tuning() = saved; }
};

// The diagnostic trace: every CTA of the launch stamps its phases in order.
TEST(GemvQ5, TraceStampsEveryCtaInOrder) {
  HLWQ_REQUIRE_GPU();
  TuningScope scope;
  int dev = 0, sms = 0;
  ASSERT_EQ(cudaGetDevice(&dev), cudaSuccess);
  ASSERT_EQ(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev), cudaSuccess);
  const int words = gemv_q5_trace_words();
  Dev<unsigned long long> trace(size_t(sms) * words);
  ASSERT_EQ(cudaMemset(trace.p, 0, size_t(sms) * words * 8), cudaSuccess);
  GemvTuning& t = gemv_q5_tuning();
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
  gemv_q5(a, GemvInput::Plain, GemvOutput::Store, nullptr);
  const auto traced = dout.download();
  dout.poison();
  gemv_q5(a, GemvInput::Plain, GemvOutput::Store, nullptr);  // past trace_launches: not traced
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

TEST(GemvQ5, RejectsBadShapes) {
  HLWQ_REQUIRE_GPU();
  GemvArgs a;
  a.w.rows = 4;
  a.w.cols = 100;
  EXPECT_THROW(gemv_q5(a, GemvInput::Plain, GemvOutput::Store, nullptr), Error);
  a.w.cols = 128;
  a.w.stored_rows = 8;  // a row slice: the GEMV takes whole matrices only
  EXPECT_THROW(gemv_q5(a, GemvInput::Plain, GemvOutput::Store, nullptr), Error);
  a.w.stored_rows = 4;
  a.w.rows = 3;
  a.w.stored_rows = 3;
  EXPECT_THROW(gemv_q5(a, GemvInput::Plain, GemvOutput::SwiGlu, nullptr), Error);
}

}  // namespace
}  // namespace hlwq::cuda::test
