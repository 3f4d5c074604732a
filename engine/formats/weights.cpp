#include "formats/weights.h"

#include <algorithm>

#include "core/error.h"

namespace hlwq {

std::size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::BF16:
    case DType::F16: return 2;
    case DType::F32:
    case DType::I32: return 4;
    case DType::U8:
    case DType::I8: return 1;
    case DType::I64: return 8;
  }
  return 0;
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::BF16: return "BF16";
    case DType::F16: return "F16";
    case DType::F32: return "F32";
    case DType::U8: return "U8";
    case DType::I8: return "I8";
    case DType::I32: return "I32";
    case DType::I64: return "I64";
  }
  return "?";
}

int64_t DenseTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

WeightStore::WeightStore() = default;
WeightStore::~WeightStore() = default;
WeightStore::WeightStore(WeightStore&&) noexcept = default;
WeightStore& WeightStore::operator=(WeightStore&&) noexcept = default;

bool WeightStore::contains(std::string_view name) const {
  return dense_.find(name) != dense_.end() || quant_.find(name) != quant_.end();
}

const DenseTensor* WeightStore::dense(std::string_view name) const {
  auto it = dense_.find(name);
  return it == dense_.end() ? nullptr : &it->second;
}

const QuantTensor* WeightStore::quant(std::string_view name) const {
  auto it = quant_.find(name);
  return it == quant_.end() ? nullptr : &it->second;
}

const DenseTensor& WeightStore::require_dense(std::string_view name) const {
  if (const auto* t = dense(name)) return *t;
  if (quant(name))
    throw_error(ErrorKind::MissingTensor, "tensor ", std::string(name), " in ", source_,
                " is quantized where a dense tensor was expected");
  throw_error(ErrorKind::MissingTensor, "tensor ", std::string(name), " missing from ", source_);
}

const QuantTensor& WeightStore::require_quant(std::string_view name) const {
  if (const auto* t = quant(name)) return *t;
  if (dense(name))
    throw_error(ErrorKind::MissingTensor, "tensor ", std::string(name), " in ", source_,
                " is dense where a quantized tensor was expected");
  throw_error(ErrorKind::MissingTensor, "tensor ", std::string(name), " missing from ", source_);
}

std::vector<std::string> WeightStore::names() const {
  std::vector<std::string> out;
  out.reserve(dense_.size() + quant_.size());
  for (const auto& [k, v] : dense_) out.push_back(k);
  for (const auto& [k, v] : quant_) out.push_back(k);
  std::sort(out.begin(), out.end());
  return out;
}

std::size_t WeightStore::resident_bytes() const {
  std::size_t total = 0;
  for (const auto& [k, v] : dense_) total += v.bytes.size();
  for (const auto& [k, v] : quant_) total += v.codes.size() + v.norms.size() * 2;
  return total;
}

void WeightStore::add_dense(DenseTensor tensor) {
  std::string name = tensor.name;
  quant_.erase(name);
  dense_.insert_or_assign(std::move(name), std::move(tensor));
}

void WeightStore::add_quant(QuantTensor tensor) {
  std::string name = tensor.name;
  dense_.erase(name);
  quant_.insert_or_assign(std::move(name), std::move(tensor));
}

void WeightStore::keep_alive(std::shared_ptr<const void> owner) { owners_.push_back(std::move(owner)); }
void WeightStore::set_source(std::string description) { source_ = std::move(description); }
const std::string& WeightStore::source() const { return source_; }

}  // namespace hlwq
