#include <cfloat>

#include "cuda_check.h"
#include "pdl.cuh"
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

// One launch: each block reduces a strided share of the logits; the last block to finish
// (a ticket that wraps back to 0, so the scratch stays ready for the next call) reduces the
// per-block bests, writes the id and advances the position. Launched as a programmatic
// dependent of lm_head: scheduled during its tail, logits read after the wait.
__global__ void __launch_bounds__(kThreads) greedy_kernel(const float* logits, int vocab, Best* part,
                                                          unsigned* ticket, int32_t* token, int* pos) {
  pdl_launch_dependents();
  pdl_wait();
  Best b{-FLT_MAX, 0x7fffffff};
  for (int i = blockIdx.x * kThreads + threadIdx.x; i < vocab; i += kBlocks * kThreads) {
    const float v = logits[i];
    b = better(b, Best{v != v ? -FLT_MAX : v, i});  // NaN never wins
  }
  b = block_best(b);
  __shared__ bool last;
  if (threadIdx.x == 0) {
    part[blockIdx.x] = b;
    __threadfence();  // the partial is visible before the ticket
    last = atomicInc(ticket, kBlocks - 1) == kBlocks - 1;
  }
  __syncthreads();
  if (!last) return;
  __threadfence();
  b = Best{-FLT_MAX, 0x7fffffff};
  for (int i = threadIdx.x; i < kBlocks; i += kThreads) {
    const Best p{__ldcg(&part[i].v), __ldcg(&part[i].i)};  // written by other blocks: past L1
    b = better(b, p);
  }
  __syncthreads();  // block_best's shared arrays are reused
  b = block_best(b);
  if (threadIdx.x == 0) {
    *token = b.i == 0x7fffffff ? 0 : b.i;
    if (pos) ++*pos;
  }
}

}  // namespace

std::size_t argmax_scratch_bytes(int) { return kBlocks * sizeof(Best) + sizeof(unsigned); }

void sample_greedy(const float* logits, int vocab, void* scratch, int32_t* token_out, int* pos, cudaStream_t stream) {
  auto* part = static_cast<Best*>(scratch);
  auto* ticket = reinterpret_cast<unsigned*>(part + kBlocks);
  launch_pdl("sample_greedy", greedy_kernel, dim3(kBlocks), dim3(kThreads), 0, stream, logits, vocab, part, ticket,
             token_out, pos);
}

}  // namespace hlwq::cuda
