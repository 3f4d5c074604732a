#pragma once
// Embedding lookup for one token whose id lives on the device (so it can sit inside a
// captured decode graph). The table may be in device memory or in mapped pinned host memory
// (the planner keeps the 27B's 2.5 GB table off the GPU); one bf16 row is read either way.
#include <cuda_runtime.h>

#include <cstdint>

namespace hlwq::cuda {

// out[hidden] = float(table[*token][:]), table bf16 [vocab][hidden].
void embed_token(const uint16_t* table, const int32_t* token, int hidden, float* out, cudaStream_t stream);

}  // namespace hlwq::cuda
