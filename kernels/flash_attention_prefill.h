#pragma once
// The causal pass of attention_prefill on tensor cores (flash attention, mma.sync m16n8k16,
// fp16 operands, fp32 accumulation and online softmax). Runs after attention_prefill's first
// phase: reads the scaled, roped (and, for Q codes, rotated) queries from q_work and every
// key/value from the cache (the chunk's own rows included), so each row sees the values a
// decode step at its position would see, then writes the gated output rows.
#include <cuda_runtime.h>

#include "attention_prefill.h"

namespace hlwq::cuda {

// Query heads per KV head the kernel is built for: 4 and 6 (every Qwen3.5 size).
bool flash_attention_supports_group(int group);

// Arguments already checked by attention_prefill.
void flash_attention_causal(const AttentionPrefillArgs& args, cudaStream_t stream);

}  // namespace hlwq::cuda
