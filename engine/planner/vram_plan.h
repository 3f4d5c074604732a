#pragma once
// The VRAM plan: every byte the CUDA backend puts on the device, computed before anything is
// allocated. The same Plan answers "does it fit?" (fit.h, `hlwq fit`, the app's Fit page, the
// Hub badges) and drives allocation: the backend makes exactly one cudaMalloc per Arena of
// Arena::bytes and places each Buffer at its offset. If the backend needs a buffer that is not
// here, it is added here first, so the prediction can never drift from the allocation and an
// out-of-memory can only happen at load, never mid-chat. Formulas: docs/FIT.md.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "models/qwen35/qwen35_config.h"
#include "models/backend_types.h"  // KvConfig, kv_name, kv_bits_supported

namespace hlwq::planner {

inline constexpr uint64_t kMiB = uint64_t(1) << 20;
inline constexpr uint64_t kGiB = uint64_t(1) << 30;
// Every buffer inside an arena starts at a multiple of this (coalesced, vectorised loads).
inline constexpr uint64_t kBufferAlignment = 256;
// cudaMalloc hands out large allocations in 2 MiB pages: an arena costs its size rounded up.
inline constexpr uint64_t kAllocationGranularity = 2 * kMiB;

enum class EmbeddingPlacement : uint8_t {
  Auto,    // device when the whole plan fits with it there, else host
  Host,    // pinned host memory; the backend gathers rows on the host and uploads them
  Device,
};
const char* to_string(EmbeddingPlacement placement);

// What is being loaded. Every Linear of the text model, lm_head included, is HLWQ-quantized
// at `weight_bits` (hlwq-format.md 4.4), or at its own width where `linear_bits` names it (a
// mixed-width repo: hlwq_config.json's "bits" per tensor, 4.3); everything else is BF16 as stored.
struct ModelSpec {
  qwen35::Config config;         // config.layer_types must be filled (parse_config does)
  int weight_bits = 5;           // 2..8: the target for a BF16 source, the stored bits for HLWQ
  bool prequantized = false;     // an HLWQ repo (bits fixed) rather than a BF16 source
  std::string name;              // for reports only
  std::map<std::string, int, std::less<>> linear_bits;  // parameter name -> bits, where not weight_bits

  int bits_of(std::string_view linear) const;  // linear_bits' entry, else weight_bits
  std::vector<int> widths() const;              // every width in use, ascending
};

// The device the plan is for: detected (cudaMemGetInfo) or taken from gpu_table.h.
struct GpuSpec {
  std::string name;                  // "NVIDIA GeForce RTX 4090"
  uint64_t total_bytes = 0;
  uint64_t free_bytes = 0;           // what this process may use
  int cc_major = 0;                  // compute capability; 0 when unknown
  int cc_minor = 0;
  // True when free_bytes was read after this process created its CUDA context (the backend
  // at load): the context is then already spent and not counted again.
  bool free_excludes_context = false;
  // Measured context cost (cuda_context_cache.h); 0: the per-architecture default.
  uint64_t cuda_context_bytes = 0;
};

struct PlanOptions {
  int64_t context_length = 8192;     // tokens the KV cache holds
  KvConfig kv;                       // K and V bits independently (kv_bits_supported)
  EmbeddingPlacement embedding = EmbeddingPlacement::Auto;
  int prefill_chunk = 512;           // rows per prefill step: sizes all activation scratch
  int logits_rows = 1;               // rows of logits produced per step (decode and prefill tail)
  uint64_t safety_margin = 512 * kMiB;
};

// One region inside an arena. Weight buffers use the on-disk tensor names of hlwq-format.md
// 4.1: "<param>__packed" (codes), "<param>__norms" (fp16 block norms), and the plain
// parameter name for dense BF16 tensors. Other arenas name their buffers in docs/FIT.md.
struct Buffer {
  std::string name;
  uint64_t offset = 0;   // from the arena start, a multiple of kBufferAlignment
  uint64_t bytes = 0;
};

enum class ArenaId : uint8_t {
  Weights,          // quantized Linears (codes + norms) and small dense tensors
  Embedding,        // embed_tokens, BF16; present only when placed on the device
  KvCache,          // full-attention layers, context_length tokens, K and V
  RecurrentState,   // DeltaNet fp32 state + conv state, one sequence, and a snapshot copy
  Scratch,          // activations of one prefill chunk (prefill_chunk rows)
  Logits,           // vocab x logits_rows x fp32, plus the sampler's workspace
  CublasWorkspace,  // handed to cublasSetWorkspace
  Quantize,         // the GPU quantizer's own (quantize_arena): not one of a Plan's arenas
};
inline constexpr int kArenaCount = 7;  // the arenas of a Plan: Weights .. CublasWorkspace
const char* to_string(ArenaId id);  // "weights", "embedding", "kv_cache", ..., "quantize"

struct Arena {
  ArenaId id = ArenaId::Weights;
  std::vector<Buffer> buffers;
  uint64_t bytes = 0;                // the cudaMalloc size: end of the last aligned buffer
  uint64_t device_bytes() const;     // bytes rounded up to kAllocationGranularity (0 if empty)
  const Buffer* find(std::string_view name) const;
  const Buffer& at(std::string_view name) const;  // throws Error{Internal} naming the buffer
};

// One line of the itemised breakdown (what the app's stacked bar and `hlwq fit` draw).
struct PlanItem {
  std::string name;                  // "weights", "kv_cache", "cuda_context", "safety_margin"...
  uint64_t bytes = 0;                // device bytes (arenas: rounded to the granularity)
  std::string detail;                // human note: "497 Linears at Q5", "q3, 12544 B/token"
};

struct Plan {
  ModelSpec model;
  GpuSpec gpu;
  PlanOptions options;                           // as requested
  EmbeddingPlacement embedding = EmbeddingPlacement::Host;  // resolved: never Auto
  std::vector<Arena> arenas;                     // in ArenaId order; Embedding may be empty
  uint64_t cuda_context_bytes = 0;               // counted in required_bytes() unless excluded
  uint64_t kv_bytes_per_token = 0;
  uint64_t host_bytes = 0;                       // pinned host memory (embedding on host)
  // A BF16 source is quantized before the arenas exist: quantize_arena() is on the device
  // then, freed before they are allocated. 0 for an HLWQ repo.
  uint64_t quantize_bytes = 0;

