#pragma once
// Embedding rows of a prefill chunk: T token ids already on the device, table bf16
// [vocab][hidden] in device memory or mapped pinned host memory (as embed.h).
#include <cuda_runtime.h>

#include <cstdint>

namespace hlwq::cuda {

// out[t][:] = float(table[tokens[t]][:]) for t < T.
void embed_tokens(const uint16_t* table, const int32_t* tokens, int T, int hidden, float* out, cudaStream_t stream);

}  // namespace hlwq::cuda
