#include <cuda_bf16.h>

#include "cuda_check.h"
#include "embed.h"
#include "pdl.cuh"

namespace hlwq::cuda {
namespace {

// Launched as a programmatic dependent: the first layer's GEMV may be scheduled at once (it
// waits for this grid before reading the row); the token is read only after our own wait.
__global__ void embed_kernel(const uint16_t* table, const int32_t* token, int hidden, float* out) {
  pdl_launch_dependents();
  pdl_wait();
  const size_t row = size_t(*token) * hidden;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < hidden; i += gridDim.x * blockDim.x)
    out[i] = __uint_as_float(uint32_t(table[row + i]) << 16);
}

}  // namespace

void embed_token(const uint16_t* table, const int32_t* token, int hidden, float* out, cudaStream_t stream) {
  launch_pdl("embed_token", embed_kernel, dim3((hidden + 255) / 256), dim3(256), 0, stream, table, token, hidden, out);
}

}  // namespace hlwq::cuda
