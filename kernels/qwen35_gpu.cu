#include <cuda_fp16.h>

#include <cmath>
#include <cstring>
#include <string>

#include "core/error.h"
#include "cuda_check.h"
#include "embed.h"
#include "gemv.h"
#include "qwen35_gpu.h"
#include "sampling.h"

namespace hlwq::cuda {
namespace {

__device__ __forceinline__ uint32_t hash32(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return uint32_t((x ^ (x >> 31)) >> 8);
}

__global__ void fill_uniform_kernel(float* p, size_t n, float lo, float hi, uint64_t seed) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    p[i] = lo + (hi - lo) * (hash32(seed * 0x100000001b3ull + i) & 0xffffff) * (1.0f / 16777216.0f);
}

__global__ void fill_bytes_kernel(uint32_t* p, size_t words, uint64_t seed) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < words; i += size_t(gridDim.x) * blockDim.x)
    p[i] = hash32(seed * 0x100000001b3ull + 2 * i) ^ (hash32(seed + 2 * i + 1) << 8);
}

__global__ void fill_half_kernel(__half* p, size_t n, float lo, float hi, uint64_t seed) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    p[i] = __float2half(lo + (hi - lo) * (hash32(seed * 0x100000001b3ull + i) & 0xffffff) * (1.0f / 16777216.0f));
}

QWeight make_q(Qwen35Gpu& model, int rows, int cols, uint64_t seed, cudaStream_t stream, const std::string& what) {
  const int bits = model.dims().weight_bits;
  QWeight w;
  w.storage = model.weight_region(what, QMatrix::bytes_for(bits, rows, cols));
  w.m = q_matrix_in(w.storage.get(), bits, rows, cols);
  fill_random_q(w.m, seed, std::sqrt(128.0f / cols), stream);
  return w;
}

// The converged Lloyd-Max tables (hlwq-format.md section 2), positive halves; used only for
// synthetic models, which have no file to read a codebook from.
const float kQ5[16] = {0.065890f, 0.198052f, 0.331378f, 0.466700f, 0.604934f, 0.747136f, 0.894565f, 1.048783f,
                       1.211804f, 1.386340f, 1.576228f, 1.787233f, 2.028728f, 2.317739f, 2.691120f, 3.260732f};
const float kQ4[8] = {0.128395f, 0.388048f, 0.656759f, 0.942340f, 1.256231f, 1.618046f, 2.069017f, 2.732590f};
const float kQ3[4] = {0.245094f, 0.756005f, 1.343909f, 2.151946f};
const float kQ2[2] = {0.452780f, 1.510418f};

std::vector<float> symmetric(const float* half, int n) {
  std::vector<float> t(2 * n);
  for (int i = 0; i < n; ++i) {
    t[n + i] = half[i];
    t[n - 1 - i] = -half[i];
  }
  return t;
}

}  // namespace

std::vector<float> converged_codebook(int bits) {
  switch (bits) {
    case 5: return symmetric(kQ5, 16);
    case 4: return symmetric(kQ4, 8);
    case 3: return symmetric(kQ3, 4);
    case 2: return symmetric(kQ2, 2);
  }
  throw_error(ErrorKind::InvalidArgument, "no converged codebook for ", std::to_string(bits), " bits (2..5)");
}

void Qwen35Gpu::upload_codebooks(const std::vector<float> (&tables)[6]) {
  for (int bits = 3; bits <= 5; ++bits) {
    codebooks_[bits - 3] = nullptr;
    if (tables[bits].empty()) continue;
    if (tables[bits].size() != std::size_t(1) << bits)
      throw_error(ErrorKind::Internal, "codebook for ", std::to_string(bits), " bits has ", std::to_string(tables[bits].size()),
                  " entries");
    codebook_storage_[bits - 3] = weight_region("codebook q" + std::to_string(bits), tables[bits].size() * sizeof(float));
    check(cudaMemcpy(codebook_storage_[bits - 3].get(), tables[bits].data(), tables[bits].size() * sizeof(float),
                     cudaMemcpyHostToDevice),
          "cudaMemcpy(codebook)");
    codebooks_[bits - 3] = codebook_storage_[bits - 3].get<float>();
  }
  auto point = [&](QWeight& w) {
    w.codebook = codebook_dev(w.m.bits);
    if (!w.codebook)
      throw_error(ErrorKind::Internal, "no codebook uploaded for a ", std::to_string(w.m.bits), "-bit matrix");
  };
  for (LayerWeights& l : layers_)
    for (QWeight* w : {&l.in_proj, &l.out_proj, &l.gate_up, &l.down}) point(*w);
  point(lm_head_);
}

