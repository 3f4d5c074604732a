#include "planner/vram_plan.h"

#include <algorithm>
#include <array>
#include <map>

#include "core/error.h"
#include "planner/weight_inventory.h"

namespace hlwq::planner {

using qwen35::Config;
using qwen35::LayerType;

namespace {

constexpr uint64_t kBf16 = 2;
constexpr uint64_t kF32 = 4;
constexpr int kQuantBlock = 128;      // hlwq-format.md section 1
// Prefill expands weights to BF16 in slices of at most this many values (kernels/qwen35_prefill.h).
constexpr uint64_t kPrefillWeightSlice = uint64_t(1) << 26;
// Flash-decoding splits: one per 256 cached tokens, at most 512 blocks over the KV heads.
constexpr int kAttnTokensPerSplit = 256;
constexpr int kAttnMaxBlocks = 512;

uint64_t round_up(uint64_t x, uint64_t to) { return (x + to - 1) / to * to; }

// Appends buffers at aligned offsets; one place for the layout rule.
class ArenaBuilder {
 public:
  explicit ArenaBuilder(ArenaId id) { arena_.id = id; }
  void add(std::string name, uint64_t bytes) {
    if (bytes == 0) return;
    const uint64_t offset = round_up(arena_.bytes, kBufferAlignment);
    arena_.buffers.push_back({std::move(name), offset, bytes});
    arena_.bytes = offset + bytes;
  }
  Arena take() { return std::move(arena_); }

