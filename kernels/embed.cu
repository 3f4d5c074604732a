#include <cuda_bf16.h>

#include "cuda_check.h"
#include "embed.h"

namespace hlwq::cuda {
namespace {

__global__ void embed_kernel(const uint16_t* table, const int32_t* token, int hidden, float* out) {
  const size_t row = size_t(*token) * hidden;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < hidden; i += gridDim.x * blockDim.x)
    out[i] = __uint_as_float(uint32_t(table[row + i]) << 16);
}

}  // namespace

void embed_token(const uint16_t* table, const int32_t* token, int hidden, float* out, cudaStream_t stream) {
  embed_kernel<<<(hidden + 255) / 256, 256, 0, stream>>>(table, token, hidden, out);
  check_launch("embed_token");
}

}  // namespace hlwq::cuda
