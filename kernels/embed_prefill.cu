#include "cuda_check.h"
#include "embed_prefill.h"

namespace hlwq::cuda {
namespace {

// Block per token; 8-byte reads (four bf16) so a mapped host row crosses PCIe in few requests.
__global__ void embed_rows_kernel(const uint16_t* table, const int32_t* tokens, int hidden, float* out) {
  const size_t t = blockIdx.x;
  const uint2* row = reinterpret_cast<const uint2*>(table + size_t(tokens[t]) * hidden);
  float4* dst = reinterpret_cast<float4*>(out + t * hidden);
  for (int i = threadIdx.x; i < hidden / 4; i += blockDim.x) {
    const uint2 v = row[i];
    dst[i] = make_float4(__uint_as_float(v.x << 16), __uint_as_float(v.x & 0xffff0000u), __uint_as_float(v.y << 16),
                         __uint_as_float(v.y & 0xffff0000u));
  }
}

}  // namespace

void embed_tokens(const uint16_t* table, const int32_t* tokens, int T, int hidden, float* out, cudaStream_t stream) {
  embed_rows_kernel<<<T, 256, 0, stream>>>(table, tokens, hidden, out);
  check_launch("embed_tokens");
}

}  // namespace hlwq::cuda