 private:
  Arena arena_;
};

void validate_kv_bits(int bits, const char* which) {
  if (!kv_bits_supported(bits))
    throw_error(ErrorKind::InvalidArgument, "KV ", which, " bits must be 16 (fp16), 32 (fp32) or 2..5, got ", std::to_string(bits));
}

void validate(const ModelSpec& model, const PlanOptions& o) {
  const Config& c = model.config;
  const std::string src = model.name.empty() ? std::string("model config") : model.name;
  auto positive = [&](int v, const char* field) {
    if (v <= 0) throw_error(ErrorKind::BadConfig, src, ": field '", field, "' must be positive, got ", std::to_string(v));
  };
  positive(c.hidden_size, "hidden_size");
  positive(c.num_hidden_layers, "num_hidden_layers");
  positive(c.num_attention_heads, "num_attention_heads");
  positive(c.num_key_value_heads, "num_key_value_heads");
  positive(c.head_dim, "head_dim");
  positive(c.linear_num_key_heads, "linear_num_key_heads");
  positive(c.linear_num_value_heads, "linear_num_value_heads");
  positive(c.linear_key_head_dim, "linear_key_head_dim");
  positive(c.linear_value_head_dim, "linear_value_head_dim");
  positive(c.linear_conv_kernel_dim, "linear_conv_kernel_dim");
  positive(c.intermediate_size, "intermediate_size");
  positive(c.vocab_size, "vocab_size");
  if (int(c.layer_types.size()) != c.num_hidden_layers)
    throw_error(ErrorKind::BadConfig, src, ": field 'layer_types' has ", std::to_string(c.layer_types.size()),
                " entries but num_hidden_layers is ", std::to_string(c.num_hidden_layers));
  if (model.weight_bits < 2 || model.weight_bits > 8)
    throw_error(ErrorKind::InvalidArgument, "weight bits must be 2..8, got ", std::to_string(model.weight_bits));
  for (const auto& [name, bits] : model.linear_bits)
    if (bits < 2 || bits > 8)
      throw_error(ErrorKind::InvalidArgument, "weight bits of ", name, " must be 2..8, got ", std::to_string(bits));
  if (o.context_length < 1)
    throw_error(ErrorKind::InvalidArgument, "context length must be at least 1, got ", std::to_string(o.context_length));
  validate_kv_bits(o.kv.k_bits, "K");
  validate_kv_bits(o.kv.v_bits, "V");
  if (o.prefill_chunk < 1)
    throw_error(ErrorKind::InvalidArgument, "prefill chunk must be at least 1 row, got ", std::to_string(o.prefill_chunk));
  if (o.logits_rows < 1)
    throw_error(ErrorKind::InvalidArgument, "logits rows must be at least 1, got ", std::to_string(o.logits_rows));
}

Arena weights_arena(const ModelSpec& model) {
  ArenaBuilder b(ArenaId::Weights);
  for (const TensorShape& t : weight_inventory(model.config)) {
    if (t.linear) {
      b.add(t.name + "__packed", quant_codes_bytes(t.rows, t.cols, model.bits_of(t.name)));
      b.add(t.name + "__norms", quant_norms_bytes(t.rows, t.cols));
    } else {
      // Norm weights, conv1d, A_log, dt_bias: the kernels read them as fp32.
      b.add(t.name, uint64_t(t.rows) * uint64_t(t.cols) * kF32);
    }
  }
  // The centroid tables the kernels look codes up in (hlwq-format.md section 2): one per
  // weight width in use, and one per quantized KV width (5, 4, 3, 2 bits) so any KV mode runs
  // unchanged.
  for (int bits : model.widths()) b.add("codebook.q" + std::to_string(bits), (uint64_t(1) << bits) * kF32);
  b.add("kv_codebooks", ((1u << 5) + (1u << 4) + (1u << 3) + (1u << 2)) * kF32);
  return b.take();
}

uint64_t embedding_bytes(const Config& c) {
  const TensorShape e = embedding_shape(c);
  return uint64_t(e.rows) * uint64_t(e.cols) * kBf16;
}

Arena embedding_arena(const Config& c) {
  ArenaBuilder b(ArenaId::Embedding);
  b.add(embedding_shape(c).name, embedding_bytes(c));
  return b.take();
}

// Per full-attention layer i: "layers.<i>.k" and "layers.<i>.v", each [context][kv_heads]
// vectors; a quantized vector stores all codes of the buffer first, then the fp16 norms.
Arena kv_arena(const Config& c, const PlanOptions& o) {
  ArenaBuilder b(ArenaId::KvCache);
  const uint64_t vectors = uint64_t(o.context_length) * uint64_t(c.num_key_value_heads);
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    if (c.layer_types[i] != LayerType::FullAttention) continue;
    const std::string p = "layers." + std::to_string(i) + ".";
    b.add(p + "k", vectors * kv_vector_bytes(c.head_dim, o.kv.k_bits));
    b.add(p + "v", vectors * kv_vector_bytes(c.head_dim, o.kv.v_bits));
  }
  return b.take();
}

// Per DeltaNet layer i: "layers.<i>.state" (Hv x dk x dv fp32) and "layers.<i>.conv" (a ring
// of the last `kernel` pre-conv qkv rows, fp32: the current row goes in before the conv).
Arena recurrent_arena(const Config& c) {
  ArenaBuilder b(ArenaId::RecurrentState);
  const uint64_t state = uint64_t(c.linear_num_value_heads) * c.linear_key_head_dim * c.linear_value_head_dim * kF32;
  const uint64_t conv = uint64_t(c.linear_conv_kernel_dim) * uint64_t(c.linear_qkv_dim()) * kF32;
  uint64_t snapshot = 0;
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    if (c.layer_types[i] != LayerType::LinearAttention) continue;
    const std::string p = "layers." + std::to_string(i) + ".";
    b.add(p + "state", state);
    b.add(p + "conv", conv);
    snapshot += round_up(state, kBufferAlignment) + round_up(conv, kBufferAlignment);
  }
  // One copy of every state and conv ring, laid out the same way: the backend's snapshot for
  // rewinding a turn (ModelBackend::snapshot). Planned here so taking one never allocates.
  b.add("snapshot", snapshot);
  return b.take();
}

