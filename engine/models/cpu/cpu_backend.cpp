// The CPU backend: Qwen3.5's text forward in fp32 (qwen35.md sections 2-4), multithreaded
// over output rows and heads, with the hybrid cache: K/V for attention layers (KvCache) and
// conv + recurrent state for DeltaNet layers.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>

#include "core/error.h"
#include "core/thread_pool.h"
#include "formats/weights.h"
#include "models/backend.h"
#include "models/cpu/cpu_math.h"
#include "models/cpu/deltanet.h"
#include "models/cpu/kv_cache.h"
#include "models/cpu/qwen35_weights.h"
#include "models/sampler.h"

namespace hlwq {

namespace {

using qwen35::LayerType;

// Prompts are processed in slices so scratch memory stays bounded; any slice length gives
// the same result (the DeltaNet state is exact at every boundary).
constexpr int kMaxBatch = 256;

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  return "CPU";
}

struct RecurrentState {
  std::vector<std::vector<float>> S;     // per DeltaNet layer: [Hv, dk, dv]
  std::vector<std::vector<float>> conv;  // per DeltaNet layer: [kernel - 1, qkv_dim] pre-conv rows
  int pos = -1;                          // position this state belongs to (snapshots)
};

class CpuBackend final : public ModelBackend {
 public:
  CpuBackend(const ModelSource& source, const BackendOptions& options)
      : source_(source), c_(source.config), pool_(options.threads) {
    if (!source.weights) throw_error(ErrorKind::InvalidArgument, "CPU backend: no weights for ", source.name);
    if (options.context_length <= 0)
      throw_error(ErrorKind::InvalidArgument, "context length must be positive, got ", std::to_string(options.context_length));
    w_ = qwen35::bind_weights(c_, *source.weights);
    context_ = options.context_length;
    int full = 0;
    for (auto t : c_.layer_types) {
      cache_index_.push_back(t == LayerType::FullAttention ? full++ : int(state_.S.size()));
      if (t == LayerType::LinearAttention) {
        state_.S.emplace_back(size_t(c_.linear_num_value_heads) * c_.linear_key_head_dim * c_.linear_value_head_dim, 0.0f);
        state_.conv.emplace_back(size_t(c_.linear_conv_kernel_dim - 1) * c_.linear_qkv_dim(), 0.0f);
      }
    }
    kv_.init(full, c_.num_key_value_heads, c_.head_dim, context_, options.kv);
    const int R = c_.rotary_dim();
    for (int i = 0; i < R / 2; ++i)
      inv_freq_.push_back(float(1.0 / std::pow(double(float(c_.rope_theta)), double(float(2 * i) / float(R)))));
    device_ = cpu_model_name();
  }

  std::string name() const override { return "CPU"; }
  std::string device_name() const override { return device_; }
  const qwen35::Config& config() const override { return c_; }
  int context_max() const override { return context_; }
  int n_cached() const override { return n_cached_; }

  void forward(std::span<const int32_t> tokens, int pos, float* logits, int n_logits) override {
    const int n = int(tokens.size());
    if (pos != n_cached_)
      throw_error(ErrorKind::InvalidArgument, "forward: position ", std::to_string(pos), " but the cache holds ",
                  std::to_string(n_cached_), " tokens");
    if (int64_t(pos) + n > context_)
      throw_error(ErrorKind::ContextFull, "forward: ", std::to_string(pos + n), " tokens do not fit the context of ",
                  std::to_string(context_));
    if (logits && (n_logits < 0 || n_logits > n))
      throw_error(ErrorKind::InvalidArgument, "forward: n_logits ", std::to_string(n_logits), " for ", std::to_string(n), " tokens");
    for (int32_t t : tokens)
      if (t < 0 || t >= c_.vocab_size)
        throw_error(ErrorKind::InvalidArgument, "token id ", std::to_string(t), " is outside the vocabulary of ",
                    std::to_string(c_.vocab_size));
    if (!logits) n_logits = 0;
    for (int b0 = 0; b0 < n; b0 += kMaxBatch) {
      const int bn = std::min(kMaxBatch, n - b0);
      const int first_logit = std::max(0, (n - n_logits) - b0);  // inside this slice
      float* out = nullptr;
      if (first_logit < bn) out = logits + int64_t(b0 + first_logit - (n - n_logits)) * c_.vocab_size;
      run_slice(tokens.subspan(size_t(b0), size_t(bn)), pos + b0, out, first_logit);
      n_cached_ = pos + b0 + bn;
    }
  }