void fill_uniform(float* dev, std::size_t n, float lo, float hi, uint64_t seed, cudaStream_t stream) {
  fill_uniform_kernel<<<1024, 256, 0, stream>>>(dev, n, lo, hi, seed);
  check_launch("fill_uniform");
}

Qwen35Dims Qwen35Dims::preset(const std::string& name) {
  // hidden, layers, heads, kv_heads, Hk, Hv, intermediate (qwen35.md section 1)
  struct P { const char* name; int hidden, layers, heads, kv, hk, hv, inter; };
  static const P presets[] = {{"27B", 5120, 64, 24, 4, 16, 48, 17408}, {"9B", 4096, 32, 16, 4, 16, 32, 12288},
                              {"4B", 2560, 32, 16, 4, 16, 32, 9216},   {"2B", 2048, 24, 8, 2, 16, 16, 6144},
                              {"0.8B", 1024, 24, 8, 2, 16, 16, 3584}};
  for (const P& p : presets) {
    if (name != p.name) continue;
    Qwen35Dims d;
    d.hidden = p.hidden; d.layers = p.layers; d.heads = p.heads; d.kv_heads = p.kv;
    d.hk = p.hk; d.hv = p.hv; d.intermediate = p.inter; d.vocab = 248320;
    for (int i = 0; i < d.layers; ++i) d.full_attention.push_back((i + 1) % 4 == 0);
    return d;
  }
  throw_error(ErrorKind::InvalidArgument, "unknown Qwen3.5 size '", name, "' (known: 27B, 9B, 4B, 2B, 0.8B)");
}