// Activations: one prefill chunk of R rows (kernels/qwen35_prefill.h PrefillScratch, the
// same list and widths), then one decode row (Qwen35Gpu's step graph). The list is the
// contract with the CUDA backend; docs/FIT.md describes each buffer.
Arena scratch_arena(const Config& c, const PlanOptions& o) {
  ArenaBuilder b(ArenaId::Scratch);
  const uint64_t R = uint64_t(std::min<int64_t>(o.prefill_chunk, o.context_length));
  const uint64_t H = c.hidden_size, I = c.intermediate_size, hd = c.head_dim;
  const uint64_t heads = c.num_attention_heads, kv_heads = c.num_key_value_heads;
  const uint64_t Hv = c.linear_num_value_heads, dv = c.linear_value_head_dim;
  const uint64_t qkv = c.linear_qkv_dim();
  const uint64_t attn_width = heads * hd, value_width = Hv * dv;
  bool any_full = false, any_linear = false;
  for (LayerType t : c.layer_types) (t == LayerType::FullAttention ? any_full : any_linear) = true;

  // Rows of the fused input projection: [q+gate | k | v] or [qkv | z | b | a].
  const uint64_t in_rows = std::max(any_full ? 2 * attn_width + 2 * kv_heads * hd : 0,
                                    any_linear ? qkv + value_width + 2 * Hv : 0);
  const uint64_t mixer_width = std::max(any_full ? attn_width : 0, any_linear ? value_width : 0);
  const uint64_t max_cols = std::max({H, I, mixer_width});
  // Prefill expands one weight matrix to BF16 for cuBLAS, in row slices of at most 2^26
  // values (128 MiB), never less than one row of the widest matrix.
  const uint64_t largest_matrix = std::max({in_rows * H, H * mixer_width, 2 * I * H, H * I});
  const uint64_t weight_slice = std::max(max_cols, std::min(largest_matrix, kPrefillWeightSlice));
  const uint64_t splits = std::max<uint64_t>(
      1, std::min<uint64_t>((uint64_t(o.context_length) + kAttnTokensPerSplit - 1) / kAttnTokensPerSplit,
                            kAttnMaxBlocks / std::max<uint64_t>(1, kv_heads)));

  b.add("prefill_tokens", R * 4);                                 // token ids of the chunk
  b.add("prefill_x", R * H * kF32);                               // residual stream
  b.add("prefill_act", R * max_cols * kBf16);                     // normed, rotated GEMM inputs
  b.add("prefill_proj", R * std::max(in_rows, 2 * I) * kF32);     // GEMM outputs: in_proj, gate/up
  b.add("prefill_mix", R * std::max(any_linear ? qkv : 0, any_full ? attn_width : 0) * kF32);  // conv out / queries
  b.add("prefill_out", R * mixer_width * kF32);                   // mixer outputs
  b.add("prefill_gates", R * Hv * 2 * kF32);                      // DeltaNet beta and decay
  b.add("prefill_weights", weight_slice * kBf16);                 // expanded weight slice
  b.add("hidden", H * kF32);                                      // decode: residual stream
  b.add("proj", std::max(in_rows, 2 * I) * kF32);                 // decode: fused projection outputs
  b.add("mixer", mixer_width * kF32);                             // decode: attention / DeltaNet output
  b.add("mlp_hidden", I * kF32);                                  // decode: SwiGLU output
  b.add("q_rotated", attn_width * kF32);                          // decode: normed, RoPE'd, rotated queries
  b.add("attn_partials", heads * splits * (hd + 2) * kF32);       // decode: split-K partial o, max, sum
  return b.take();
}

Arena logits_arena(const Config& c, const PlanOptions& o) {
  ArenaBuilder b(ArenaId::Logits);
  const uint64_t V = c.vocab_size;
  b.add("logits", V * uint64_t(o.logits_rows) * kF32);
  // The GPU sampler's workspace (kernels/sampling.h GpuSampler): at most 128 blocks of 32
  // candidates and their sums (< 40 KiB), a batch of 4096 history ids (16 KiB) and one
  // presence bit per vocabulary entry; an upper bound, checked at load by the allocator.
  // The greedy pick of the decode graph has its own partials.
  b.add("sampler", 64 * 1024 + (V + 31) / 32 * 4);
  b.add("argmax", 4096);                      // sample_greedy's per-block partials
  b.add("token", 4);                          // the decode graph's input and output token
  b.add("position", 4);                       // and the position it reads and advances
  return b.take();
}

Arena cublas_arena(const GpuSpec& gpu) {
  ArenaBuilder b(ArenaId::CublasWorkspace);
  b.add("workspace", cublas_workspace_bytes(gpu.cc_major));
  return b.take();
}

Plan build(const ModelSpec& model, const GpuSpec& gpu, const PlanOptions& o, EmbeddingPlacement placement) {
  const Config& c = model.config;
  Plan p;
  p.model = model;
  p.gpu = gpu;
  p.options = o;
  p.embedding = placement;
  p.arenas.push_back(weights_arena(model));
  p.arenas.push_back(placement == EmbeddingPlacement::Device ? embedding_arena(c) : Arena{ArenaId::Embedding, {}, 0});
  p.arenas.push_back(kv_arena(c, o));
  p.arenas.push_back(recurrent_arena(c));
  p.arenas.push_back(scratch_arena(c, o));
  p.arenas.push_back(logits_arena(c, o));
  p.arenas.push_back(cublas_arena(gpu));
  p.cuda_context_bytes = gpu.cuda_context_bytes ? gpu.cuda_context_bytes : default_cuda_context_bytes(gpu.cc_major, gpu.cc_minor);
  p.kv_bytes_per_token = kv_bytes_per_token(c, o.kv);
  p.host_bytes = placement == EmbeddingPlacement::Host ? embedding_bytes(c) : 0;
  p.quantize_bytes = model.prequantized ? 0 : quantize_arena().device_bytes();
  return p;
}

