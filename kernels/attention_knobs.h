#pragma once
// The decode attention's A/B switches for timing (attention.cu, attention_mma.cu): read from
// the environment once per process. Defaults are the measured best (docs/PERFORMANCE.md,
// "Decode attention on tensor cores").
#include <algorithm>
#include <cstdlib>

namespace hlwq::cuda::attention_knobs {

inline int env_int(const char* name, int fallback) {
  const char* e = std::getenv(name);
  return e && *e ? std::atoi(e) : fallback;
}

// Which kernels launch as programmatic dependents of their predecessor, a bit each: 1 prep,
// 2 split, 4 combine (0: all plain). HLWQ_ATTN_PDL for the short-context graph (default all),
// HLWQ_ATTN_PDL_LONG for the long-context one (default none: on an H100 every mode and length
// from 4K to 128K ran as fast or faster without; the early split and combine cost Q4 at 4K
// 0.7 ms per token, see docs/PERFORMANCE.md "Decode attention on tensor cores").
constexpr int kPdlPrep = 1, kPdlSplit = 2, kPdlCombine = 4;
inline int pdl_mask(bool long_context) {
  static const int s = env_int("HLWQ_ATTN_PDL", kPdlPrep | kPdlSplit | kPdlCombine);
  static const int l = env_int("HLWQ_ATTN_PDL_LONG", 0);
  return long_context ? l : s;
}
// HLWQ_ATTN_MMA=0: the fp32 split kernels at long context too.
inline bool use_mma() {
  static const bool on = env_int("HLWQ_ATTN_MMA", 1) != 0;
  return on;
}
// HLWQ_ATTN_SPLITS: splits of the tensor-core kernel that get tokens (0: as many blocks as
// are resident at once).
inline int splits_override() {
  static const int n = env_int("HLWQ_ATTN_SPLITS", 0);
  return n;
}
// HLWQ_ATTN_MIN_TOKENS: fewest history tokens per split of the tensor-core kernel (whole
// 16-token tiles), so that a short history is not spread over blocks that each set up the
// pair tables and the merge for a tile or two.
inline int min_tokens() {
  static const int n = (std::max(0, env_int("HLWQ_ATTN_MIN_TOKENS", 128)) + 15) / 16 * 16;
  return n;
}
// HLWQ_ATTN_SKIP_EMPTY=0: empty splits write a full zero partial and the combine reads every
// split (the behaviour before the skip), for A/B.
inline bool skip_empty() {
  static const bool on = env_int("HLWQ_ATTN_SKIP_EMPTY", 1) != 0;
  return on;
}

}  // namespace hlwq::cuda::attention_knobs