  int32_t decode_and_sample(int32_t token, int pos, const SamplingParams& params, std::span<const int32_t> history,
                            float uniform) override {
    logits_.resize(size_t(c_.vocab_size));
    forward(std::span<const int32_t>(&token, 1), pos, logits_.data(), 1);
    return sample_token(logits_, params, history, uniform);
  }

  void set_kv(const KvConfig& kv) override { kv_.convert(kv, n_cached_); }
  KvConfig kv() const override { return kv_.kv(); }

  void snapshot() override {
    snapshot_ = state_;
    snapshot_.pos = n_cached_;
  }

  int rewind(int n_tokens) override {
    if (n_tokens >= n_cached_) return n_cached_;
    if (snapshot_.pos >= 0 && snapshot_.pos <= n_tokens && snapshot_.pos <= n_cached_) {
      state_ = snapshot_;
      n_cached_ = snapshot_.pos;
      return n_cached_;
    }
    reset();
    return 0;
  }

  void reset() override {
    for (auto& s : state_.S) std::fill(s.begin(), s.end(), 0.0f);
    for (auto& s : state_.conv) std::fill(s.begin(), s.end(), 0.0f);
    snapshot_ = RecurrentState{};
    n_cached_ = 0;
  }

  MemoryBreakdown memory() const override {
    MemoryBreakdown m;
    m.weights = w_.linear_bytes;
    m.embedding = w_.embed_bytes;
    m.kv_cache = kv_.allocated_bytes();
    m.kv_used = kv_.bytes_per_token() * uint64_t(n_cached_);
    m.kv_used_fp16 = uint64_t(c_.num_full_attention_layers()) * c_.num_key_value_heads * 2 *
                     kv_vector_bytes(c_.head_dim, 16) * uint64_t(n_cached_);
    for (size_t i = 0; i < state_.S.size(); ++i) m.recurrent_state += (state_.S[i].size() + state_.conv[i].size()) * 4;
    m.scratch = scratch_bytes_;
    return m;
  }

 private:
  void run_slice(std::span<const int32_t> tokens, int pos, float* logits, int first_logit);
  void attention_layer(const qwen35::AttentionWeights& a, int cache_layer, const float* h, int n, int pos, float* out);
  void deltanet_layer(const qwen35::DeltaNetWeights& d, int state_index, const float* h, int n, float* out);
  void rope(float* x, int pos) const;

