#pragma once
// The on-chip Q5 prefill GEMM of prefill_gemm_q5.h on Hopper's warpgroup MMA (wgmma, sm_90a):
// same arguments and result, with the activations first permuted into `scratch` (one
// [tokens][cols] bf16 copy; more tokens than fit run in passes).
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>

#include "prefill_gemm_q5.h"

namespace hlwq::cuda {

// Whether this build holds the sm_90a code and the device runs it (probed once;
// HLWQ_PREFILL_WGMMA=0 in the environment says no).
bool wgmma_available();

void prefill_gemm_q5_wgmma(const PrefillGemmQ5Args& args, __nv_bfloat16* scratch, std::size_t scratch_elems,
                           cudaStream_t stream);

}  // namespace hlwq::cuda
