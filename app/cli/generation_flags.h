#pragma once
// The sampling and engine flags `hlwq run` and `hlwq chat` share, in one place.
#include <cstdio>
#include <set>
#include <string>

#include "args.h"
#include "core/error.h"
#include "kv_flag.h"
#include "session/session.h"

namespace hlwq::cli {

inline const std::set<std::string> kGenerationValueFlags = {
    "m", "model", "temp", "top-k", "top-p", "min-p", "repeat-penalty", "presence-penalty", "seed", "n",
    "max-tokens", "kv", "backend", "ctx", "threads", "stop", "system", "context-policy"};

inline const char* kGenerationUsage =
    "  -m, --model DIR         model directory\n"
    "  --temp T (0.7)  --top-k K (20)  --top-p P (0.95)  --min-p P (0)\n"
    "  --repeat-penalty R (1)  --presence-penalty P (0)  --seed S (random)\n"
    "  -n, --max-tokens N      most new tokens per answer (2048)\n"
    "  --stop TEXT             stop string (repeatable)\n"
    "  --kv fp16|q4|q3|q2|kXvY KV-cache precision (K and V bits may differ)\n"
    "  --backend auto|cpu|cuda  --ctx N (8192)  --threads N\n"
    "  --no-think              answer without a thinking phase\n"
    "  --context-policy error|slide  what a full context does\n";

inline std::string model_path(const Args& args) {
  auto m = args.value("model") ? args.value("model") : args.value("m");
  if (!m) throw_error(ErrorKind::InvalidArgument, "missing -m MODEL");
  return *m;
}

inline LoadOptions load_options(const Args& args) {
  LoadOptions o;
  o.model = model_path(args);
  o.backend = parse_backend_kind(args.value_or("backend", "auto"));
  o.context_length = args.int_or("ctx", 8192);
  o.kv = kv_option(args);
  o.threads = args.int_or("threads", 0);
  return o;
}

// With --backend auto, a GPU that could not be used leaves the model on the CPU: say why once,
// on stderr, so a slow answer is not a mystery (an empty reason prints nothing).
inline void note_gpu_unused(const std::string& why) {
  if (!why.empty()) std::fprintf(stderr, "note: running on the CPU; the GPU is not used: %s\n", why.c_str());
}

inline GenerationOptions generation_options(const Args& args) {
  GenerationOptions g;
  auto& s = g.sampling;
  s.temperature = float(args.double_or("temp", s.temperature));
  s.top_k = args.int_or("top-k", s.top_k);
  s.top_p = float(args.double_or("top-p", s.top_p));
  s.min_p = float(args.double_or("min-p", s.min_p));
  s.repetition_penalty = float(args.double_or("repeat-penalty", s.repetition_penalty));
  s.presence_penalty = float(args.double_or("presence-penalty", s.presence_penalty));
  if (auto seed = args.value("seed")) s.seed = std::stoull(*seed);
  if (args.flag("greedy")) s.temperature = 0;
  g.max_new_tokens = args.int_or("n", args.int_or("max-tokens", g.max_new_tokens));
  g.enable_thinking = !args.flag("no-think");
  g.stop_strings = args.values("stop");
  const std::string policy = args.value_or("context-policy", "error");
  if (policy != "error" && policy != "slide") throw_error(ErrorKind::InvalidArgument, "--context-policy ", policy, ": expected error or slide");
  g.context_policy = policy == "slide" ? ContextPolicy::SlidingWindow : ContextPolicy::Error;
  return g;
}

}  // namespace hlwq::cli
