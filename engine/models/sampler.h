#pragma once
// Token sampling as pure functions of (logits, parameters, history, one uniform draw), so
// the CUDA backend can be checked against it id for id. Order: repetition and presence
// penalties, then greedy (temperature 0) or temperature -> top-k -> softmax -> top-p ->
// min-p -> draw. Ties in every sort go to the lower token id. Ids at or past
// params.vocab_limit (when set) are never drawn.
#include <cstdint>
#include <span>

#include "models/backend_types.h"

namespace hlwq {

// Every token that occurs in history (counted once): repetition_penalty divides a positive
// logit and multiplies a negative one (CTRL / transformers); presence_penalty is subtracted.
void apply_penalties(std::span<float> logits, std::span<const int32_t> history, float repetition_penalty,
                     float presence_penalty);

int32_t argmax(std::span<const float> logits);  // the lowest id among equal maxima

// Modifies logits (penalties are applied in place). uniform in [0, 1). Throws
// Error{InvalidArgument} for an empty vocabulary or non-finite parameters.
int32_t sample_token(std::span<float> logits, const SamplingParams& params, std::span<const int32_t> history,
                     float uniform);

// The draw for generation step `step` of a sequence seeded with `seed`: splitmix64 of
// seed + step, top 24 bits as a float in [0, 1). Stateless, so any backend reproduces it.
float sampling_uniform(uint64_t seed, uint64_t step);

}  // namespace hlwq