  const Arena& arena(ArenaId id) const;
  uint64_t allocated_bytes() const;              // sum of Arena::device_bytes()
  // allocated + CUDA context (unless gpu.free_excludes_context) + safety margin.
  uint64_t required_bytes() const;
  // quantize_bytes + CUDA context (unless excluded) + safety margin: the device at quantize time.
  uint64_t quantize_required_bytes() const;
  // Both times fit: while quantizing and once the arenas are allocated.
  bool fits() const { return required_bytes() <= gpu.free_bytes && quantize_required_bytes() <= gpu.free_bytes; }
  std::vector<PlanItem> items() const;           // the breakdown, largest arenas first
};

// The GPU quantizer's device memory (kernels/quantize_cuda.cpp: `hlwq quantize` on CUDA, the
// Hub's quantizing download, a BF16 source quantized at load): one allocation of this arena's
// device_bytes() for as long as the quantizer lives. Two slots, so one slice is on the GPU while
// the next is staged: "slot<i>_in" holds kQuantizeSliceBytes of source values, "slot<i>_out"
// their codes and fp16 scales at the widest GPU width (5 bits) for 2-byte values, the most
// output per input byte. The quantizer cuts its work to fit the slots (a row too long for
// one goes in pieces of whole 128-blocks), so the arena never grows.
inline constexpr uint64_t kQuantizeSliceBytes = 16 * kMiB;
Arena quantize_arena();

// Builds the plan. Throws Error{InvalidArgument} naming the option (context_length < 1,
// KV bits not kv_bits_supported, weight_bits outside 2..8, prefill_chunk < 1) and Error{BadConfig}
// when the config is incomplete (zero sizes, layer_types not matching num_hidden_layers).
Plan make_plan(const ModelSpec& model, const GpuSpec& gpu, const PlanOptions& options);

// The formulas the plan is built from, exposed for the backend, the tests and the UI.
// Bytes of one K or V vector of `dim` values: dim*bits/8 at 16 (and 32) bits, else
// dim*bits/8 + 2 for the fp16 norm, hlwq-format.md section 5.
uint64_t kv_vector_bytes(int dim, int bits);
// Per token over all full-attention layers: layers x kv_heads x (K vector + V vector).
uint64_t kv_bytes_per_token(const qwen35::Config& config, const KvConfig& kv);
// Quantized Linear [rows, cols]: codes rows*ceil(cols/128)*128*bits/8, norms rows*ceil(cols/128)*2.
uint64_t quant_codes_bytes(int64_t rows, int64_t cols, int bits);
uint64_t quant_norms_bytes(int64_t rows, int64_t cols);
// Default CUDA context cost for a compute capability, before one is measured.
uint64_t default_cuda_context_bytes(int cc_major, int cc_minor);
// cuBLAS's own default workspace size for the architecture (we allocate it ourselves).
uint64_t cublas_workspace_bytes(int cc_major);

}  // namespace hlwq::planner
