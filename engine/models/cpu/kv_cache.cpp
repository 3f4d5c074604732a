#include "models/cpu/kv_cache.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/half.h"
#include "formats/hlwq_codec.h"
#include "models/cpu/cpu_math.h"

namespace hlwq {

uint64_t kv_vector_bytes(int d, int bits) {
  if (bits == 32) return uint64_t(d) * 4;
  if (bits == 16) return uint64_t(d) * 2;
  return uint64_t(d) * uint64_t(bits) / 8 + 2;
}

void KvCache::setup_side(Side& s, int bits) const {
  s.bits = bits;
  s.vec_bytes = kv_vector_bytes(d_, bits);
  s.table.clear();
  if (bits < 16) {
    const auto cb = codebook_table(Codebook::Converged, bits);
    for (float c : cb) s.table.push_back(c / std::sqrt(float(d_)));
  }
  s.data.assign(uint64_t(layers_) * kv_heads_ * uint64_t(context_) * s.vec_bytes, 0);
}

void KvCache::init(int layers, int kv_heads, int head_dim, int context, const KvConfig& kv) {
  for (int bits : {kv.k_bits, kv.v_bits}) {
    if (!kv_bits_supported(bits))
      throw_error(ErrorKind::InvalidArgument, "KV cache: ", std::to_string(bits),
                  "-bit entries are not supported (use 32, 16, 5, 4, 3 or 2)");
    if (bits < 16 && (head_dim % 8 != 0 || (head_dim & (head_dim - 1)) != 0))
      throw_error(ErrorKind::InvalidArgument, "KV cache: ", std::to_string(bits), "-bit codes need a power-of-two head_dim, the model has ",
                  std::to_string(head_dim));
  }
  layers_ = layers;
  kv_heads_ = kv_heads;
  d_ = head_dim;
  context_ = context;
  kv_ = kv;
  try {
    setup_side(k_, kv.k_bits);
    setup_side(v_, kv.v_bits);
  } catch (const std::bad_alloc&) {
    throw_error(ErrorKind::OutOfMemory, "KV cache: cannot allocate ", std::to_string(allocated_bytes()), " bytes for ",
                std::to_string(context), " tokens");
  }
}

uint64_t KvCache::bytes_per_token() const { return uint64_t(layers_) * kv_heads_ * (k_.vec_bytes + v_.vec_bytes); }

uint8_t* KvCache::slot(Side& s, int layer, int head, int pos) const {
  return s.data.data() + ((uint64_t(layer) * kv_heads_ + head) * uint64_t(context_) + uint64_t(pos)) * s.vec_bytes;
}
const uint8_t* KvCache::slot(const Side& s, int layer, int head, int pos) const {
  return s.data.data() + ((uint64_t(layer) * kv_heads_ + head) * uint64_t(context_) + uint64_t(pos)) * s.vec_bytes;
}

void KvCache::encode(const Side& s, const float* x, uint8_t* out) const {
  if (s.bits == 32) {
    std::memcpy(out, x, size_t(d_) * 4);
    return;
  }
  if (s.bits == 16) {
    auto* h = reinterpret_cast<uint16_t*>(out);
    for (int i = 0; i < d_; ++i) h[i] = f32_to_f16(x[i]);
    return;
  }
  // z = sqrt(D) * H (x / n); nearest centroid, ties to the lower index (midpoint count).
  double ss = 0;
  for (int i = 0; i < d_; ++i) ss += double(x[i]) * x[i];
  const float n = std::max(float(std::sqrt(ss)), 1e-10f);
  std::vector<float> z(x, x + d_);
  cpu::wht(z.data(), d_);
  const float scale = std::sqrt(float(d_)) / n;
  const auto cb = codebook_table(Codebook::Converged, s.bits);
  std::vector<uint8_t> codes(static_cast<size_t>(d_));
  for (int i = 0; i < d_; ++i) {
    const float v = z[i] * scale;
    uint8_t c = 0;
    for (size_t k = 0; k + 1 < cb.size(); ++k)
      if ((cb[k] + cb[k + 1]) * 0.5f < v) c = uint8_t(k + 1);
    codes[size_t(i)] = c;
  }
  const uint16_t nh = f32_to_f16(n);
  std::memcpy(out, &nh, 2);
  pack_codes(CodePacking::BigEndianStream, s.bits, codes.data(), uint64_t(d_), out + 2);
}

void KvCache::decode(const Side& s, const uint8_t* in, float* out) const {
  if (s.bits == 32) {
    std::memcpy(out, in, size_t(d_) * 4);
    return;
  }
  if (s.bits == 16) {
    cpu::f16_row_to_f32(reinterpret_cast<const uint16_t*>(in), out, d_);
    return;
  }
  uint16_t nh;
  std::memcpy(&nh, in, 2);
  const float n = f16_to_f32(nh);
  std::vector<uint8_t> codes(static_cast<size_t>(d_));
  unpack_codes(CodePacking::BigEndianStream, s.bits, in + 2, uint64_t(d_), codes.data());
  for (int i = 0; i < d_; ++i) out[i] = n * s.table[codes[size_t(i)]];
  cpu::wht(out, d_);
}

void KvCache::store(int layer, int pos, const float* k, const float* v) {
  if (pos < 0 || pos >= context_) throw_error(ErrorKind::ContextFull, "KV cache: position ", std::to_string(pos), " is past the context of ", std::to_string(context_), " tokens");
  for (int h = 0; h < kv_heads_; ++h) {
    encode(k_, k + size_t(h) * d_, slot(k_, layer, h, pos));
    encode(v_, v + size_t(h) * d_, slot(v_, layer, h, pos));
  }
}

void KvCache::load_k(int layer, int kv_head, int pos, float* out) const { decode(k_, slot(k_, layer, kv_head, pos), out); }
void KvCache::load_v(int layer, int kv_head, int pos, float* out) const { decode(v_, slot(v_, layer, kv_head, pos), out); }

void KvCache::attend(int layer, int kv_head, const float* q, int n_ctx, float scale, float* out, float* scratch) const {
  float* scores = scratch;
  float* qr = scratch + n_ctx;        // rotated query (coded K)
  float* acc = scratch + n_ctx + d_;  // rotated V sum (coded V) or a decoded row
  std::vector<uint8_t> codes(static_cast<size_t>(d_));
  // Scores.
  if (k_.bits < 16) {
    std::memcpy(qr, q, size_t(d_) * 4);
    cpu::wht(qr, d_);
  }
  for (int t = 0; t < n_ctx; ++t) {
    const uint8_t* p = slot(k_, layer, kv_head, t);
    float s;
    if (k_.bits == 32) {
      s = cpu::dot(q, reinterpret_cast<const float*>(p), d_);
    } else if (k_.bits == 16) {
      cpu::f16_row_to_f32(reinterpret_cast<const uint16_t*>(p), acc, d_);
      s = cpu::dot(q, acc, d_);
    } else {
      uint16_t nh;
      std::memcpy(&nh, p, 2);
      unpack_codes(CodePacking::BigEndianStream, k_.bits, p + 2, uint64_t(d_), codes.data());
      float sum = 0;
      for (int i = 0; i < d_; ++i) sum += k_.table[codes[size_t(i)]] * qr[i];
      s = f16_to_f32(nh) * sum;
    }
    scores[t] = s * scale;
  }
  float mx = -INFINITY;
  for (int t = 0; t < n_ctx; ++t) mx = std::max(mx, scores[t]);
  float total = 0;
  for (int t = 0; t < n_ctx; ++t) {
    scores[t] = std::exp(scores[t] - mx);
    total += scores[t];
  }
  const float inv = 1.0f / total;
  // Weighted V.
  std::fill(out, out + d_, 0.0f);
  for (int t = 0; t < n_ctx; ++t) {
    const float w = scores[t] * inv;
    const uint8_t* p = slot(v_, layer, kv_head, t);
    if (v_.bits == 32) {
      cpu::axpy(w, reinterpret_cast<const float*>(p), out, d_);
    } else if (v_.bits == 16) {
      cpu::f16_row_to_f32(reinterpret_cast<const uint16_t*>(p), acc, d_);
      cpu::axpy(w, acc, out, d_);
    } else {
      uint16_t nh;
      std::memcpy(&nh, p, 2);
      unpack_codes(CodePacking::BigEndianStream, v_.bits, p + 2, uint64_t(d_), codes.data());
      const float wn = w * f16_to_f32(nh);
      for (int i = 0; i < d_; ++i) out[i] += wn * v_.table[codes[size_t(i)]];
    }
  }
  if (v_.bits < 16) cpu::wht(out, d_);  // back from the rotated domain, once
}

void KvCache::convert(const KvConfig& kv, int n_tokens) {
  if (kv == kv_) return;
  KvCache next;
  next.init(layers_, kv_heads_, d_, context_, kv);
  std::vector<float> x(static_cast<size_t>(d_));
  for (int l = 0; l < layers_; ++l)
    for (int h = 0; h < kv_heads_; ++h)
      for (int t = 0; t < n_tokens; ++t) {
        decode(k_, slot(k_, l, h, t), x.data());
        next.encode(next.k_, x.data(), next.slot(next.k_, l, h, t));
        decode(v_, slot(v_, l, h, t), x.data());
        next.encode(next.v_, x.data(), next.slot(next.v_, l, h, t));
      }
  *this = std::move(next);
}

}  // namespace hlwq
