// Qwen35Gpu::from_weights: a checkpoint's tensors, bound by their Qwen3.5 names
// (qwen35.md sections 2-4), repacked into the GEMV layout at their own width (5, 4 or 3 bits)
// and fused on the host, then uploaded.
#include <cuda_runtime.h>

#include <cstring>
#include <initializer_list>
#include <string>

#include "core/error.h"
#include "core/half.h"
#include "core/thread_pool.h"
#include "cuda_check.h"
#include "formats/hlwq_codec.h"
#include "formats/weights.h"
#include "models/qwen35/qwen35_config.h"
#include "qwen35_gpu.h"

namespace hlwq::cuda {
namespace {

// Host image of one fused matrix in the GPU layout (q_matrix.h) at one width, filled part by part.
struct HostQ {
  int bits = 5, rows = 0, cols = 0;
  std::vector<uint8_t> bytes;  // QMatrix::bytes_for(bits, rows, cols)
  HostQ(int b, int r, int c) : bits(b), rows(r), cols(c), bytes(QMatrix::bytes_for(b, r, c)) {}
  // Stores run t (32 codes) of (row, block) and the block's norm where q_matrix.h puts them.
  void put(int row, int block, int t, const uint8_t* codes, uint16_t norm) {
    q_put_run(bytes.data(), bits, rows, cols, row, block, t, codes, norm);
  }
};

class Binder {
 public:
  Binder(const WeightStore& store, const qwen35::Config& c) : store_(store), c_(c) {}

  const QuantTensor& quant(const std::string& name, int64_t rows, int64_t cols) {
    const QuantTensor* t = store_.quant(name);
    if (!t) {
      if (store_.dense(name))
        throw_error(ErrorKind::UnsupportedArch, store_.source(), ": ", name,
                    " is not quantized; the CUDA backend runs HLWQ 5-, 4- and 3-bit weights (load with quantization)");
      store_.require_quant(name);  // throws MissingTensor
    }
    if (t->rows != rows || t->cols != cols)
      throw_error(ErrorKind::CorruptFile, store_.source(), ": ", name, " is ", std::to_string(t->rows), "x",
                  std::to_string(t->cols), ", the config needs ", std::to_string(rows), "x", std::to_string(cols));
    if (!q_bits_supported(t->bits) || t->cols % 128 != 0)
      throw_error(ErrorKind::UnsupportedArch, store_.source(), ": ", name, " has ", std::to_string(t->bits),
                  "-bit codes over ", std::to_string(t->cols),
                  " columns; the CUDA kernels take 5-, 4- or 3-bit codes over a multiple of 128");
    // One table per width on the device: every Linear of a width must share it.
    std::vector<float>& book = codebooks_[t->bits];
    if (book.empty()) book = t->codebook;
    else if (t->codebook != book)
      throw_error(ErrorKind::UnsupportedArch, store_.source(), ": ", name, " uses a different ", std::to_string(t->bits),
                  "-bit codebook from the other ", std::to_string(t->bits),
                  "-bit Linears; the CUDA backend needs one codebook per width");
    return *t;
  }

  // The width of a fused matrix (q/k/v, qkv/z/b/a, gate/up): one GEMV reads all its parts
  // through one pair table, so they must share width (and so, by quant(), codebook).
  int fused_bits(std::initializer_list<const QuantTensor*> parts) const {
    const QuantTensor& first = **parts.begin();
    for (const QuantTensor* t : parts)
      if (t->bits != first.bits)
        throw_error(ErrorKind::UnsupportedArch, store_.source(), ": ", first.name, " has ", std::to_string(first.bits),
                    "-bit codes but ", t->name, " has ", std::to_string(t->bits),
                    "-bit; the CUDA backend fuses them into one matrix, which needs one width");
    return first.bits;
  }

