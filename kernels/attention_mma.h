#pragma once
// The tensor-core split kernel of the decode attention (attention_mma.cu): the flash-decoding
// step between attention.cu's prep and combine, for long histories with fp16/Q4/Q3/Q2 K and V.
#include <cuda_runtime.h>

#include "attention.h"

namespace hlwq::cuda {

// fp16, Q4, Q3 or Q2 on each side, 4 or 6 query heads per KV head.
bool attention_mma_supports(int k_bits, int v_bits, int group);

// Writes a.partials (attention.cu's layout) from q_work and the cache; launched as a
// programmatic dependent of the prep kernel when pdl.
void attention_mma_split(const AttentionArgs& a, bool pdl, cudaStream_t stream);

}  // namespace hlwq::cuda