std::unique_ptr<Qwen35Gpu> Qwen35Gpu::synthetic(const Qwen35Dims& d, uint64_t seed, const planner::Plan& plan) {
  require_device();
  std::unique_ptr<Qwen35Gpu> m(new Qwen35Gpu());
  m->dims_ = d;
  m->adopt_plan(plan);  // every arena allocated here, before the first weight
  cudaStream_t s = nullptr;
  const int conv_c = 2 * d.hk * 128 + d.hv * 128;
  for (int l = 0; l < d.layers; ++l) {
    LayerWeights w;
    const uint64_t ls = seed * 1000 + l * 16;
    const std::string tag = "layer " + std::to_string(l);
    const bool full = d.full_attention[l];
    // small vectors: norm1, norm2 [hidden]; DeltaNet conv [C*4], a_log, dt_bias [hv], out_norm [128];
    // attention q_norm, k_norm [256]
    const std::size_t n_small = 2 * std::size_t(d.hidden) + (full ? 512 : std::size_t(conv_c) * 4 + 2 * d.hv + 128);
    w.small = m->weight_region(tag + " vectors", n_small * sizeof(float));
    float* p = w.small.get<float>();
    fill_uniform(p, 2 * d.hidden, -0.1f, 0.1f, ls, s);
    w.norm1 = p;
    w.norm2 = p + d.hidden;
    p += 2 * d.hidden;
    if (full) {
      fill_uniform(p, 512, -0.1f, 0.1f, ls + 1, s);
      w.q_norm = p;
      w.k_norm = p + 256;
      w.in_proj = make_q(*m, d.heads * 512 + 2 * d.kv_heads * 256, d.hidden, ls + 2, s, tag + " q/k/v");
      w.out_proj = make_q(*m, d.hidden, d.heads * 256, ls + 3, s, tag + " o_proj");
    } else {
      fill_uniform(p, std::size_t(conv_c) * 4, -0.5f, 0.5f, ls + 1, s);
      w.conv_w = p;
      p += std::size_t(conv_c) * 4;
      fill_uniform(p, 128, 0.9f, 1.1f, ls + 6, s);  // first: read as float4, keep it 16-byte aligned
      w.out_norm = p;
      fill_uniform(p + 128, d.hv, 0.0f, 2.7f, ls + 4, s);  // A = exp(a_log) in [1, 15]
      w.a_log = p + 128;
      fill_uniform(p + 128 + d.hv, d.hv, -0.5f, 0.5f, ls + 5, s);
      w.dt_bias = p + 128 + d.hv;
      w.in_proj = make_q(*m, conv_c + d.hv * 128 + 2 * d.hv, d.hidden, ls + 2, s, tag + " in_proj");
      w.out_proj = make_q(*m, d.hidden, d.hv * 128, ls + 3, s, tag + " out_proj");
    }
    w.gate_up = make_q(*m, 2 * d.intermediate, d.hidden, ls + 7, s, tag + " gate/up");
    w.down = make_q(*m, d.hidden, d.intermediate, ls + 8, s, tag + " down");
    m->layers_.push_back(std::move(w));
  }
  m->final_norm_ = m->weight_region("final norm", d.hidden * sizeof(float));
  fill_uniform(m->final_norm_.get<float>(), d.hidden, -0.1f, 0.1f, seed + 7, s);
  m->lm_head_ = make_q(*m, d.vocab, d.hidden, seed * 1000 + 999, s, "lm_head");

  std::vector<float> tables[6];
  tables[d.weight_bits] = converged_codebook(d.weight_bits);
  m->upload_codebooks(tables);
  m->upload_kv_codebooks();

  // Embedding: bf16 [vocab][hidden]; a repeated random block is as good as fresh noise here.
  const std::size_t emb_n = std::size_t(d.vocab) * d.hidden;
  std::vector<uint16_t> block(1 << 16);
  uint64_t st = seed | 1;
  for (auto& v : block) {
    st = st * 6364136223846793005ull + 1442695040888963407ull;
    const float f = ((st >> 40) & 0xffff) / 65536.0f * 0.1f - 0.05f;
    uint32_t u;
    std::memcpy(&u, &f, 4);
    v = uint16_t(u >> 16);
  }
  if (!m->embedding_on_device()) {  // the plan's placement
    check(cudaHostAlloc(reinterpret_cast<void**>(&m->embedding_host_), emb_n * 2, cudaHostAllocMapped),
          "cudaHostAlloc(embedding in host memory)");
    for (std::size_t i = 0; i < emb_n; i += block.size())
      std::memcpy(m->embedding_host_ + i, block.data(), std::min(block.size(), emb_n - i) * 2);
    void* dev = nullptr;
    check(cudaHostGetDevicePointer(&dev, m->embedding_host_, 0), "cudaHostGetDevicePointer(embedding)");
    m->embedding_ = static_cast<const uint16_t*>(dev);
  } else {
    m->embedding_dev_ = m->embedding_region();
    // The same block as on the host (random bits would hold NaN/Inf bf16 patterns), doubled
    // in place by device copies.
    uint16_t* e = m->embedding_dev_.get<uint16_t>();
    std::size_t done = std::min(block.size(), emb_n);
    check(cudaMemcpy(e, block.data(), done * 2, cudaMemcpyHostToDevice), "cudaMemcpy(embedding)");
    for (; done < emb_n; done *= 2)
      check(cudaMemcpy(e + done, e, std::min(done, emb_n - done) * 2, cudaMemcpyDeviceToDevice), "cudaMemcpy(embedding)");
    m->embedding_ = e;
  }

  m->allocate_planned_cache();  // activations, KV cache and state at the plan's context
  check(cudaDeviceSynchronize(), "building the synthetic model");
  return m;
}

