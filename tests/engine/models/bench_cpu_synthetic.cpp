// CPU speed on a synthetic Qwen3.5 of a real size (random weights built in memory, no file):
//   hlwq_cpu_bench [--size 0.8B|2B|4B|9B|27B] [--weights bf16|q5] [--threads 2] [--prompt 128] [--decode 32] [--kv fp16]
// Prints prefill and decode tokens/s. docs/PERFORMANCE.md ("CPU engine") quotes it.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/half.h"
#include "formats/hlwq_codec.h"
#include "formats/weights.h"
#include "models/backend.h"
#include "models/sampler.h"

using namespace hlwq;

namespace {

struct Shape {
  int hidden, layers, heads, kv_heads, hk, hv, inter;
  bool tied;
};

Shape shape_of(const std::string& s) {  // qwen35.md section 1
  if (s == "0.8B") return {1024, 24, 8, 2, 16, 16, 3584, true};
  if (s == "2B") return {2048, 24, 8, 2, 16, 16, 6144, true};
  if (s == "4B") return {2560, 32, 16, 4, 16, 32, 9216, true};
  if (s == "9B") return {4096, 32, 16, 4, 16, 32, 12288, false};
  if (s == "27B") return {5120, 64, 24, 4, 16, 48, 17408, false};
  throw_error(ErrorKind::InvalidArgument, "--size ", s, ": expected 0.8B, 2B, 4B, 9B or 27B");
}

uint64_t rng_state = 0x12345678;
uint32_t next_u32() {
  rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
  return uint32_t(rng_state >> 33);
}

class Builder {
 public:
  explicit Builder(bool q5) : q5_(q5) {}
  WeightStore store;

  void dense(const std::string& name, std::vector<int64_t> shape, float scale, float offset = 0) {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    auto buf = std::make_shared<std::vector<uint16_t>>(size_t(n));
    for (auto& x : *buf) x = f32_to_bf16(offset + scale * (float(int(next_u32() % 2001) - 1000) / 1000.0f));
    DenseTensor t;
    t.name = name;
    t.dtype = DType::BF16;
    t.shape = std::move(shape);
    t.bytes = std::as_bytes(std::span(*buf));
    store.add_dense(std::move(t));
    store.keep_alive(buf);
  }

  void linear(const std::string& name, int64_t rows, int64_t cols) {
    if (!q5_) return dense(name, {rows, cols}, 1.0f / std::sqrt(float(cols)));
    QuantTensor q;
    q.name = name;
    q.rows = rows;
    q.cols = cols;
    q.blocks_per_row = (cols + 127) / 128;
    q.bits = 5;
    const auto book = codebook_table(Codebook::Converged, 5);
    q.codebook.assign(book.begin(), book.end());
    auto codes = std::make_shared<std::vector<uint8_t>>(size_t(rows * q.blocks_per_row * 80));
    for (auto& b : *codes) b = uint8_t(next_u32());
    // Block norms that give the same element scale as the BF16 case (1/sqrt(cols)).
    auto norms = std::make_shared<std::vector<uint16_t>>(size_t(rows * q.blocks_per_row),
                                                         f32_to_f16(std::sqrt(128.0f / float(cols))));
    q.codes = *codes;
    q.norms = *norms;
    store.add_quant(std::move(q));
    store.keep_alive(codes);
    store.keep_alive(norms);
  }

 private:
  bool q5_;
};

}  // namespace

