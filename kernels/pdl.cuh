#pragma once
// Programmatic dependent launch (PDL, sm_90) for the small kernels of the decode step: the
// kernel is scheduled while the previous one drains, does what does not depend on it
// (weights, its own recurrent state), then griddepcontrol.wait until the previous kernel has
// finished and its writes are visible. Everything before pdl_wait() must neither read what
// an earlier kernel of the step writes nor write what it reads: the wait is also what orders
// this kernel after the ones before the previous (they are complete once the previous is).
// HLWQ_STEP_PDL=0 launches these kernels plainly (A/B timing), like HLWQ_GEMV_PDL for the GEMV.
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "cuda_check.h"

namespace hlwq::cuda {

// No-ops when the kernel was launched plainly.
__device__ __forceinline__ void pdl_wait() { asm volatile("griddepcontrol.wait;" ::: "memory"); }
// Lets the next kernel be scheduled now (it still waits for our completion at its pdl_wait).
__device__ __forceinline__ void pdl_launch_dependents() { asm volatile("griddepcontrol.launch_dependents;"); }

inline bool step_pdl_enabled() {
  static const bool on = [] {
    const char* e = std::getenv("HLWQ_STEP_PDL");
    return !(e && std::strcmp(e, "0") == 0);
  }();
  return on;
}

// Launches `kernel` as a programmatic dependent of the stream's previous kernel when `pdl` is
// set, plainly otherwise (every PDL launch of the backend goes through here), and checks it.
template <typename... Params, typename... Args>
void launch_maybe_pdl(bool pdl, const char* what, void (*kernel)(Params...), dim3 grid, dim3 block, std::size_t smem,
                      cudaStream_t stream, Args&&... args) {
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = pdl ? 1 : 0;
  check(cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...), what);
  check_launch(what);
}

// The decode step's small kernels (HLWQ_STEP_PDL=0 launches them plainly).
template <typename... Params, typename... Args>
void launch_pdl(const char* what, void (*kernel)(Params...), dim3 grid, dim3 block, std::size_t smem,
                cudaStream_t stream, Args&&... args) {
  launch_maybe_pdl(step_pdl_enabled(), what, kernel, grid, block, smem, stream, std::forward<Args>(args)...);
}

}  // namespace hlwq::cuda