std::string format_mib(uint64_t bytes) { return std::to_string((bytes + kMiB / 2) / kMiB) + " MiB"; }

}  // namespace

int ModelSpec::bits_of(std::string_view linear) const {
  const auto it = linear_bits.find(linear);
  return it == linear_bits.end() ? weight_bits : it->second;
}

std::vector<int> ModelSpec::widths() const {
  std::vector<int> out;
  for (const TensorShape& t : weight_inventory(config))
    if (t.linear && std::find(out.begin(), out.end(), bits_of(t.name)) == out.end()) out.push_back(bits_of(t.name));
  if (out.empty()) out.push_back(weight_bits);
  std::sort(out.begin(), out.end());
  return out;
}

const char* to_string(EmbeddingPlacement placement) {
  switch (placement) {
    case EmbeddingPlacement::Auto: return "auto";
    case EmbeddingPlacement::Host: return "host";
    case EmbeddingPlacement::Device: return "device";
  }
  return "?";
}

const char* to_string(ArenaId id) {
  static constexpr std::array<const char*, kArenaCount + 1> names = {
      "weights", "embedding", "kv_cache", "recurrent_state", "scratch", "logits", "cublas_workspace", "quantize"};
  return names.at(size_t(id));
}

uint64_t Arena::device_bytes() const { return round_up(bytes, kAllocationGranularity); }

const Buffer* Arena::find(std::string_view name) const {
  for (const Buffer& b : buffers)
    if (b.name == name) return &b;
  return nullptr;
}

const Buffer& Arena::at(std::string_view name) const {
  if (const Buffer* b = find(name)) return *b;
  throw_error(ErrorKind::Internal, "VRAM plan: arena '", to_string(id), "' has no buffer '", std::string(name), "'");
}

const Arena& Plan::arena(ArenaId id) const {
  for (const Arena& a : arenas)
    if (a.id == id) return a;
  throw_error(ErrorKind::Internal, "VRAM plan: no arena '", to_string(id), "'");
}

uint64_t Plan::allocated_bytes() const {
  uint64_t sum = 0;
  for (const Arena& a : arenas) sum += a.device_bytes();
  return sum;
}

uint64_t Plan::required_bytes() const {
  return allocated_bytes() + (gpu.free_excludes_context ? 0 : cuda_context_bytes) + options.safety_margin;
}

uint64_t Plan::quantize_required_bytes() const {
  return quantize_bytes + (gpu.free_excludes_context ? 0 : cuda_context_bytes) + options.safety_margin;
}

std::vector<PlanItem> Plan::items() const {
  std::vector<PlanItem> out;
  std::map<int, int> linears;  // bits -> Linears at that width
  for (const TensorShape& t : weight_inventory(model.config))
    if (t.linear) ++linears[model.bits_of(t.name)];
  std::string at;  // "497 Linears at Q5", or "400 Linears at Q4, 97 at Q5"
  for (const auto& [bits, n] : linears)
    at += (at.empty() ? std::to_string(n) + " Linears at Q" : ", " + std::to_string(n) + " at Q") + std::to_string(bits);
  const std::string kv_mode = kv_name(options.kv);
  for (const Arena& a : arenas) {
    std::string detail;
    switch (a.id) {
      case ArenaId::Weights:
        detail = at + " + fp32 vectors";
        break;
      case ArenaId::Embedding:
        detail = embedding == EmbeddingPlacement::Device ? "BF16 on the device" : "in host memory (" + format_mib(host_bytes) + ")";
        break;
      case ArenaId::KvCache:
        detail = std::to_string(options.context_length) + " tokens, " + kv_mode + ", " + std::to_string(kv_bytes_per_token) + " B/token";
        break;
      case ArenaId::RecurrentState: detail = "DeltaNet state + conv state, fp32, and a snapshot copy"; break;
      case ArenaId::Scratch:
        detail = "prefill chunk of " + std::to_string(std::min<int64_t>(options.prefill_chunk, options.context_length)) + " rows";
        break;
      case ArenaId::Logits: detail = std::to_string(options.logits_rows) + " row(s) x vocab x fp32 + sampler"; break;
      case ArenaId::CublasWorkspace: detail = "cublasSetWorkspace"; break;
      case ArenaId::Quantize: break;  // not one of a Plan's arenas
    }
    out.push_back({to_string(a.id), a.device_bytes(), std::move(detail)});
  }
  out.push_back({"cuda_context", gpu.free_excludes_context ? 0 : cuda_context_bytes,
                 gpu.free_excludes_context ? "already created (not counted)"
                 : gpu.cuda_context_bytes ? "measured" : "default for the architecture"});
  out.push_back({"safety_margin", options.safety_margin, "setting"});
  return out;
}