void Qwen35Gpu::upload_kv_codebooks() {
  const std::vector<float> q4 = symmetric(kQ4, 8), q3 = symmetric(kQ3, 4), q2 = symmetric(kQ2, 2);
  const std::vector<float> q5 = converged_codebook(5);  // KV codes always use the converged table
  kv_codebooks_ = weight_region("KV codebooks", (16 + 8 + 4 + 32) * sizeof(float));  // Q4 | Q3 | Q2 | Q5
  float* kvb = kv_codebooks_.get<float>();
  check(cudaMemcpy(kvb, q4.data(), 16 * 4, cudaMemcpyHostToDevice), "cudaMemcpy(KV codebook)");
  check(cudaMemcpy(kvb + 16, q3.data(), 8 * 4, cudaMemcpyHostToDevice), "cudaMemcpy(KV codebook)");
  check(cudaMemcpy(kvb + 24, q2.data(), 4 * 4, cudaMemcpyHostToDevice), "cudaMemcpy(KV codebook)");
  check(cudaMemcpy(kvb + 28, q5.data(), 32 * 4, cudaMemcpyHostToDevice), "cudaMemcpy(KV codebook)");
}

void Qwen35Gpu::allocate_activations() {
  const Qwen35Dims& d = dims_;
  int max_proj = 0;
  for (auto& l : layers_) max_proj = std::max(max_proj, l.in_proj.m.rows);
  // Decode is one row of the plan's prefill-sized scratch (docs/FIT.md names the buffers).
  x_ = scratch("hidden", d.hidden * 4);
  proj_ = scratch("proj", std::size_t(max_proj) * 4);
  mix_ = scratch("mixer", std::size_t(std::max(d.heads * 256, d.hv * 128)) * 4);
  h_ = scratch("mlp_hidden", std::size_t(d.intermediate) * 4);
  logits_ = planned("logits", "logits", std::size_t(d.vocab) * 4);
  token_ = planned("logits", "token", 4);
  pos_ = planned("logits", "position", 4);
  argmax_ = planned("logits", "argmax", argmax_scratch_bytes(d.vocab));
  q_work_ = scratch("q_rotated", std::size_t(d.heads) * 256 * 4);
  check(cudaMemset(token_.get(), 0, 4), "cudaMemset(token)");
  check(cudaMemset(pos_.get(), 0, 4), "cudaMemset(position)");
  check(cudaMemset(argmax_.get(), 0, argmax_.bytes()), "cudaMemset(argmax scratch)");  // sample_greedy's ticket
}

void Qwen35Gpu::set_input(int32_t token, int pos, cudaStream_t stream) {
  check(cudaMemcpyAsync(token_.get(), &token, 4, cudaMemcpyHostToDevice, stream), "cudaMemcpyAsync(token)");
  check(cudaMemcpyAsync(pos_.get(), &pos, 4, cudaMemcpyHostToDevice, stream), "cudaMemcpyAsync(position)");
  check(cudaStreamSynchronize(stream), "set_input");  // the host values are stack variables
}

void Qwen35Gpu::save_recurrent_state(std::vector<DeviceBuffer>& into) const {
  std::vector<const DeviceBuffer*> src;
  for (auto& b : delta_state_) src.push_back(&b);
  for (auto& b : conv_ring_) src.push_back(&b);
  if (into.size() != src.size()) into = snapshot_regions();  // the plan's copy, in this order
  for (size_t i = 0; i < src.size(); ++i)
    check(cudaMemcpy(into[i].get(), src[i]->get(), src[i]->bytes(), cudaMemcpyDeviceToDevice), "snapshot copy");
}

void Qwen35Gpu::load_recurrent_state(const std::vector<DeviceBuffer>& from) {
  std::vector<DeviceBuffer*> dst;
  for (auto& b : delta_state_) dst.push_back(&b);
  for (auto& b : conv_ring_) dst.push_back(&b);
  if (from.size() != dst.size()) throw_error(ErrorKind::Internal, "load_recurrent_state: snapshot does not match");
  for (size_t i = 0; i < dst.size(); ++i)
    check(cudaMemcpy(dst[i]->get(), from[i].get(), dst[i]->bytes(), cudaMemcpyDeviceToDevice), "restore copy");
}

void Qwen35Gpu::destroy_graph() {
  for (int i = 0; i < 4; ++i) {
    if (graph_exec_[i]) cudaGraphExecDestroy(graph_exec_[i]);
    if (graph_[i]) cudaGraphDestroy(graph_[i]);
    graph_exec_[i] = nullptr;
    graph_[i] = nullptr;
  }
}

