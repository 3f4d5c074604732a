#pragma once
// The fit checker: a verdict and the alternatives, all from make_plan (vram_plan.h), so what
// `hlwq fit`, the Fit page and the Hub badges say is what the backend will allocate.
#include <cstdint>
#include <optional>
#include <vector>

#include "planner/vram_plan.h"

namespace hlwq::planner {

enum class Verdict : uint8_t {
  Fits,                // the requested context fits
  FitsReducedContext,  // a shorter context (>= min_context) fits in the requested KV mode
  DoesNotFit,          // not even min_context fits in the requested KV mode
};
const char* to_string(Verdict verdict);  // "fits", "fits with reduced context", "does not fit"

// The KV modes the checker compares: fp16, q4, q3, q2 (K and V at the same width).
const std::vector<KvConfig>& standard_kv_modes();
// Target widths offered for BF16 sources, best first: 5, 4, 3.
const std::vector<int>& standard_weight_bits();

struct ModeFit {
  KvConfig kv;
  int64_t max_context = 0;     // largest context that fits, 0 if none does (capped at
                               // config.max_position_embeddings)
};

struct FitReport {
  Plan plan;                   // at the requested context and KV mode
  Verdict verdict = Verdict::DoesNotFit;
  int64_t max_context = 0;     // for the requested KV mode
  std::vector<ModeFit> per_mode;          // standard_kv_modes(), plus the requested one if not standard
  // The best weight width (most bits) that fits at the requested context and KV mode: for a
  // BF16 source among standard_weight_bits(); for an HLWQ repo its own bits or nothing.
  std::optional<int> best_weight_bits;
};

struct FitOptions {
  int64_t min_context = 2048;  // below this a chat is not useful: DoesNotFit
};

// Largest context in [1, max_position_embeddings] whose plan fits; 0 when none. The plan's
// requirement grows with the context, so this is a binary search.
int64_t largest_context(const ModelSpec& model, const GpuSpec& gpu, PlanOptions options);

// VRAM needed against context length for one KV mode (the Fit page's chart): `points`
// contexts spread evenly over [1, max_position_embeddings], with the placement `options` asks
// for (Auto may move the embedding to the host part way along; the step is real).
struct CurvePoint {
  int64_t context = 0;
  uint64_t required_bytes = 0;
  EmbeddingPlacement embedding = EmbeddingPlacement::Host;
};
std::vector<CurvePoint> requirement_curve(const ModelSpec& model, const GpuSpec& gpu, PlanOptions options,
                                          const KvConfig& kv, int points = 64);

FitReport check_fit(const ModelSpec& model, const GpuSpec& gpu, const PlanOptions& options,
                    const FitOptions& fit_options = {});

}  // namespace hlwq::planner