  ModelSource source_;
  qwen35::Config c_;
  ThreadPool pool_;
  qwen35::ModelWeights w_;
  int context_ = 0;
  int n_cached_ = 0;
  KvCache kv_;
  RecurrentState state_, snapshot_;
  std::vector<int> cache_index_;  // layer -> index into the KV cache or the DeltaNet state
  std::vector<float> inv_freq_;
  std::vector<float> logits_;
  std::string device_;
  uint64_t scratch_bytes_ = 0;
};

void CpuBackend::rope(float* x, int pos) const {
  const int half = c_.rotary_dim() / 2;
  for (int i = 0; i < half; ++i) {
    const float angle = float(pos) * inv_freq_[size_t(i)];
    const float cs = std::cos(angle), sn = std::sin(angle);
    const float a = x[i], b = x[i + half];
    x[i] = a * cs - b * sn;
    x[i + half] = b * cs + a * sn;
  }
}

void CpuBackend::attention_layer(const qwen35::AttentionWeights& a, int cache_layer, const float* h, int n, int pos,
                                 float* out) {
  const int H = c_.num_attention_heads, KV = c_.num_key_value_heads, D = c_.head_dim;
  const float eps = float(c_.rms_norm_eps);
  Activation x(h, n, c_.hidden_size);
  std::vector<float> qg(size_t(n) * 2 * H * D), k(size_t(n) * KV * D), v(size_t(n) * KV * D);
  a.q.apply(x, qg.data(), pool_);
  a.k.apply(x, k.data(), pool_);
  a.v.apply(x, v.data(), pool_);
  for (int t = 0; t < n; ++t) {
    for (int j = 0; j < H; ++j) {
      float* q = qg.data() + (size_t(t) * 2 * H + 2 * j) * D;  // query rows of head j, then its gate
      cpu::rmsnorm_offset(q, a.q_norm.data(), eps, q, D);
      rope(q, pos + t);
    }
    for (int j = 0; j < KV; ++j) {
      float* kk = k.data() + (size_t(t) * KV + j) * D;
      cpu::rmsnorm_offset(kk, a.k_norm.data(), eps, kk, D);
      rope(kk, pos + t);
    }
    kv_.store(cache_layer, pos + t, k.data() + size_t(t) * KV * D, v.data() + size_t(t) * KV * D);
  }
  std::vector<float> o(size_t(n) * H * D);
  const float scale = 1.0f / std::sqrt(float(D));
  const int group = H / KV;
  pool_.parallel_for(int64_t(n) * H, [&](int64_t i0, int64_t i1) {
    std::vector<float> scratch(size_t(pos + n) + 2 * size_t(D));
    for (int64_t i = i0; i < i1; ++i) {
      const int t = int(i / H), j = int(i % H);
      const float* q = qg.data() + (size_t(t) * 2 * H + 2 * j) * D;
      float* ot = o.data() + (size_t(t) * H + j) * D;
      kv_.attend(cache_layer, j / group, q, pos + t + 1, scale, ot, scratch.data());
      const float* gate = q + D;
      for (int d = 0; d < D; ++d) ot[d] *= cpu::sigmoid(gate[d]);
    }
  });
  Activation ox(o.data(), n, H * D);
  a.o.apply(ox, out, pool_);
}

void CpuBackend::deltanet_layer(const qwen35::DeltaNetWeights& d, int si, const float* h, int n, float* out) {
  const int hk = c_.linear_num_key_heads, hv = c_.linear_num_value_heads;
  const int dk = c_.linear_key_head_dim, dv = c_.linear_value_head_dim;
  const int C = c_.linear_qkv_dim(), K = c_.linear_conv_kernel_dim;
  Activation x(h, n, c_.hidden_size);
  // Rows [K-1 history | n new] of pre-conv qkv, so the causal conv reads one buffer.
  std::vector<float> ext(size_t(K - 1 + n) * C);
  std::vector<float> z(size_t(n) * hv * dv), b(size_t(n) * hv), ga(size_t(n) * hv);
  std::memcpy(ext.data(), state_.conv[size_t(si)].data(), size_t(K - 1) * C * sizeof(float));
  d.qkv.apply(x, ext.data() + size_t(K - 1) * C, pool_);
  d.z.apply(x, z.data(), pool_);
  d.b.apply(x, b.data(), pool_);
  d.a.apply(x, ga.data(), pool_);
  std::vector<float> y(size_t(n) * C);
  pool_.parallel_for(C, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const float* w = d.conv.data() + c * K;
      for (int t = 0; t < n; ++t) {
        float s = 0;
        for (int j = 0; j < K; ++j) s += w[j] * ext[size_t(t + j) * C + size_t(c)];
        y[size_t(t) * C + size_t(c)] = cpu::silu(s);
      }
    }
  }, 64);
  std::memcpy(state_.conv[size_t(si)].data(), ext.data() + size_t(n) * C, size_t(K - 1) * C * sizeof(float));
  // Split, L2-normalise q and k per head, scale q; beta and g per value head.
  std::vector<float> q(size_t(n) * hk * dk), k(size_t(n) * hk * dk), v(size_t(n) * hv * dv);
  const float qscale = 1.0f / std::sqrt(float(dk));
  for (int t = 0; t < n; ++t) {
    const float* row = y.data() + size_t(t) * C;
    for (int j = 0; j < hk; ++j) {
      const float* qs = row + j * dk;
      const float* ks = row + hk * dk + j * dk;
      float* qd = q.data() + (size_t(t) * hk + j) * dk;
      float* kd = k.data() + (size_t(t) * hk + j) * dk;
      const float rq = 1.0f / std::sqrt(cpu::dot(qs, qs, dk) + 1e-6f);
      const float rk = 1.0f / std::sqrt(cpu::dot(ks, ks, dk) + 1e-6f);
      for (int i = 0; i < dk; ++i) {
        qd[i] = qs[i] * rq * qscale;
        kd[i] = ks[i] * rk;
      }
    }
    std::memcpy(v.data() + size_t(t) * hv * dv, row + 2 * hk * dk, size_t(hv) * dv * sizeof(float));
    for (int j = 0; j < hv; ++j) {
      float& bb = b[size_t(t) * hv + j];
      bb = cpu::sigmoid(bb);
      const float xa = ga[size_t(t) * hv + j] + d.dt_bias[size_t(j)];
      const float sp = xa > 20.0f ? xa : std::log1p(std::exp(xa));
      ga[size_t(t) * hv + j] = d.neg_A[size_t(j)] * sp;
    }
  }
  std::vector<float> o(size_t(n) * hv * dv);
  const DeltaNetShape shape{hk, hv, dk, dv};
  if (n == 1)
    deltanet_recurrent(shape, n, q.data(), k.data(), v.data(), ga.data(), b.data(), state_.S[size_t(si)].data(), o.data(), pool_);
  else
    deltanet_chunked(shape, n, q.data(), k.data(), v.data(), ga.data(), b.data(), state_.S[size_t(si)].data(), o.data(), pool_);
  // Gated output norm: plain weight over dv, then * silu(z).
  const float eps = float(c_.rms_norm_eps);
  for (int64_t i = 0; i < int64_t(n) * hv; ++i) {
    float* oh = o.data() + i * dv;
    cpu::rmsnorm_plain(oh, d.norm.data(), eps, oh, dv);
    const float* zh = z.data() + i * dv;
    for (int e = 0; e < dv; ++e) oh[e] *= cpu::silu(zh[e]);
  }
  Activation ox(o.data(), n, hv * dv);
  d.out.apply(ox, out, pool_);
}