void Qwen35Gpu::allocate_cache(int capacity, int k_bits, int v_bits) {
  destroy_graph();
  // May throw (a larger cache that does not fit): the old views stay valid until it succeeds.
  replan_cache(capacity, k_bits, v_bits);  // the arenas for this context and mode; scratch may move
  kv_.clear();
  allocate_activations();
  kv_layers_.assign(dims_.layers, KvLayer{});
  capacity_ = capacity;
  k_bits_ = k_bits;
  v_bits_ = v_bits;
  max_splits_ = attention_default_splits(capacity, dims_.kv_heads);
  partials_ = scratch("attn_partials", attention_partials_floats(dims_.heads, max_splits_) * 4);
  delta_state_.clear();
  conv_ring_.clear();
  const int conv_c = 2 * dims_.hk * 128 + dims_.hv * 128;
  for (int l = 0; l < dims_.layers; ++l) {
    const std::string tag = "layers." + std::to_string(l) + ".";  // the plan's buffer names
    if (dims_.full_attention[l]) {
      KvLayer& kv = kv_layers_[l];
      kv.kv_heads = dims_.kv_heads;
      kv.capacity = capacity;
      kv_.push_back(planned("kv_cache", tag + "k", KvLayer::side_bytes(k_bits, dims_.kv_heads, capacity)));
      kv.k = kv_side_in(kv_.back().get(), k_bits, dims_.kv_heads, capacity);
      kv_.push_back(planned("kv_cache", tag + "v", KvLayer::side_bytes(v_bits, dims_.kv_heads, capacity)));
      kv.v = kv_side_in(kv_.back().get(), v_bits, dims_.kv_heads, capacity);
    } else {
      delta_state_.push_back(planned("recurrent_state", tag + "state", std::size_t(dims_.hv) * 128 * 128 * 4));
      conv_ring_.push_back(planned("recurrent_state", tag + "conv", std::size_t(conv_c) * 4 * 4));
      check(cudaMemset(delta_state_.back().get(), 0, delta_state_.back().bytes()), "cudaMemset(state)");
      check(cudaMemset(conv_ring_.back().get(), 0, conv_ring_.back().bytes()), "cudaMemset(conv state)");
    }
  }
  check(cudaMemset(pos_.get(), 0, 4), "cudaMemset(position)");
}

void Qwen35Gpu::fake_history(int n, uint64_t seed) {
  if (n >= capacity_)
    throw_error(ErrorKind::ContextFull, "fake_history: ", std::to_string(n), " tokens do not fit a cache of ",
                std::to_string(capacity_));
  for (auto& b : kv_) fill_bytes_kernel<<<1024, 256>>>(b.get<uint32_t>(), b.bytes() / 4, seed++);
  for (auto& kv : kv_layers_) {
    for (KvSide* side : {&kv.k, &kv.v}) {
      if (!side->data) continue;
      const std::size_t n_vec = std::size_t(kv.kv_heads) * kv.capacity;
      if (side->bits == 16) fill_half_kernel<<<1024, 256>>>(reinterpret_cast<__half*>(side->data), n_vec * 256, -1.f, 1.f, seed++);
      else fill_half_kernel<<<1024, 256>>>(side->norms, n_vec, 5.f, 15.f, seed++);
    }
  }
  for (auto& b : delta_state_) fill_uniform(b.get<float>(), b.bytes() / 4, -0.02f, 0.02f, seed++, nullptr);
  for (auto& b : conv_ring_) fill_uniform(b.get<float>(), b.bytes() / 4, -1.f, 1.f, seed++, nullptr);
  check_launch("fake_history fill");
  check(cudaMemcpy(pos_.get(), &n, 4, cudaMemcpyHostToDevice), "cudaMemcpy(position)");
  check(cudaDeviceSynchronize(), "fake_history");
}

void Qwen35Gpu::enqueue_step(cudaStream_t s, bool long_context) {
  enqueue_forward(s, long_context, token_.get<int32_t>(), pos_.get<int>());
  if (!(drop_ & kDropSampler))
    sample_greedy(logits_.get<float>(), dims_.vocab, argmax_.get(), token_.get<int32_t>(), pos_.get<int>(), s);
  if (probe_) probe_("sampler (greedy)");
}