Plan make_plan(const ModelSpec& model, const GpuSpec& gpu, const PlanOptions& options) {
  validate(model, options);
  if (options.embedding != EmbeddingPlacement::Auto) return build(model, gpu, options, options.embedding);
  // Auto: the embedding arena is independent of the rest, so one build decides both ways.
  Plan plan = build(model, gpu, options, EmbeddingPlacement::Host);
  Arena embedding = embedding_arena(model.config);
  if (plan.required_bytes() + embedding.device_bytes() <= gpu.free_bytes) {
    plan.arenas[size_t(ArenaId::Embedding)] = std::move(embedding);
    plan.embedding = EmbeddingPlacement::Device;
    plan.host_bytes = 0;
  }
  return plan;
}

Arena quantize_arena() {
  constexpr uint64_t kMaxBits = 5, kSourceBytes = 2;  // widest GPU width; BF16/F16 (F32 gives half the output)
  const uint64_t blocks = kQuantizeSliceBytes / (kQuantBlock * kSourceBytes);
  const uint64_t out = blocks * (kQuantBlock * kMaxBits / 8 + 2);  // codes + one fp16 scale per block
  ArenaBuilder b(ArenaId::Quantize);
  for (const char* slot : {"slot0", "slot1"}) {
    b.add(std::string(slot) + "_in", kQuantizeSliceBytes);
    b.add(std::string(slot) + "_out", out);
  }
  return b.take();
}

uint64_t kv_vector_bytes(int dim, int bits) {
  validate_kv_bits(bits, "vector");
  if (bits >= 16) return uint64_t(dim) * uint64_t(bits) / 8;  // fp16 / fp32: no norm
  return uint64_t(dim) * uint64_t(bits) / 8 + 2;
}

uint64_t kv_bytes_per_token(const Config& c, const KvConfig& kv) {
  uint64_t full = 0;
  for (LayerType t : c.layer_types) full += t == LayerType::FullAttention;
  return full * uint64_t(c.num_key_value_heads) * (kv_vector_bytes(c.head_dim, kv.k_bits) + kv_vector_bytes(c.head_dim, kv.v_bits));
}

uint64_t quant_codes_bytes(int64_t rows, int64_t cols, int bits) {
  const uint64_t blocks = (uint64_t(cols) + kQuantBlock - 1) / kQuantBlock;
  return uint64_t(rows) * blocks * kQuantBlock * uint64_t(bits) / 8;
}

uint64_t quant_norms_bytes(int64_t rows, int64_t cols) {
  const uint64_t blocks = (uint64_t(cols) + kQuantBlock - 1) / kQuantBlock;
  return uint64_t(rows) * blocks * 2;
}

// Until a measurement exists: driver state plus lazily loaded kernels (CUDA 12 lazy
// loading) and the cuBLAS handle. sm_9x is measured (docs/FIT.md: 599 MiB on an H200, driver
// 580, CUDA 13, every kernel loaded, cuBLAS handle 64 MiB of it); older ones are estimates.
uint64_t default_cuda_context_bytes(int cc_major, int /*cc_minor*/) {
  if (cc_major == 0) return 600 * kMiB;
  if (cc_major < 8) return 320 * kMiB;
  if (cc_major == 8) return 384 * kMiB;
  return 600 * kMiB;
}

// cuBLAS's documented default: 32 MiB on Hopper and newer, 4 MiB before.
uint64_t cublas_workspace_bytes(int cc_major) {
  return (cc_major == 0 || cc_major >= 9) ? 32 * kMiB : 4 * kMiB;
}

}  // namespace hlwq::planner
