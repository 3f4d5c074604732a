#pragma once
// The attention half of the hybrid cache: K and V of every full-attention layer, one vector
// per (token, kv head), each stored as fp32, fp16 or HLWQ codes (hlwq-format.md section 5:
// rotated by H_D, per-vector fp16 norm, converged Lloyd-Max codes packed MSB-first).
// Quantized vectors are used in the rotated domain: q is rotated once per head, scores
// are table lookups, and the weighted sum of V rows is rotated back once.
#include <cstdint>
#include <vector>

#include "models/backend_types.h"

namespace hlwq {

// Bytes one stored vector of length d takes at `bits` (32, 16, or 2..5: d*bits/8 + 2 for the norm).
uint64_t kv_vector_bytes(int d, int bits);

class KvCache {
 public:
  // Throws Error{InvalidArgument} for unsupported bits or a head_dim the Hadamard codes cannot
  // rotate (not a power of two, or not a multiple of 8).
  void init(int layers, int kv_heads, int head_dim, int context, const KvConfig& kv);

  // k, v: [kv_heads, head_dim] for one token at position pos (< context).
  void store(int layer, int pos, const float* k, const float* v);

  // One query head against positions [0, n_ctx) of its kv head: out[head_dim] =
  // softmax(scale * q.K) V. scratch: at least n_ctx + 2 * head_dim floats.
  void attend(int layer, int kv_head, const float* q, int n_ctx, float scale, float* out, float* scratch) const;

  // Re-encodes the first n_tokens tokens at the new precision.
  void convert(const KvConfig& kv, int n_tokens);

  const KvConfig& kv() const { return kv_; }
  uint64_t bytes_per_token() const;  // all layers, K and V
  uint64_t allocated_bytes() const { return bytes_per_token() * uint64_t(context_); }
  int context() const { return context_; }
  // Decodes one stored vector back to floats (tests, conversion).
  void load_k(int layer, int kv_head, int pos, float* out) const;
  void load_v(int layer, int kv_head, int pos, float* out) const;

 private:
  struct Side {
    int bits = 16;
    uint64_t vec_bytes = 0;
    std::vector<uint8_t> data;  // [layer][kv_head][context][vec_bytes]
    std::vector<float> table;   // codebook / sqrt(D) for coded modes
  };
  void setup_side(Side& s, int bits) const;
  uint8_t* slot(Side& s, int layer, int head, int pos) const;
  const uint8_t* slot(const Side& s, int layer, int head, int pos) const;
  void encode(const Side& s, const float* x, uint8_t* out) const;
  void decode(const Side& s, const uint8_t* in, float* out) const;

  int layers_ = 0, kv_heads_ = 0, d_ = 0, context_ = 0;
  KvConfig kv_;
  Side k_, v_;
};

}  // namespace hlwq
