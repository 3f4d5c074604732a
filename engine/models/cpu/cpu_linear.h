#pragma once
// One Linear layer (y = x W^T, no bias) on the CPU, from whatever the store holds: dense
// BF16/F16/F32 rows, or HLWQ codes. For codes the activation is rotated once per 128-chunk
// and the weight side is a table lookup (hlwq-format.md section 1), so weights are never
// expanded to a full float matrix.
#include <cstdint>
#include <string>
#include <vector>

#include "formats/weights.h"

namespace hlwq {

class ThreadPool;

// An activation [n, cols] and, made on first use, its 128-chunk Hadamard rotation (zero
// padded to whole blocks). Shared by every Linear that reads the same input.
class Activation {
 public:
  Activation(const float* x, int n, int cols) : x_(x), n_(n), cols_(cols) {}
  const float* data() const { return x_; }
  int rows() const { return n_; }
  int cols() const { return cols_; }
  const float* rotated(ThreadPool& pool);  // [n, padded_cols]
  int padded_cols() const { return (cols_ + 127) / 128 * 128; }

 private:
  const float* x_;
  int n_, cols_;
  std::vector<float> rotated_;
};

class CpuLinear {
 public:
  CpuLinear() = default;
  // Finds `name` in the store (dense or quantized) and checks its shape is [rows, cols].
  // Throws Error{MissingTensor} / Error{CorruptFile} naming the tensor.
  CpuLinear(const WeightStore& store, const std::string& name, int64_t rows, int64_t cols);

  // y[n, rows] = x[n, cols] W^T. Rows run in parallel on the pool.
  void apply(Activation& x, float* y, ThreadPool& pool) const;
  // Only output rows [row0, row0 + nrows): y is [n, nrows] (used for the vocabulary head).
  void apply_rows(Activation& x, int64_t row0, int64_t nrows, float* y, ThreadPool& pool) const;
  // Row r as floats in the original domain (embedding lookups of a quantized matrix).
  void row(int64_t r, float* out) const;

  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  bool quantized() const { return quant_ != nullptr; }
  uint64_t bytes() const;

 private:
  void unpack_row(int64_t row, uint8_t* codes) const;  // one byte per code
  const DenseTensor* dense_ = nullptr;
  const QuantTensor* quant_ = nullptr;
  int64_t rows_ = 0, cols_ = 0;
  std::vector<float> table_;  // codebook / sqrt(128)
};

}  // namespace hlwq
