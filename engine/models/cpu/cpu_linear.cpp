#include "models/cpu/cpu_linear.h"

#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/half.h"
#include "core/thread_pool.h"
#include "formats/hlwq_codec.h"
#include "models/cpu/cpu_math.h"

namespace hlwq {

const float* Activation::rotated(ThreadPool& pool) {
  if (!rotated_.empty() || n_ == 0) return rotated_.data();
  const int pc = padded_cols();
  rotated_.assign(size_t(n_) * pc, 0.0f);
  const int blocks = pc / kHlwqBlock;
  pool.parallel_for(int64_t(n_) * blocks, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t t = b / blocks, k = b % blocks;
      float* dst = rotated_.data() + t * pc + k * kHlwqBlock;
      const int64_t c0 = k * kHlwqBlock;
      const int64_t len = std::min<int64_t>(kHlwqBlock, cols_ - c0);
      std::memcpy(dst, x_ + t * cols_ + c0, size_t(len) * sizeof(float));
      wht128(dst);
    }
  }, 16);
  return rotated_.data();
}

CpuLinear::CpuLinear(const WeightStore& store, const std::string& name, int64_t rows, int64_t cols)
    : rows_(rows), cols_(cols) {
  if (const QuantTensor* q = store.quant(name)) {
    if (q->rows != rows || q->cols != cols)
      throw_error(ErrorKind::CorruptFile, store.source(), ": tensor ", name, " is [", std::to_string(q->rows), ", ",
                  std::to_string(q->cols), "], the config needs [", std::to_string(rows), ", ", std::to_string(cols), "]");
    if (q->codebook.size() != (size_t(1) << q->bits))
      throw_error(ErrorKind::CorruptFile, store.source(), ": tensor ", name, " has ", std::to_string(q->codebook.size()),
                  " centroids for ", std::to_string(q->bits), "-bit codes");
    quant_ = q;
    for (float c : q->codebook) table_.push_back(c / std::sqrt(float(kHlwqBlock)));
    return;
  }
  const DenseTensor& d = store.require_dense(name);
  if (d.shape.size() != 2 || d.shape[0] != rows || d.shape[1] != cols)
    throw_error(ErrorKind::CorruptFile, store.source(), ": tensor ", name, " has the wrong shape; the config needs [",
                std::to_string(rows), ", ", std::to_string(cols), "]");
  if (d.dtype != DType::BF16 && d.dtype != DType::F16 && d.dtype != DType::F32)
    throw_error(ErrorKind::CorruptFile, store.source(), ": tensor ", name, " has dtype ", dtype_name(d.dtype),
                ", expected BF16, F16 or F32");
  dense_ = &d;
}

uint64_t CpuLinear::bytes() const {
  if (quant_) return quant_->codes.size() + quant_->norms.size() * 2;
  return dense_ ? dense_->bytes.size() : 0;
}

namespace {

// Dense row r as floats.
void dense_row(const DenseTensor& d, int64_t r, int64_t cols, float* out) {
  const std::byte* p = d.bytes.data() + size_t(r * cols) * dtype_size(d.dtype);
  switch (d.dtype) {
    case DType::BF16: cpu::bf16_row_to_f32(reinterpret_cast<const uint16_t*>(p), out, cols); break;
    case DType::F16: cpu::f16_row_to_f32(reinterpret_cast<const uint16_t*>(p), out, cols); break;
    default: std::memcpy(out, p, size_t(cols) * sizeof(float)); break;
  }
}

}  // namespace

void CpuLinear::row(int64_t r, float* out) const {
  if (dense_) return dense_row(*dense_, r, cols_, out);
  std::vector<float> tmp(size_t(quant_->blocks_per_row) * kHlwqBlock);
  dequantize_rows(*quant_, r, 1, tmp.data());
  std::memcpy(out, tmp.data(), size_t(cols_) * sizeof(float));
}

void CpuLinear::unpack_row(int64_t row, uint8_t* codes) const {
  if (quant_->packing == CodePacking::BigEndianStream && quant_->bits == 5) {
    // The hot case, inline: 8 codes per 5 bytes, c0 in the top bits (hlwq-format.md 3.1).
    const int64_t groups = quant_->blocks_per_row * kHlwqBlock / 8;
    const uint8_t* p = quant_->codes.data() + row * groups * 5;
    for (int64_t g = 0; g < groups; ++g, p += 5, codes += 8) {
      const uint64_t v = uint64_t(p[0]) << 32 | uint64_t(p[1]) << 24 | uint64_t(p[2]) << 16 | uint64_t(p[3]) << 8 | p[4];
      for (int i = 0; i < 8; ++i) codes[i] = uint8_t((v >> (35 - 5 * i)) & 31u);
    }
    return;
  }
  unpack_row_codes(*quant_, row, codes);
}

void CpuLinear::apply(Activation& x, float* y, ThreadPool& pool) const { apply_rows(x, 0, rows_, y, pool); }

void CpuLinear::apply_rows(Activation& x, int64_t row0, int64_t nrows, float* y, ThreadPool& pool) const {
  const int n = x.rows();
  if (x.cols() != cols_)
    throw_error(ErrorKind::Internal, "CpuLinear: input has ", std::to_string(x.cols()), " columns, weight has ",
                std::to_string(cols_));
  if (n == 0 || nrows == 0) return;
  if (dense_) {
    const float* in = x.data();
    if (n == 1 && dense_->dtype == DType::BF16) {  // decode: one pass over the weights
      const auto* w = reinterpret_cast<const uint16_t*>(dense_->bytes.data());
      pool.parallel_for(nrows, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) y[r] = cpu::dot_bf16(w + (row0 + r) * cols_, in, int(cols_));
      }, 16);
      return;
    }
    pool.parallel_for(nrows, [&](int64_t r0, int64_t r1) {
      std::vector<float> w(static_cast<size_t>(cols_));
      for (int64_t r = r0; r < r1; ++r) {
        dense_row(*dense_, row0 + r, cols_, w.data());
        for (int t = 0; t < n; ++t) y[int64_t(t) * nrows + r] = cpu::dot(w.data(), in + int64_t(t) * cols_, int(cols_));
      }
    }, 4);
    return;
  }
  // Codes: y_r = sum_k n[r,k] * sum_j table[code] * (H x_k)_j, over the rotated activation.
  const float* xr = x.rotated(pool);
  const int64_t bpr = quant_->blocks_per_row;
  const int pc = int(bpr * kHlwqBlock);
  pool.parallel_for(nrows, [&](int64_t r0, int64_t r1) {
    std::vector<uint8_t> codes(static_cast<size_t>(pc));
    std::vector<float> w(static_cast<size_t>(pc));
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t row = row0 + r;
      unpack_row(row, codes.data());
      for (int64_t k = 0; k < bpr; ++k) {
        const float s = f16_to_f32(quant_->norms[size_t(row * bpr + k)]);
        cpu::lookup_scaled(codes.data() + k * kHlwqBlock, table_.data(), s, w.data() + k * kHlwqBlock, kHlwqBlock);
      }
      for (int t = 0; t < n; ++t) y[int64_t(t) * nrows + r] = cpu::dot(w.data(), xr + int64_t(t) * pc, pc);
    }
  }, 4);
}

}  // namespace hlwq
