// Qwen35Gpu::prefill: a prompt as chunks of rows instead of one decode step per token. Every
// Linear is a GEMM over the chunk (prefill_linear), the mixers run over the chunk in a few
// launches (conv_prefill, deltanet_prefill, attention_prefill) and leave the recurrent state,
// conv ring and KV cache exactly where decode continues from; lm_head runs only for the rows
// whose logits are asked for (the decode GEMV, one row at a time).
#include <algorithm>
#include <string>

#include "attention_prefill.h"
#include "conv_prefill.h"
#include "core/error.h"
#include "cuda_check.h"
#include "deltanet_prefill.h"
#include "embed_prefill.h"
#include "gemv.h"
#include "prefill_linear.h"
#include "prefill_rotate.h"
#include "qwen35_gpu.h"
#include "qwen35_prefill.h"

namespace hlwq::cuda {
namespace {

struct Widths {
  uint64_t in_rows = 0, act = 0, proj = 0, mix = 0, out = 0, largest = 0, max_cols = 0;
};

Widths widths(const Qwen35Dims& d) {
  Widths w;
  const uint64_t conv_c = uint64_t(2) * d.hk * 128 + uint64_t(d.hv) * 128, dn_v = uint64_t(d.hv) * 128;
  const uint64_t att_q = uint64_t(d.heads) * 256, I = uint64_t(d.intermediate), H = uint64_t(d.hidden);
  bool any_dn = false, any_att = false;
  for (bool full : d.full_attention) (full ? any_att : any_dn) = true;
  if (any_dn) w.in_rows = std::max(w.in_rows, conv_c + dn_v + uint64_t(2) * d.hv);
  if (any_att) w.in_rows = std::max(w.in_rows, 2 * att_q + uint64_t(2) * d.kv_heads * 256);
  const uint64_t mixer_width = std::max(any_dn ? dn_v : 0, any_att ? att_q : 0);
  w.act = std::max({H, I, mixer_width});
  w.proj = std::max(w.in_rows, 2 * I);
  w.mix = std::max(any_dn ? conv_c : 0, any_att ? att_q : 0);
  w.out = mixer_width;
  w.largest = std::max({w.in_rows * H, H * mixer_width, 2 * I * H, H * I});
  w.max_cols = std::max({H, I, mixer_width});
  return w;
}

}  // namespace

PrefillScratchSizes prefill_scratch_sizes(const Qwen35Dims& d, int chunk) {
  const Widths w = widths(d);
  const uint64_t R = uint64_t(chunk);
  PrefillScratchSizes s;
  s.items = {
      {"prefill token ids", R * 4},
      {"prefill residual stream (fp32)", R * d.hidden * 4},
      {"prefill GEMM inputs (bf16, rotated)", R * w.act * 2},
      {"prefill GEMM outputs (fp32: in_proj, gate/up)", R * w.proj * 4},
      {"prefill conv outputs / attention queries (fp32)", R * w.mix * 4},
      {"prefill mixer outputs (fp32)", R * w.out * 4},
      {"prefill DeltaNet gates (fp32 beta, decay)", R * d.hv * 2 * 4},
      {"prefill expanded weight slice (bf16)",
       uint64_t(prefill_weight_scratch_elems(w.largest, w.max_cols, kPrefillWeightSliceElems)) * 2},
  };
  return s;
}

PrefillScratch::PrefillScratch(const Qwen35Dims& d, int rows) : chunk(rows) {
  const PrefillScratchSizes s = prefill_scratch_sizes(d, rows);
  DeviceBuffer* bufs[] = {&tokens, &x, &act, &proj, &mix, &out, &gates, &weights};
  for (size_t i = 0; i < s.items.size(); ++i) *bufs[i] = DeviceBuffer(s.items[i].bytes, s.items[i].name);
  check(cublasCreate(&cublas), "cublasCreate(prefill)");
}

PrefillScratch::PrefillScratch(const Qwen35Gpu& model, int rows) : chunk(rows) {
  const PrefillScratchSizes s = prefill_scratch_sizes(model.dims(), rows);
  static const char* const plan_names[] = {"prefill_tokens", "prefill_x",   "prefill_act",   "prefill_proj",
                                           "prefill_mix",    "prefill_out", "prefill_gates", "prefill_weights"};
  DeviceBuffer* bufs[] = {&tokens, &x, &act, &proj, &mix, &out, &gates, &weights};
  for (size_t i = 0; i < s.items.size(); ++i) *bufs[i] = model.scratch(plan_names[i], s.items[i].bytes);
  // The handle made at load (on the plan's workspace): cublasCreate here would allocate mid-chat.
  owns_cublas = model.cublas() == nullptr;
  if (owns_cublas) check(cublasCreate(&cublas), "cublasCreate(prefill)");
  else cublas = model.cublas();
}

PrefillScratch::~PrefillScratch() {
  if (cublas && owns_cublas) cublasDestroy(cublas);
}

bool Qwen35Gpu::prefill_supported() const { return attention_prefill_supports(k_bits_, v_bits_); }

void Qwen35Gpu::set_prefill_chunk(int rows) {
  if (rows < 1) throw_error(ErrorKind::InvalidArgument, "prefill chunk must be at least 1 row, got ", std::to_string(rows));
  if (rows != prefill_chunk_) prefill_.reset();
  prefill_chunk_ = rows;
  if (memory_) replan_scratch();  // the plan's scratch arena is sized by the chunk
}

void Qwen35Gpu::prefill(const int32_t* tokens, int count, int pos, cudaStream_t s, int n_logits, float* logits_host) {
  if (count <= 0) return;
  if (pos < 0 || pos + count > capacity_)
    throw_error(ErrorKind::ContextFull, "prefill: ", std::to_string(pos + count), " tokens do not fit a cache of ",
                std::to_string(capacity_));
  if (!prefill_supported())
    throw_error(ErrorKind::InvalidArgument, "prefill: KV bits k=", std::to_string(k_bits_), " v=", std::to_string(v_bits_),
                " have no prefill kernels");
  if (!prefill_) prefill_ = std::make_shared<PrefillScratch>(*this, std::min(prefill_chunk_, capacity_));
  PrefillScratch& sc = *prefill_;
  const Qwen35Dims& d = dims_;
  float* X = sc.x.get<float>();
  auto* act = sc.act.get<__nv_bfloat16>();
  float* proj = sc.proj.get<float>();
  const std::size_t wscratch = sc.weights.bytes() / 2;
  auto linear = [&](const QWeight& m, float* out, int ldo, bool acc, int T) {
    PrefillLinearArgs a;
    a.w = m.m;
    a.codebook = m.codebook;  // the table of the matrix's own width
    a.in = act;
    a.tokens = T;
    a.out = out;
    a.ldo = ldo;
    a.accumulate = acc;
    a.scratch = sc.weights.get<__nv_bfloat16>();
    a.scratch_elems = wscratch;
    prefill_linear(sc.cublas, a, s);
  };
  auto mark = [&](const char* stage) {
    if (!sc.marks) return;
    cudaEvent_t e;
    check(cudaEventCreate(&e), "cudaEventCreate(prefill stage)");
    check(cudaEventRecord(e, s), "cudaEventRecord(prefill stage)");
    sc.marks->emplace_back(stage, e);
  };
  const float* kvb = kv_codebooks_.get<float>();
  auto book = [&](int bits) {  // Q4 | Q3 | Q2 | Q5, as upload_kv_codebooks lays them out
    return bits == 4 ? kvb : bits == 3 ? kvb + 16 : bits == 2 ? kvb + 24 : bits == 5 ? kvb + 28 : nullptr;
  };

  for (int c0 = 0; c0 < count; c0 += sc.chunk) {
    const int T = std::min(sc.chunk, count - c0), p = pos + c0;
    check(cudaMemcpyAsync(sc.tokens.get(), tokens + c0, size_t(T) * 4, cudaMemcpyHostToDevice, s), "prefill tokens");
    embed_tokens(embedding_, sc.tokens.get<int32_t>(), T, d.hidden, X, s);
    mark("embedding rows");
    int delta_i = 0;
    for (int l = 0; l < d.layers; ++l) {
      const LayerWeights& lw = layers_[l];
      const int in_rows = lw.in_proj.m.rows;
      rmsnorm1p_rotate_rows(X, lw.norm1, d.eps, act, T, d.hidden, s);
      mark("norms, SwiGLU, rotations");
      linear(lw.in_proj, proj, in_rows, false, T);
      mark("in_proj GEMM");
      if (d.full_attention[l]) {
        AttentionPrefillArgs a;
        a.proj = proj;
        a.proj_stride = in_rows;
        a.q_norm_w = lw.q_norm;
        a.k_norm_w = lw.k_norm;
        a.k_codebook = book(k_bits_);
        a.v_codebook = book(v_bits_);
        a.cache = kv_layers_[l];
        a.pos = p;
        a.T = T;
        a.heads = d.heads;
        a.rope_theta = d.rope_theta;
        a.rotary_dim = d.rotary_dim;
        a.eps = d.eps;
        a.q_work = sc.mix.get<float>();
        a.out = sc.out.get<float>();
        attention_prefill(a, s);
        mark("attention");
        rotate_rows_f32(sc.out.get<float>(), act, T, d.heads * 256, s);
        mark("norms, SwiGLU, rotations");
      } else {
        ConvPrefillArgs cv;
        cv.in = proj;
        cv.in_stride = in_rows;
        cv.conv_w = lw.conv_w;
        cv.ring = conv_ring_[delta_i].get<float>();
        cv.out = sc.mix.get<float>();
        cv.channels = 2 * d.hk * 128 + d.hv * 128;
        cv.T = T;
        cv.pos = p;
        conv_prefill(cv, s);
        mark("DeltaNet conv");
        DeltaNetPrefillArgs dn;
        dn.qkv = sc.mix.get<float>();
        dn.proj = proj;
        dn.proj_stride = in_rows;
        dn.a_log = lw.a_log;
        dn.dt_bias = lw.dt_bias;
        dn.gates = sc.gates.get<float>();
        dn.state = delta_state_[delta_i].get<float>();
        dn.out = sc.out.get<float>();
        dn.hk = d.hk;
        dn.hv = d.hv;
        dn.T = T;
        deltanet_prefill(dn, s);
        mark("DeltaNet recurrence");
        gated_norm_rotate_rows(sc.out.get<float>(), proj + cv.channels, in_rows, lw.out_norm, d.eps, act, T, d.hv * 128, s);
        mark("norms, SwiGLU, rotations");
        ++delta_i;
      }
      linear(lw.out_proj, X, d.hidden, true, T);
      mark("out_proj GEMM");
      rmsnorm1p_rotate_rows(X, lw.norm2, d.eps, act, T, d.hidden, s);
      mark("norms, SwiGLU, rotations");
      linear(lw.gate_up, proj, 2 * d.intermediate, false, T);
      mark("gate/up GEMM");
      swiglu_rotate_rows(proj, act, T, d.intermediate, s);
      mark("norms, SwiGLU, rotations");
      linear(lw.down, X, d.hidden, true, T);
      mark("down GEMM");
    }
    // lm_head for the rows whose logits are wanted: the decode GEMV on a copy of the row.
    for (int r = std::max(0, count - n_logits - c0); r < T; ++r) {
      check(cudaMemcpyAsync(x_.get(), X + size_t(r) * d.hidden, size_t(d.hidden) * 4, cudaMemcpyDeviceToDevice, s),
            "prefill row to lm_head");
      GemvArgs head{lm_head_.m, x_.get<float>(), nullptr, final_norm_.get<float>(), d.eps, logits_.get<float>(),
                    lm_head_.codebook};
      gemv(head, GemvInput::RmsNorm1p, GemvOutput::Store, s);
      if (logits_host) {
        const int row = n_logits - (count - (c0 + r));
        check(cudaMemcpyAsync(logits_host + size_t(row) * d.vocab, logits_.get(), size_t(d.vocab) * 4,
                              cudaMemcpyDeviceToHost, s),
              "cudaMemcpyAsync(prefill logits)");
      }
      mark("lm_head rows");
    }
  }
}

std::vector<std::pair<std::string, double>> Qwen35Gpu::prefill_stage_ms(const int32_t* tokens, int count,
                                                                        cudaStream_t s) {
  if (!prefill_) prefill_ = std::make_shared<PrefillScratch>(*this, std::min(prefill_chunk_, capacity_));
  std::vector<std::pair<const char*, cudaEvent_t>> marks;
  cudaEvent_t start;
  check(cudaEventCreate(&start), "cudaEventCreate(prefill start)");
  check(cudaEventRecord(start, s), "cudaEventRecord(prefill start)");
  prefill_->marks = &marks;
  std::vector<std::pair<std::string, double>> out;
  try {
    prefill(tokens, count, 0, s);
    check(cudaStreamSynchronize(s), "prefill_stage_ms");
  } catch (...) {
    prefill_->marks = nullptr;
    throw;
  }
  prefill_->marks = nullptr;
  cudaEvent_t prev = start;
  for (auto& [stage, e] : marks) {
    float ms = 0;
    check(cudaEventElapsedTime(&ms, prev, e), "cudaEventElapsedTime(prefill stage)");
    auto it = std::find_if(out.begin(), out.end(), [&](auto& p) { return p.first == stage; });
    if (it == out.end()) out.emplace_back(stage, ms);
    else it->second += ms;
    prev = e;
  }
  cudaEventDestroy(start);
  for (auto& m : marks) cudaEventDestroy(m.second);
  return out;
}

}  // namespace hlwq::cuda
