// Fused Q5 GEMV (and the repack from the hlwq-q5 file layout) against a CPU reference that
// dequantizes every block by the spec's formula b = n * H(c[code] / sqrt(128)) and multiplies
// in double. Tolerance: fp32 accumulation over up to 17408 terms, relative error < 1e-4.
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

struct Case {
  int rows, cols;
  GemvInput input;
  GemvOutput output;
};

double silu(double v) { return v / (1.0 + std::exp(-v)); }

void run_case(const Case& c, uint64_t seed) {
  SCOPED_TRACE("rows=" + std::to_string(c.rows) + " cols=" + std::to_string(c.cols) + " input=" +
               std::to_string(int(c.input)) + " output=" + std::to_string(int(c.output)));
  std::mt19937_64 g(seed);
  const int nb = c.cols / 128;
  std::vector<uint8_t> codes(size_t(c.rows) * c.cols);
  for (auto& v : codes) v = uint8_t(g() % 32);
  std::vector<uint16_t> norms(size_t(c.rows) * nb);
  for (auto& n : norms) n = float_to_half(0.5f + float(g() % 1000) / 1000.0f);
  const auto table = q5_table();
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
  std::vector<double> y(c.rows, 0.0);
  std::vector<double> cb(128);
  for (int r = 0; r < c.rows; ++r)
    for (int b = 0; b < nb; ++b) {
      for (int j = 0; j < 128; ++j) cb[j] = table[codes[(size_t(r) * nb + b) * 128 + j]] / std::sqrt(128.0);
      const auto w = matvec(H, cb.data(), 128);
      const double n = half_to_float(norms[size_t(r) * nb + b]);
      for (int j = 0; j < 128; ++j) y[r] += n * w[j] * xin[b * 128 + j];
    }
  std::vector<double> expect;
  if (c.output == GemvOutput::SwiGlu)
    for (int r = 0; r < c.rows; r += 2) expect.push_back(silu(y[r]) * y[r + 1]);
  else if (c.output == GemvOutput::AddResidual)
    for (int r = 0; r < c.rows; ++r) expect.push_back(resid[r] + y[r]);
  else
    expect = y;

  const auto packed = pack_bigendian(codes);
  Dev<uint8_t> dpacked(packed);
  Dev<uint8_t> storage(Q5Matrix::bytes_for(c.rows, c.cols));
  storage.poison();
  Q5Matrix m = q5_matrix_in(storage.p, c.rows, c.cols);
  check(cudaMemcpy(const_cast<__half*>(m.norms), norms.data(), norms.size() * 2, cudaMemcpyHostToDevice), "norms");
  repack_q5_bigendian(dpacked.p, c.rows, c.cols, m, nullptr);
  Dev<float> dx(x), dgate(gate), dnorm(norm_w), dtable(table);
  Dev<float> dout(expect.size());
  if (c.output == GemvOutput::AddResidual) dout.upload(resid);
  else dout.poison();
  GemvArgs a{m, dx.p, dgate.p, dnorm.p, float(eps), dout.p, dtable.p};
  gemv_q5(a, c.input, c.output, nullptr);
  const auto got = dout.download();
  EXPECT_LT(rel_err(got, expect), 1e-4);
}

TEST(GemvQ5, MatchesCpuReferenceAcrossShapesAndModes) {
  HLWQ_REQUIRE_GPU();
  uint64_t seed = 100;
  // 27B shapes (rows cut down to keep the CPU reference quick): hidden 5120, intermediate
  // 17408, DeltaNet value width 6144; plus columns that end in a partial 1024 run, and row
  // counts that are not a multiple of the 4 rows a warp takes.
  for (auto [rows, cols] : std::vector<std::pair<int, int>>{{64, 256}, {37, 1152}, {40, 5120}, {12, 17408}, {18, 6144}, {6, 2560}})
    for (GemvInput in : {GemvInput::Plain, GemvInput::RmsNorm1p, GemvInput::GatedNorm})
      for (GemvOutput out : {GemvOutput::Store, GemvOutput::AddResidual, GemvOutput::SwiGlu}) {
        if (out == GemvOutput::SwiGlu && rows % 2) continue;
        run_case({rows, cols, in, out}, seed++);
      }
}

TEST(GemvQ5, RejectsBadShapes) {
  HLWQ_REQUIRE_GPU();
  GemvArgs a;
  a.w.rows = 4;
  a.w.cols = 100;
  EXPECT_THROW(gemv_q5(a, GemvInput::Plain, GemvOutput::Store, nullptr), Error);
}

}  // namespace
}  // namespace hlwq::cuda::test
