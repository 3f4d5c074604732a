// Compiled into every target that links hlwq_cuda (an INTERFACE source), so the CUDA backend
// is in the registry before main() without anyone having to call it: a registrar inside the
// static library would be dropped by the linker.
#include "cuda_backend.h"

namespace {
const bool hlwq_cuda_registered = (hlwq::cuda::register_cuda_backend(), true);
}  // namespace
