// Compiled into every target that links hlwq_cuda (an INTERFACE source, like
// cuda_backend_registration.cpp): `hlwq quantize` and load-time quantization find the GPU
// quantizer in the formats registry without anyone calling for it.
#include "quantize_cuda.h"

namespace {
const bool hlwq_cuda_quantizer_registered = (hlwq::cuda::register_cuda_block_quantizer(), true);
}  // namespace