void CpuBackend::run_slice(std::span<const int32_t> tokens, int pos, float* logits, int first_logit) {
  const int n = int(tokens.size());
  const int hidden = c_.hidden_size, I = c_.intermediate_size;
  const float eps = float(c_.rms_norm_eps);
  std::vector<float> x(size_t(n) * hidden), h(size_t(n) * hidden), mix(size_t(n) * hidden);
  std::vector<float> g(size_t(n) * I), u(size_t(n) * I);
  scratch_bytes_ = std::max<uint64_t>(scratch_bytes_, (x.size() * 3 + g.size() * 2) * sizeof(float));
  for (int t = 0; t < n; ++t) w_.embed.row(tokens[size_t(t)], x.data() + size_t(t) * hidden);
  for (size_t li = 0; li < w_.layers.size(); ++li) {
    const auto& L = w_.layers[li];
    for (int t = 0; t < n; ++t)
      cpu::rmsnorm_offset(x.data() + size_t(t) * hidden, L.input_norm.data(), eps, h.data() + size_t(t) * hidden, hidden);
    if (L.type == LayerType::FullAttention)
      attention_layer(L.attn, cache_index_[li], h.data(), n, pos, mix.data());
    else
      deltanet_layer(L.delta, cache_index_[li], h.data(), n, mix.data());
    for (size_t i = 0; i < x.size(); ++i) x[i] += mix[i];
    for (int t = 0; t < n; ++t)
      cpu::rmsnorm_offset(x.data() + size_t(t) * hidden, L.post_norm.data(), eps, h.data() + size_t(t) * hidden, hidden);
    Activation hx(h.data(), n, hidden);
    L.gate.apply(hx, g.data(), pool_);
    L.up.apply(hx, u.data(), pool_);
    for (size_t i = 0; i < g.size(); ++i) g[i] = cpu::silu(g[i]) * u[i];
    Activation gx(g.data(), n, I);
    L.down.apply(gx, mix.data(), pool_);
    for (size_t i = 0; i < x.size(); ++i) x[i] += mix[i];
  }
  if (!logits) return;
  const int nl = n - first_logit;
  for (int t = 0; t < nl; ++t)
    cpu::rmsnorm_offset(x.data() + size_t(first_logit + t) * hidden, w_.final_norm.data(), eps, h.data() + size_t(t) * hidden, hidden);
  Activation fx(h.data(), nl, hidden);
  w_.lm_head.apply(fx, logits, pool_);
}

}  // namespace

std::unique_ptr<ModelBackend> make_cpu_backend(const ModelSource& source, const BackendOptions& options) {
  return std::make_unique<CpuBackend>(source, options);
}

}  // namespace hlwq