  std::vector<float> vec(const std::string& name, int64_t n) {
    const DenseTensor& t = store_.require_dense(name);
    if (t.numel() != n)
      throw_error(ErrorKind::CorruptFile, store_.source(), ": ", name, " has ", std::to_string(t.numel()),
                  " elements, the config needs ", std::to_string(n));
    std::vector<float> out(n);
    const std::byte* p = t.bytes.data();
    for (int64_t i = 0; i < n; ++i) {
      uint16_t h;
      switch (t.dtype) {
        case DType::BF16: std::memcpy(&h, p + 2 * i, 2); out[i] = bf16_to_f32(h); break;
        case DType::F16: std::memcpy(&h, p + 2 * i, 2); out[i] = f16_to_f32(h); break;
        case DType::F32: std::memcpy(&out[i], p + 4 * i, 4); break;
        default:
          throw_error(ErrorKind::CorruptFile, store_.source(), ": ", name, " has dtype ", dtype_name(t.dtype),
                      ", expected BF16, F16 or F32");
      }
    }
    return out;
  }

  const std::vector<float> (&codebooks() const)[6] { return codebooks_; }
  const WeightStore& store() const { return store_; }

 private:
  const WeightStore& store_;
  const qwen35::Config& c_;
  std::vector<float> codebooks_[6];  // by width
};

// Copies the rows of `t` into `dst` starting at dst row `first`, every `stride` rows
// (stride 2 interleaves gate and up).
void place(const QuantTensor& t, HostQ& dst, int first, int stride) {
  const int runs = int(t.cols / 32), nb = int(t.blocks_per_row);
  // Rows are independent; the pool makes loading the 27B (26 G codes) a matter of seconds.
  ThreadPool::global().parallel_for(t.rows, [&](int64_t r0, int64_t r1) {
    std::vector<uint8_t> codes(size_t(t.blocks_per_row) * 128);
    for (int64_t r = r0; r < r1; ++r) {
      unpack_row_codes(t, r, codes.data());
      const int row = first + int(r) * stride;
      for (int run = 0; run < runs; ++run)
        dst.put(row, run / 4, run % 4, codes.data() + size_t(run) * 32, t.norms[size_t(r) * nb + run / 4]);
    }
  }, 16);
}

QWeight upload(Qwen35Gpu& model, const HostQ& h, const std::string& what) {
  QWeight w;
  w.storage = model.weight_region(what, h.bytes.size());
  check(cudaMemcpy(w.storage.get(), h.bytes.data(), h.bytes.size(), cudaMemcpyHostToDevice), "cudaMemcpy(weights)");
  w.m = q_matrix_in(w.storage.get(), h.bits, h.rows, h.cols);
  return w;  // its codebook pointer comes with upload_codebooks
}

}  // namespace

std::unique_ptr<Qwen35Gpu> Qwen35Gpu::from_weights(const qwen35::Config& c, const WeightStore& store,
                                                   const planner::Plan& plan) {
  require_device();
  if (c.head_dim != kHeadDim || c.linear_key_head_dim != 128 || c.linear_value_head_dim != 128 ||
      c.linear_conv_kernel_dim != 4 || c.hidden_size % 128 || c.intermediate_size % 128)
    throw_error(ErrorKind::UnsupportedArch, store.source(), ": the CUDA kernels need head_dim 256, DeltaNet head dims 128, "
                "conv kernel 4 and hidden/intermediate sizes that are multiples of 128");
  std::unique_ptr<Qwen35Gpu> m(new Qwen35Gpu());
  Qwen35Dims& d = m->dims_;
  d.hidden = c.hidden_size; d.layers = c.num_hidden_layers; d.heads = c.num_attention_heads;
  d.kv_heads = c.num_key_value_heads; d.hk = c.linear_num_key_heads; d.hv = c.linear_num_value_heads;
  d.intermediate = c.intermediate_size; d.vocab = c.vocab_size; d.rotary_dim = c.rotary_dim();
  d.rope_theta = float(c.rope_theta); d.eps = float(c.rms_norm_eps);
  for (auto t : c.layer_types) d.full_attention.push_back(t == qwen35::LayerType::FullAttention);
  m->adopt_plan(plan);  // every arena allocated here, before the first weight
  const bool embedding_on_host = !m->embedding_on_device();

  Binder b(store, c);
  const std::string P = c.weight_prefix;
  const int H = d.hidden, I = d.intermediate, conv_c = 2 * d.hk * 128 + d.hv * 128;
  for (int i = 0; i < d.layers; ++i) {
    const std::string L = P + "layers." + std::to_string(i) + ".", tag = "layer " + std::to_string(i);
    LayerWeights w;
    std::vector<float> small = b.vec(L + "input_layernorm.weight", H);
    const auto post = b.vec(L + "post_attention_layernorm.weight", H);
    small.insert(small.end(), post.begin(), post.end());
    if (d.full_attention[i]) {
      const std::string A = L + "self_attn.";
      const auto& q = b.quant(A + "q_proj.weight", 2 * d.heads * 256, H);
      const auto& k = b.quant(A + "k_proj.weight", d.kv_heads * 256, H);
      const auto& v = b.quant(A + "v_proj.weight", d.kv_heads * 256, H);
      HostQ qkv(b.fused_bits({&q, &k, &v}), int(q.rows + k.rows + v.rows), H);
      place(q, qkv, 0, 1);
      place(k, qkv, int(q.rows), 1);
      place(v, qkv, int(q.rows + k.rows), 1);
      w.in_proj = upload(*m, qkv, tag + " q/k/v");
      const auto& op = b.quant(A + "o_proj.weight", H, d.heads * 256);
      HostQ o(op.bits, H, d.heads * 256);
      place(op, o, 0, 1);
      w.out_proj = upload(*m, o, tag + " o_proj");
      for (const char* n : {"q_norm.weight", "k_norm.weight"}) {
        const auto v2 = b.vec(A + n, 256);
        small.insert(small.end(), v2.begin(), v2.end());
      }
    } else {
      const std::string A = L + "linear_attn.";
      const auto& qkv = b.quant(A + "in_proj_qkv.weight", conv_c, H);
      const auto& z = b.quant(A + "in_proj_z.weight", d.hv * 128, H);
      const auto& bb = b.quant(A + "in_proj_b.weight", d.hv, H);
      const auto& a = b.quant(A + "in_proj_a.weight", d.hv, H);
      HostQ in(b.fused_bits({&qkv, &z, &bb, &a}), conv_c + d.hv * 128 + 2 * d.hv, H);  // [qkv | z | b | a], DeltaNetStepArgs' order
      place(qkv, in, 0, 1);
      place(z, in, conv_c, 1);
      place(bb, in, conv_c + d.hv * 128, 1);
      place(a, in, conv_c + d.hv * 128 + d.hv, 1);
      w.in_proj = upload(*m, in, tag + " in_proj");
      const auto& op = b.quant(A + "out_proj.weight", H, d.hv * 128);
      HostQ out(op.bits, H, d.hv * 128);
      place(op, out, 0, 1);
      w.out_proj = upload(*m, out, tag + " out_proj");
      const auto conv = b.vec(A + "conv1d.weight", int64_t(conv_c) * 4);  // [C, 1, 4] = [C][4]
      small.insert(small.end(), conv.begin(), conv.end());
      // norm before A_log/dt_bias: the GEMV prologue reads it as float4, so it must stay 16-byte aligned
      for (auto [n, len] : {std::pair<const char*, int>{"norm.weight", 128}, {"A_log", d.hv}, {"dt_bias", d.hv}}) {
        const auto v2 = b.vec(A + n, len);
        small.insert(small.end(), v2.begin(), v2.end());
      }
    }
    const auto& gate = b.quant(L + "mlp.gate_proj.weight", I, H);
    const auto& up = b.quant(L + "mlp.up_proj.weight", I, H);
    HostQ gu(b.fused_bits({&gate, &up}), 2 * I, H);
    place(gate, gu, 0, 2);
    place(up, gu, 1, 2);
    w.gate_up = upload(*m, gu, tag + " gate/up");
    const auto& down = b.quant(L + "mlp.down_proj.weight", H, I);
    HostQ dn(down.bits, H, I);
    place(down, dn, 0, 1);
    w.down = upload(*m, dn, tag + " down");

    w.small = m->weight_region(tag + " vectors", small.size() * 4);
    check(cudaMemcpy(w.small.get(), small.data(), small.size() * 4, cudaMemcpyHostToDevice), "cudaMemcpy(vectors)");
    const float* p = w.small.get<float>();
    w.norm1 = p;
    w.norm2 = p + H;
    p += 2 * H;
    if (d.full_attention[i]) {
      w.q_norm = p;
      w.k_norm = p + 256;
    } else {
      w.conv_w = p;
      w.out_norm = p + size_t(conv_c) * 4;
      w.a_log = w.out_norm + 128;
      w.dt_bias = w.a_log + d.hv;
    }
    m->layers_.push_back(std::move(w));
  }
  const auto fnorm = b.vec(P + "norm.weight", H);
  m->final_norm_ = m->weight_region("final norm", H * 4);
  check(cudaMemcpy(m->final_norm_.get(), fnorm.data(), H * 4, cudaMemcpyHostToDevice), "cudaMemcpy(final norm)");

  // lm_head: its own codes, or (tied) the embedding's codes.
  const std::string embed_name = P + "embed_tokens.weight";
  const std::string head_name = store.contains("lm_head.weight") ? "lm_head.weight" : embed_name;
  const auto& head_t = b.quant(head_name, d.vocab, H);
  HostQ head(head_t.bits, d.vocab, H);
  place(head_t, head, 0, 1);
  m->lm_head_ = upload(*m, head, "lm_head");

  m->upload_codebooks(b.codebooks());
  m->upload_kv_codebooks();

  // Embedding as bf16 rows, in mapped host memory or on the device.
  const std::size_t emb_n = std::size_t(d.vocab) * H;
  std::vector<uint16_t> emb;
  uint16_t* host = nullptr;
  if (embedding_on_host) {
    check(cudaHostAlloc(reinterpret_cast<void**>(&m->embedding_host_), emb_n * 2, cudaHostAllocMapped),
          "cudaHostAlloc(embedding in host memory)");
    host = m->embedding_host_;
  } else {
    emb.resize(emb_n);
    host = emb.data();
  }
  if (const DenseTensor* e = store.dense(embed_name)) {
    if (e->numel() != int64_t(emb_n))
      throw_error(ErrorKind::CorruptFile, store.source(), ": ", embed_name, " has the wrong size");
    if (e->dtype == DType::BF16) {
      std::memcpy(host, e->bytes.data(), emb_n * 2);
    } else {
      const auto v = b.vec(embed_name, int64_t(emb_n));
      for (std::size_t i = 0; i < emb_n; ++i) host[i] = f32_to_bf16(v[i]);
    }
  } else {
    const QuantTensor& q = store.require_quant(embed_name);
    std::vector<float> row(static_cast<size_t>(H));
    for (int r = 0; r < d.vocab; ++r) {
      dequantize_rows(q, r, 1, row.data());
      for (int j = 0; j < H; ++j) host[size_t(r) * H + j] = f32_to_bf16(row[j]);
    }
  }
  if (embedding_on_host) {
    void* dev = nullptr;
    check(cudaHostGetDevicePointer(&dev, m->embedding_host_, 0), "cudaHostGetDevicePointer(embedding)");
    m->embedding_ = static_cast<const uint16_t*>(dev);
  } else {
    m->embedding_dev_ = m->embedding_region();
    check(cudaMemcpy(m->embedding_dev_.get(), emb.data(), emb_n * 2, cudaMemcpyHostToDevice), "cudaMemcpy(embedding)");
    m->embedding_ = m->embedding_dev_.get<uint16_t>();
  }
  m->allocate_planned_cache();  // activations, KV cache and state at the plan's context
  check(cudaDeviceSynchronize(), "loading the model onto the GPU");
  return m;
}

}  // namespace hlwq::cuda