int main(int argc, char** argv) {
  std::string size = "0.8B", weights = "bf16", kv = "fp16";
  int threads = 2, prompt = 128, decode = 32;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--size") size = v;
    else if (a == "--weights") weights = v;
    else if (a == "--threads") threads = std::stoi(v);
    else if (a == "--prompt") prompt = std::stoi(v);
    else if (a == "--decode") decode = std::stoi(v);
    else if (a == "--kv") kv = v;
    else { std::fprintf(stderr, "unknown option %s\n", a.c_str()); return 2; }
  }
  try {
    const Shape s = shape_of(size);
    qwen35::Config c;
    c.hidden_size = s.hidden;
    c.num_hidden_layers = s.layers;
    c.num_attention_heads = s.heads;
    c.num_key_value_heads = s.kv_heads;
    c.linear_num_key_heads = s.hk;
    c.linear_num_value_heads = s.hv;
    c.intermediate_size = s.inter;
    c.vocab_size = 248320;
    c.tie_word_embeddings = s.tied;
    c.weight_prefix = "model.language_model.";
    for (int i = 0; i < s.layers; ++i)
      c.layer_types.push_back((i + 1) % 4 == 0 ? qwen35::LayerType::FullAttention : qwen35::LayerType::LinearAttention);
    const auto t_build = std::chrono::steady_clock::now();
    Builder b(weights == "q5");
    const std::string P = c.weight_prefix;
    b.dense(P + "embed_tokens.weight", {c.vocab_size, c.hidden_size}, 1.0f);
    if (!c.tie_word_embeddings) b.linear("lm_head.weight", c.vocab_size, c.hidden_size);
    b.dense(P + "norm.weight", {c.hidden_size}, 0.1f);
    for (int i = 0; i < c.num_hidden_layers; ++i) {
      const std::string L = P + "layers." + std::to_string(i) + ".";
      b.dense(L + "input_layernorm.weight", {c.hidden_size}, 0.1f);
      b.dense(L + "post_attention_layernorm.weight", {c.hidden_size}, 0.1f);
      b.linear(L + "mlp.gate_proj.weight", c.intermediate_size, c.hidden_size);
      b.linear(L + "mlp.up_proj.weight", c.intermediate_size, c.hidden_size);
      b.linear(L + "mlp.down_proj.weight", c.hidden_size, c.intermediate_size);
      if (c.layer_types[size_t(i)] == qwen35::LayerType::FullAttention) {
        const std::string A = L + "self_attn.";
        b.linear(A + "q_proj.weight", 2 * c.num_attention_heads * c.head_dim, c.hidden_size);
        b.linear(A + "k_proj.weight", c.num_key_value_heads * c.head_dim, c.hidden_size);
        b.linear(A + "v_proj.weight", c.num_key_value_heads * c.head_dim, c.hidden_size);
        b.linear(A + "o_proj.weight", c.hidden_size, c.num_attention_heads * c.head_dim);
        b.dense(A + "q_norm.weight", {c.head_dim}, 0.1f);
        b.dense(A + "k_norm.weight", {c.head_dim}, 0.1f);
      } else {
        const std::string A = L + "linear_attn.";
        const int hv = c.linear_num_value_heads, dv = c.linear_value_head_dim;
        b.linear(A + "in_proj_qkv.weight", c.linear_qkv_dim(), c.hidden_size);
        b.linear(A + "in_proj_z.weight", hv * dv, c.hidden_size);
        b.linear(A + "in_proj_b.weight", hv, c.hidden_size);
        b.linear(A + "in_proj_a.weight", hv, c.hidden_size);
        b.linear(A + "out_proj.weight", c.hidden_size, hv * dv);
        b.dense(A + "conv1d.weight", {c.linear_qkv_dim(), 1, c.linear_conv_kernel_dim}, 0.3f);
        b.dense(A + "A_log", {hv}, 0.5f, -1.0f);
        b.dense(A + "dt_bias", {hv}, 0.5f);
        b.dense(A + "norm.weight", {dv}, 0.1f, 1.0f);
      }
    }
    b.store.set_source("synthetic " + size);
    ModelSource src;
    src.config = c;
    src.weights = std::make_shared<WeightStore>(std::move(b.store));
    src.name = "synthetic-" + size;
    BackendOptions o;
    o.threads = threads;
    o.context_length = prompt + decode + 8;
    o.kv = *parse_kv_name(kv);
    auto be = make_cpu_backend(src, o);
    const double build_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_build).count();

    std::vector<int32_t> ids(static_cast<size_t>(prompt));
    for (auto& x : ids) x = int32_t(next_u32() % uint32_t(c.vocab_size));
    std::vector<float> logits(static_cast<size_t>(c.vocab_size));
    const auto t0 = std::chrono::steady_clock::now();
    be->forward(ids, 0, logits.data(), 1);
    const double prefill_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    SamplingParams greedy;
    greedy.temperature = 0;
    int32_t next = argmax(logits);
    const auto t1 = std::chrono::steady_clock::now();
    for (int i = 0; i < decode; ++i) next = be->decode_and_sample(next, prompt + i, greedy, {}, 0);
    const double decode_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    const auto m = be->memory();
    std::printf("synthetic %s, %s weights (%.2f GB + embedding %.2f GB), %d threads on %s, KV %s\n", size.c_str(),
                weights.c_str(), m.weights / 1e9, m.embedding / 1e9, threads, be->device_name().c_str(), kv.c_str());
    std::printf("prefill %d tokens: %.2f s = %.1f tok/s\n", prompt, prefill_s, prompt / prefill_s);
    std::printf("decode %d tokens: %.2f s = %.2f tok/s (%.0f ms/token)\n", decode, decode_s, decode / decode_s,
                1000 * decode_s / decode);
    std::printf("(model built in %.1f s)\n", build_s);
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
