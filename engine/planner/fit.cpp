#include "planner/fit.h"

#include <algorithm>

namespace hlwq::planner {

const char* to_string(Verdict verdict) {
  switch (verdict) {
    case Verdict::Fits: return "fits";
    case Verdict::FitsReducedContext: return "fits with reduced context";
    case Verdict::DoesNotFit: return "does not fit";
  }
  return "?";
}

const std::vector<KvConfig>& standard_kv_modes() {
  static const std::vector<KvConfig> modes = {KvConfig::uniform(16), KvConfig::uniform(4), KvConfig::uniform(3),
                                              KvConfig::uniform(2)};
  return modes;
}

const std::vector<int>& standard_weight_bits() {
  static const std::vector<int> bits = {5, 4, 3};
  return bits;
}

int64_t largest_context(const ModelSpec& model, const GpuSpec& gpu, PlanOptions options) {
  const int64_t cap = std::max<int64_t>(1, model.config.max_position_embeddings);
  auto fits = [&](int64_t context) {
    options.context_length = context;
    return make_plan(model, gpu, options).fits();
  };
  if (!fits(1)) return 0;
  if (fits(cap)) return cap;
  int64_t lo = 1, hi = cap;  // fits(lo), !fits(hi)
  while (hi - lo > 1) {
    const int64_t mid = lo + (hi - lo) / 2;
    (fits(mid) ? lo : hi) = mid;
  }
  return lo;
}

std::vector<CurvePoint> requirement_curve(const ModelSpec& model, const GpuSpec& gpu, PlanOptions options,
                                          const KvConfig& kv, int points) {
  const int64_t cap = std::max<int64_t>(1, model.config.max_position_embeddings);
  points = std::clamp(points, 2, 4096);
  options.kv = kv;
  std::vector<CurvePoint> curve;
  for (int i = 0; i < points; ++i) {
    options.context_length = std::max<int64_t>(1, cap * i / (points - 1));
    const Plan plan = make_plan(model, gpu, options);
    curve.push_back({options.context_length, plan.required_bytes(), plan.embedding});
  }
  return curve;
}

FitReport check_fit(const ModelSpec& model, const GpuSpec& gpu, const PlanOptions& options, const FitOptions& fit_options) {
  FitReport report{make_plan(model, gpu, options)};
  report.max_context = largest_context(model, gpu, options);
  if (report.plan.fits())
    report.verdict = Verdict::Fits;
  else if (report.max_context >= fit_options.min_context)
    report.verdict = Verdict::FitsReducedContext;
  else
    report.verdict = Verdict::DoesNotFit;

  std::vector<KvConfig> modes = standard_kv_modes();
  if (std::find(modes.begin(), modes.end(), options.kv) == modes.end()) modes.push_back(options.kv);
  for (const KvConfig& kv : modes) {
    PlanOptions o = options;
    o.kv = kv;
    report.per_mode.push_back({kv, kv == options.kv ? report.max_context : largest_context(model, gpu, o)});
  }

  if (model.prequantized) {
    if (report.plan.fits()) report.best_weight_bits = model.weight_bits;
  } else {
    for (int bits : standard_weight_bits()) {
      ModelSpec m = model;
      m.weight_bits = bits;
      if (make_plan(m, gpu, options).fits()) {
        report.best_weight_bits = bits;
        break;
      }
    }
  }
  return report;
}

}  // namespace hlwq::planner
