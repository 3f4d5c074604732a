#include "planner/fit_json.h"

namespace hlwq::planner {

using nlohmann::json;

json plan_json(const Plan& plan) {
  json items = json::array();
  for (const PlanItem& i : plan.items()) items.push_back({{"name", i.name}, {"bytes", i.bytes}, {"detail", i.detail}});
  json arenas = json::array();
  for (const Arena& a : plan.arenas) {
    json buffers = json::array();
    if (a.id != ArenaId::Weights)  // hundreds of tensors: left out of the report
      for (const Buffer& b : a.buffers) buffers.push_back({{"name", b.name}, {"offset", b.offset}, {"bytes", b.bytes}});
    arenas.push_back({{"name", to_string(a.id)}, {"bytes", a.bytes}, {"device_bytes", a.device_bytes()},
                      {"buffers", a.id == ArenaId::Weights ? json(a.buffers.size()) : buffers}});
  }
  return {
      {"model",
       {{"name", plan.model.name},
        {"weight_bits", plan.model.weight_bits},
        {"weight_widths", plan.model.widths()},  // more than one for a mixed-width repo
        {"prequantized", plan.model.prequantized}}},
      {"gpu",
       {{"name", plan.gpu.name},
        {"total_bytes", plan.gpu.total_bytes},
        {"free_bytes", plan.gpu.free_bytes},
        {"compute_capability", std::to_string(plan.gpu.cc_major) + "." + std::to_string(plan.gpu.cc_minor)}}},
      {"context_length", plan.options.context_length},
      {"kv", kv_name(plan.options.kv)},
      {"kv_bytes_per_token", plan.kv_bytes_per_token},
      {"embedding", to_string(plan.embedding)},
      {"prefill_chunk", plan.options.prefill_chunk},
      {"safety_margin_bytes", plan.options.safety_margin},
      {"items", items},
      {"arenas", arenas},
      {"allocated_bytes", plan.allocated_bytes()},
      {"required_bytes", plan.required_bytes()},
      {"host_bytes", plan.host_bytes},
      {"fits", plan.fits()},
  };
}

json fit_report_json(const FitReport& report) {
  json modes = json::array();
  for (const ModeFit& m : report.per_mode)
    modes.push_back({{"kv", kv_name(m.kv)},
                     {"kv_bytes_per_token", kv_bytes_per_token(report.plan.model.config, m.kv)},
                     {"max_context", m.max_context}});
  return {
      {"verdict", to_string(report.verdict)},
      {"max_context", report.max_context},
      {"per_kv_mode", modes},
      {"best_weight_bits", report.best_weight_bits ? json(*report.best_weight_bits) : json(nullptr)},
      {"plan", plan_json(report.plan)},
  };
}

}  // namespace hlwq::planner
