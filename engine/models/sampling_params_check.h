#pragma once
// The sampler's rules for its parameters, one copy for the CPU sampler (sampler.cpp) and the
// GPU one (kernels/sample_token.cu, which compiles as C++17 and knows its own
// GpuSamplingParams), so both backends refuse the same requests with the same messages.
// P: any struct with SamplingParams' field names.
#include <cmath>
#include <cstdint>
#include <string>

#include "core/error.h"

namespace hlwq {

template <class P>
void check_sampling_params(const P& p, int64_t vocab) {
  const int64_t n = (p.vocab_limit > 0 && p.vocab_limit < vocab) ? p.vocab_limit : vocab;
  if (n <= 0) throw_error(ErrorKind::InvalidArgument, "sample_token: empty logits");
  if (!std::isfinite(p.temperature) || p.temperature < 0)
    throw_error(ErrorKind::InvalidArgument, "sampling temperature must be >= 0, got ", std::to_string(p.temperature));
  if (!(p.repetition_penalty > 0) || !std::isfinite(p.repetition_penalty))
    throw_error(ErrorKind::InvalidArgument, "repetition penalty must be > 0, got ", std::to_string(p.repetition_penalty));
  if (!std::isfinite(p.top_p) || !std::isfinite(p.min_p) || !std::isfinite(p.presence_penalty))
    throw_error(ErrorKind::InvalidArgument, "top_p, min_p and presence penalty must be finite numbers");
}

}  // namespace hlwq