void Qwen35Gpu::enqueue_forward(cudaStream_t s, bool long_context, const int32_t* token, const int* pos) {
  const Qwen35Dims& d = dims_;
  float* x = x_.get<float>();
  float* proj = proj_.get<float>();
  float* mix = mix_.get<float>();
  float* h = h_.get<float>();
  auto mark = [&](const char* label) {
    if (probe_) probe_(label);
  };
  const bool run_gemv = !(drop_ & kDropGemv);
  if (!(drop_ & kDropEmbedding)) embed_token(embedding_, token, d.hidden, x, s);
  mark("embedding");
  int delta_i = 0;
  for (int l = 0; l < d.layers; ++l) {
    const LayerWeights& w = layers_[l];
    GemvArgs in{w.in_proj.m, x, nullptr, w.norm1, d.eps, proj, w.in_proj.codebook};
    if (run_gemv) gemv(in, GemvInput::RmsNorm1p, GemvOutput::Store, s);
    mark(d.full_attention[l] ? "GEMV q/k/v (attention in_proj)" : "GEMV in_proj (DeltaNet)");
    if (d.full_attention[l]) {
      AttentionArgs a;
      a.proj = proj;
      a.q_norm_w = w.q_norm;
      a.k_norm_w = w.k_norm;
      const float* kvb = kv_codebooks_.get<float>();
      auto book = [&](int bits) {
        return bits == 4 ? kvb : bits == 3 ? kvb + 16 : bits == 2 ? kvb + 24 : bits == 5 ? kvb + 28 : nullptr;
      };
      a.k_codebook = book(k_bits_);
      a.v_codebook = book(v_bits_);
      a.cache = kv_layers_[l];
      a.pos = pos;
      a.heads = d.heads;
      a.rope_theta = d.rope_theta;
      a.rotary_dim = d.rotary_dim;
      a.eps = d.eps;
      a.q_work = q_work_.get<float>();
      a.partials = partials_.get<float>();
      a.max_splits = max_splits_;
      a.long_context = long_context;
      a.out = mix;
      if (!(drop_ & kDropAttention)) attention_decode(a, s);
      mark("attention decode (prep + split + combine)");
      GemvArgs o{w.out_proj.m, mix, nullptr, nullptr, d.eps, x, w.out_proj.codebook};
      if (run_gemv) gemv(o, GemvInput::Plain, GemvOutput::AddResidual, s);
      mark("GEMV o_proj (attention)");
    } else {
      DeltaNetStepArgs a;
      a.proj = proj;
      a.conv_w = w.conv_w;
      a.conv_ring = conv_ring_[delta_i].get<float>();
      a.a_log = w.a_log;
      a.dt_bias = w.dt_bias;
      a.state = delta_state_[delta_i].get<float>();
      a.out = mix;
      a.pos = pos;
      a.hk = d.hk;
      a.hv = d.hv;
      if (!(drop_ & kDropDeltaNet)) deltanet_step(a, s);
      mark("DeltaNet step");
      GemvArgs o{w.out_proj.m, mix, proj + a.z_offset(), w.out_norm, d.eps, x, w.out_proj.codebook};
      if (run_gemv) gemv(o, GemvInput::GatedNorm, GemvOutput::AddResidual, s);
      mark("GEMV out_proj (DeltaNet)");
      ++delta_i;
    }
    GemvArgs gu{w.gate_up.m, x, nullptr, w.norm2, d.eps, h, w.gate_up.codebook};
    if (run_gemv) gemv(gu, GemvInput::RmsNorm1p, GemvOutput::SwiGlu, s);
    mark("GEMV gate/up");
    GemvArgs dn{w.down.m, h, nullptr, nullptr, d.eps, x, w.down.codebook};
    if (run_gemv) gemv(dn, GemvInput::Plain, GemvOutput::AddResidual, s);
    mark("GEMV down");
  }
  GemvArgs head{lm_head_.m, x, nullptr, final_norm_.get<float>(), d.eps, logits_.get<float>(), lm_head_.codebook};
  if (run_gemv) gemv(head, GemvInput::RmsNorm1p, GemvOutput::Store, s);
  mark("GEMV lm_head");
}

