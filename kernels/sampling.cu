#include <cfloat>

#include "cuda_check.h"
#include "sampling.h"

namespace hlwq::cuda {
namespace {

constexpr int kThreads = 512;
constexpr int kBlocks = 128;

struct Best {
  float v;
  int i;
};

__device__ __forceinline__ Best better(Best a, Best b) {
  if (b.v > a.v || (b.v == a.v && b.i < a.i)) return b;
  return a;
}

__device__ Best block_best(Best b) {
  __shared__ float sv[kThreads / 32];
  __shared__ int si[kThreads / 32];
  for (int o = 16; o; o >>= 1) {
    Best other{__shfl_xor_sync(0xffffffffu, b.v, o), __shfl_xor_sync(0xffffffffu, b.i, o)};
    b = better(b, other);
  }
  if ((threadIdx.x & 31) == 0) {
    sv[threadIdx.x >> 5] = b.v;
    si[threadIdx.x >> 5] = b.i;
  }
  __syncthreads();
  Best r{-FLT_MAX, 0x7fffffff};
  for (int w = 0; w < kThreads / 32; ++w) r = better(r, Best{sv[w], si[w]});
  return r;
}

__global__ void partial_kernel(const float* logits, int vocab, Best* part) {
  Best b{-FLT_MAX, 0x7fffffff};
  for (int i = blockIdx.x * kThreads + threadIdx.x; i < vocab; i += kBlocks * kThreads) {
    const float v = logits[i];
    b = better(b, Best{v != v ? -FLT_MAX : v, i});  // NaN never wins
  }
  b = block_best(b);
  if (threadIdx.x == 0) part[blockIdx.x] = b;
}

__global__ void final_kernel(const Best* part, int32_t* token, int* pos) {
  Best b{-FLT_MAX, 0x7fffffff};
  for (int i = threadIdx.x; i < kBlocks; i += kThreads) b = better(b, part[i]);
  b = block_best(b);
  if (threadIdx.x == 0) {
    *token = b.i == 0x7fffffff ? 0 : b.i;
    if (pos) ++*pos;
  }
}

}  // namespace

std::size_t argmax_scratch_bytes(int) { return kBlocks * sizeof(Best); }

void sample_greedy(const float* logits, int vocab, void* scratch, int32_t* token_out, int* pos, cudaStream_t stream) {
  auto* part = static_cast<Best*>(scratch);
  partial_kernel<<<kBlocks, kThreads, 0, stream>>>(logits, vocab, part);
  check_launch("sample_greedy partial");
  final_kernel<<<1, kThreads, 0, stream>>>(part, token_out, pos);
  check_launch("sample_greedy final");
}

}  // namespace hlwq::cuda
