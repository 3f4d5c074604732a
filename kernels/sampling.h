#pragma once
// Sampling on the GPU so only the chosen id crosses to the host. Greedy for now: the arg max
// of the logits (lowest index on ties), written where the next step's embedding reads it,
// and the position advanced, so a captured decode graph can be replayed step after step.
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace hlwq::cuda {

std::size_t argmax_scratch_bytes(int vocab);
// token_out = argmax(logits); if pos != nullptr, ++*pos.
void sample_greedy(const float* logits, int vocab, void* scratch, int32_t* token_out, int* pos, cudaStream_t stream);

}  // namespace hlwq::cuda