void Qwen35Gpu::capture_graph(cudaStream_t s, int v, const char* what, const std::function<void()>& body) {
  const std::string name = std::string("(") + what + ")";
  check(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), ("cudaStreamBeginCapture" + name).c_str());
  std::function<void(const char*)> probe = std::move(probe_);
  probe_ = nullptr;
  try {
    body();
    probe_ = std::move(probe);
  } catch (...) {
    probe_ = std::move(probe);
    cudaGraph_t g = nullptr;
    cudaStreamEndCapture(s, &g);
    if (g) cudaGraphDestroy(g);
    throw;
  }
  check(cudaStreamEndCapture(s, &graph_[v]), ("cudaStreamEndCapture" + name).c_str());
  check(cudaGraphInstantiate(&graph_exec_[v], graph_[v], 0), ("cudaGraphInstantiate" + name).c_str());
}

void Qwen35Gpu::step_graph(cudaStream_t s, int pos) {
  const int v = pos >= kLongContext ? 1 : 0;
  if (!graph_exec_[v]) capture_graph(s, v, "decode step", [&] { enqueue_step(s, v == 1); });
  check(cudaGraphLaunch(graph_exec_[v], s), "cudaGraphLaunch(decode step)");
}

void Qwen35Gpu::sampled_step_graph(cudaStream_t s, int32_t token, int pos, GpuSampler& sampler) {
  if (graph_sampler_ != &sampler) {  // the graphs hold the sampler's buffers
    for (int i = 2; i < 4; ++i) {
      if (graph_exec_[i]) cudaGraphExecDestroy(graph_exec_[i]);
      if (graph_[i]) cudaGraphDestroy(graph_[i]);
      graph_exec_[i] = nullptr;
      graph_[i] = nullptr;
    }
    graph_sampler_ = &sampler;
  }
  const int v = 2 + (pos >= kLongContext ? 1 : 0);
  if (!graph_exec_[v])
    capture_graph(s, v, "sampled step", [&] {
      sampler.enqueue_parameters(s);  // the graph's one copy in: parameters, token, position
      enqueue_forward(s, v == 3, sampler.step_token_dev(), sampler.step_pos_dev());
      sampler.enqueue_draw(s);
    });
  sampler.set_step_input(token, pos);  // the caller synchronized the stream: the last launch has read the block
  check(cudaGraphLaunch(graph_exec_[v], s), "cudaGraphLaunch(sampled step)");
}

uint64_t Qwen35Gpu::weight_bytes() const {
  uint64_t b = lm_head_.storage.bytes() + final_norm_.bytes();
  for (auto& l : layers_)
    b += l.small.bytes() + l.in_proj.storage.bytes() + l.out_proj.storage.bytes() + l.gate_up.storage.bytes() +
         l.down.storage.bytes();
  return b;
}

uint64_t Qwen35Gpu::kv_bytes_allocated() const {
  uint64_t b = 0;
  for (auto& k : kv_) b += k.bytes();
  return b;
}

uint64_t Qwen35Gpu::state_bytes() const {
  uint64_t b = 0;
  for (auto& s : delta_state_) b += s.bytes();
  for (auto& s : conv_ring_) b += s.bytes();
  return b;
}

uint64_t Qwen35Gpu::bytes_per_token(int ctx) const {
  uint64_t b = weight_bytes() + uint64_t(dims_.hidden) * 2;  // + the embedding row
  for (auto& s : delta_state_) b += 2 * s.bytes();           // state read and written
  const int n_full = int(kv_.size() / 2);
  const uint64_t per_tok = uint64_t(dims_.kv_heads) *
                           (kv_vector_bytes(k_bits_) + (k_bits_ == 16 ? 0 : 2) + kv_vector_bytes(v_bits_) +
                            (v_bits_ == 16 ? 0 : 2));
  b += uint64_t(n_full) * per_tok * uint64_t(ctx + 1);
  return b;
}

}  // namespace hlwq::cuda
