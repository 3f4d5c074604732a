// GpuSampler (sampling.h): sample_token() of engine/models/sampler.cpp on the device.
//
// Order of ranks everywhere: logit descending, then id ascending, packed as one 64-bit
// "composite" (sortable key of the penalized logit << 32 | ~id), so a larger composite is
// a better rank and no two tokens tie.
//
// 1. candidates_kernel (one block per 2048-logit chunk, 122 blocks at the 27B vocabulary):
//    applies the penalties (seen-id bitmap), writes the chunk's 32 best composites sorted
//    (radix select in shared memory; greedy keeps only the best), and when top_k is 0 or
//    > 32 its largest finite logit and sum of exp((l - max) / T).
// 2a. greedy, or top_k <= 32 (the usual settings): the last block of the same launch merges
//    the sorted lists into the top-k in order and runs sample_token's loop on them in one
//    thread, in the CPU's order of operations: one kernel launch per token.
// 2b. decide_kernel (one block): sorts the <= 4096 candidates (bitonic, shared memory). The
//    sorted list is the exact global order down to the best "boundary" (the worst candidate
//    a truncated block kept): every token left out ranks below its block's boundary. Within
//    that exact prefix it repeats the CPU's steps: softmax over top-k (or over the whole
//    vocabulary from the block sums when top_k is 0), top-p on the cumulative sum, min-p,
//    the draw. With top_k <= 32 this is always exact; otherwise it is whenever the kept set
//    and the draw fall inside the prefix (the usual case for language-model logits).
// 3. fallback_kernel (one block, launched after 2b; returns at once unless decide_kernel
//    flagged it): the same steps over the whole vocabulary with radix
//    selects by count and by probability mass. Slow (tens of passes over the logits), rare.
//
// Floating point: the CPU computes exp((double(l) - top) / T) per token, sums in one running
// double sum, normalises, and compares running sums with top_p and with uniform * total.
// 2a does exactly that. 2b and 3 use the same per-token double formula and comparisons, but
// tree / scan sums (and, for top_k 0, per-block partial sums rescaled by
// exp((max_b - top) / T)), which differ from the running sum by a few ulps of a double.
#include <cfloat>
#include <cmath>
#include <cstring>
#include <new>
#include <string>

#include "core/error.h"
#include "cuda_check.h"
#include "pdl.cuh"
#include "models/sampling_params_check.h"
#include "sampling.h"

namespace hlwq::cuda {
namespace {

constexpr int kCandidates = 32;   // per block; top_k up to this never needs the fallback
constexpr int kMaxBlocks = 128;   // kMaxBlocks * kCandidates candidates sorted in one block
constexpr int kSortMax = kMaxBlocks * kCandidates;
constexpr int kChunkMin = 2048;
constexpr int kThreads1 = 512;
constexpr int kThreads2 = 1024;
constexpr int kIdBatch = 4096;    // history ids marked per launch
constexpr int kPerThread = kSortMax / kThreads2;
constexpr int kStagedIds = 32;    // history ids a staged draw marks itself (more: mark_kernel first)

struct Args {
  // The decode step's own inputs when the draw sits in the step's graph: they travel in the
  // same copy (GpuSampler::set_step_input), read by the step's kernels from here.
  int32_t step_token = 0;
  int32_t step_pos = 0;
  const float* logits = nullptr;
  int n = 0;  // ids considered: min(vocab, vocab_limit)
  const uint32_t* seen = nullptr;  // nullptr: no penalties
  float rep = 1.0f, pres = 0.0f;
  float temperature = 0.0f, top_p = 1.0f, min_p = 0.0f, uniform = 0.0f;
  int top_k = 0;
  double inv_t = 0.0;
  int chunk = 0, blocks = 0;
  bool need_sums = false;  // the whole-vocabulary softmax denominator (top_k 0 or > kCandidates)
  uint64_t* cand = nullptr;
  uint64_t* boundary = nullptr;
  double* bmax = nullptr;
  double* bsum = nullptr;
  int* count = nullptr;
  double* top_z = nullptr;
  int* flag = nullptr;
  unsigned* done = nullptr;  // blocks of candidates_kernel finished (the last one decides)
  int small_k = 0;           // > 0: candidates_kernel's last block runs 2a with this K
  int32_t* token = nullptr;
  // History ids new since the last draw (penalties on): each candidates block sets the bits of
  // the ids in its chunk before reading the set (chunks are whole 32-id words of the bitmap).
  uint32_t* mark = nullptr;
  int vocab = 0;  // ids at or past it (or negative) have no bit
  int n_new = 0;
  int32_t new_ids[kStagedIds] = {};
};

// The block's copy of the draw's parameters, in shared memory.
__device__ const Args& load_args(const Args* args) {
  static_assert(sizeof(Args) % 4 == 0, "Args is copied as words");
  __shared__ alignas(8) uint32_t sa[sizeof(Args) / 4];  // raw words: Args has initializers
  for (int i = threadIdx.x; i < int(sizeof(Args) / 4); i += blockDim.x) sa[i] = reinterpret_cast<const uint32_t*>(args)[i];
  __syncthreads();
  return *reinterpret_cast<const Args*>(sa);
}

// ---- keys ---------------------------------------------------------------------------------

// The CPU's penalty, same float operations in the same order.
__device__ __forceinline__ float penalized(const Args& a, int i) {
  float l = a.logits[i];
  if (a.seen && ((a.seen[i >> 5] >> (i & 31)) & 1u)) {
    if (a.rep != 1.0f) l = l > 0 ? l / a.rep : l * a.rep;
    l -= a.pres;
  }
  return l;
}
// Order-preserving uint32 of a float; NaN ranks as -inf, -0 as +0 (the CPU's > sees them equal).
__device__ __forceinline__ uint32_t key_of(float v) {
  if (v != v) v = -INFINITY;
  if (v == 0.0f) v = 0.0f;
  const uint32_t b = __float_as_uint(v);
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}
__device__ __forceinline__ float value_of(uint32_t k) {
  return __uint_as_float((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k);
}
__device__ __forceinline__ uint64_t composite(uint32_t key, int id) {
  return (uint64_t(key) << 32) | uint64_t(~uint32_t(id));
}
__device__ __forceinline__ int id_of(uint64_t c) { return int(~uint32_t(c)); }
__device__ __forceinline__ float value_of_c(uint64_t c) { return value_of(uint32_t(c >> 32)); }
// The CPU's unnormalised probability: exp((l - top) / T), 0 for a non-finite logit.
__device__ __forceinline__ double mass_of(float v, double top, double inv_t) {
  return isfinite(v) ? exp((double(v) - top) * inv_t) : 0.0;
}

// ---- block reductions (blockDim.x a multiple of 32, <= 1024) ------------------------------

template <typename T, typename Op>
__device__ T block_reduce(T v, Op op, T* red) {
  for (int o = 16; o; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
  const int w = threadIdx.x >> 5, nw = blockDim.x >> 5;
  __syncthreads();
  if ((threadIdx.x & 31) == 0) red[w] = v;
  __syncthreads();
  T r = red[0];
  for (int i = 1; i < nw; ++i) r = op(r, red[i]);
  return r;
}
struct Sum {
  template <typename T>
  __device__ T operator()(T a, T b) const { return a + b; }
};
struct Max {
  template <typename T>
  __device__ T operator()(T a, T b) const { return a > b ? a : b; }
};
struct Min {
  template <typename T>
  __device__ T operator()(T a, T b) const { return a < b ? a : b; }
};

// Exclusive prefix sum over threads in thread order; *total gets the block's sum.
template <typename T>
__device__ T block_exclusive_scan(T v, T* red, T* total) {
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
  T inc = v;
  for (int o = 1; o < 32; o <<= 1) {
    const T up = __shfl_up_sync(0xffffffffu, inc, o);
    if (lane >= o) inc += up;
  }
  __syncthreads();
  if (lane == 31) red[w] = inc;
  __syncthreads();
  T before = 0, all = 0;
  for (int i = 0; i < nw; ++i) {
    if (i < w) before += red[i];
    all += red[i];
  }
  *total = all;
  return before + inc - v;
}

// Radix digit choice, warp 0: walking bins 255..0 (best rank first) from `acc`, the first
// non-empty bin whose running total reaches `target` (> when strict, >= otherwise). Returns the digit
// and moves acc to the total of the bins above it; -1 if no bin reaches.
template <typename T>
__device__ int pick_digit(const T* hist, const uint32_t* nonempty, T target, bool strict, T* acc) {
  const int lane = threadIdx.x & 31;
  T local = 0;
  for (int i = 0; i < 8; ++i) local += hist[255 - lane * 8 - i];
  T inc = local;
  for (int o = 1; o < 32; o <<= 1) {
    const T up = __shfl_up_sync(0xffffffffu, inc, o);
    if (lane >= o) inc += up;
  }
  T run = *acc + inc - local;
  int found = -1;
  T at = 0;
  for (int i = 0; i < 8; ++i) {
    const int d = 255 - lane * 8 - i;
    const T next = run + hist[d];
    if (found < 0 && nonempty[d] && (strict ? next > target : next >= target)) {
      found = d;
      at = run;
    }
    run = next;
  }
  const unsigned hit = __ballot_sync(0xffffffffu, found >= 0);
  if (!hit) return -1;
  const int src = __ffs(hit) - 1;
  *acc = __shfl_sync(0xffffffffu, at, src);
  return __shfl_sync(0xffffffffu, found, src);
}

// Adds one element per lane to the digit histogram (count, and mass when hm != nullptr).
// Lanes of a warp mostly share a digit (the logits sit in a narrow range), so each distinct
// digit is summed across the warp first: one shared atomic per digit instead of per lane.
// Every lane of the warp must call it.
__device__ __forceinline__ void warp_hist_add(uint32_t* hn, double* hm, bool valid, int d, double mass) {
  const int lane = threadIdx.x & 31;
  unsigned todo = __ballot_sync(0xffffffffu, valid);
  while (todo) {
    const int dl = __shfl_sync(0xffffffffu, d, __ffs(todo) - 1);
    const bool mine = valid && d == dl;
    const unsigned grp = __ballot_sync(0xffffffffu, mine);
    if (hm) {
      double v = mine ? mass : 0.0;
      for (int o = 16; o; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
      if (lane == 0) atomicAdd(&hm[dl], v);
    }
    if (lane == 0) atomicAdd(&hn[dl], uint32_t(__popc(grp)));
    todo &= ~grp;
  }
}

// Warp 0: sorts the block's kCandidates composites (one per lane) best first into out.
__device__ void write_sorted(const uint64_t* list, uint64_t* out) {
  const int lane = threadIdx.x & 31;
  unsigned long long v = list[lane];
  for (int k = 2; k <= 32; k <<= 1)
    for (int j = k >> 1; j > 0; j >>= 1) {
      const unsigned long long o = __shfl_xor_sync(0xffffffffu, v, j);
      v = (((lane & j) == 0) == ((lane & k) == 0)) ? max(v, o) : min(v, o);
    }
  out[lane] = v;
}

// ---- 1. per-chunk candidates --------------------------------------------------------------

__device__ void block_candidates(const Args& a) {
  extern __shared__ uint32_t skey[];
  __shared__ uint32_t hist[256];
  __shared__ double redd[32];
  __shared__ float redf[32];
  __shared__ int redi[32];
  __shared__ unsigned long long redu[32];
  __shared__ uint64_t list[kCandidates];
  __shared__ uint32_t s_prefix;
  __shared__ int s_need, s_out;
  const int b = blockIdx.x, tid = threadIdx.x;
  const int base = b * a.chunk;
  if (a.n_new > 0) {  // every block of the vocabulary marks its ids, even past vocab_limit
    if (tid < a.n_new) {
      const int id = a.new_ids[tid];
      if (id >= base && id < base + a.chunk && id < a.vocab) atomicOr(&a.mark[id >> 5], 1u << (id & 31));
    }
    __syncthreads();
  }
  if (b >= a.blocks) return;  // past vocab_limit
  const int len = min(a.chunk, a.n - base);
  uint64_t* out = a.cand + size_t(b) * kCandidates;

  float vmax = -INFINITY;
  unsigned long long best = 0;
  for (int j = tid; j < len; j += kThreads1) {
    const float v = penalized(a, base + j);
    const uint32_t k = key_of(v);
    skey[j] = k;
    if (isfinite(v)) vmax = fmaxf(vmax, v);
    best = max(best, (unsigned long long)composite(k, base + j));
  }
  if (a.temperature == 0.0f) {  // greedy: the chunk's best rank is all the decision needs
    best = block_reduce(best, Max{}, redu);
    if (tid == 0) {
      out[0] = best;
      a.count[b] = 1;
      a.boundary[b] = 0;
    }
    return;
  }
  if (a.need_sums) {
    vmax = block_reduce(vmax, Max{}, redf);
    double s = 0.0;
    if (isfinite(vmax))
      for (int j = tid; j < len; j += kThreads1) s += mass_of(value_of(skey[j]), double(vmax), a.inv_t);
    s = block_reduce(s, Sum{}, redd);
    if (tid == 0) {
      a.bmax[b] = double(vmax);
      a.bsum[b] = s;
    }
  }
  if (len <= kCandidates) {
    if (tid < kCandidates) list[tid] = tid < len ? composite(skey[tid], base + tid) : 0ull;
    if (tid == 0) {
      a.count[b] = len;
      a.boundary[b] = 0;
    }
    __syncthreads();
    if (tid < 32) write_sorted(list, out);
    return;
  }

  // The kCandidates-th best key, 8 bits at a time from the top.
  uint32_t prefix = 0, mask = 0;
  if (tid == 0) s_need = kCandidates;
  for (int shift = 24; shift >= 0; shift -= 8) {
    __syncthreads();
    for (int d = tid; d < 256; d += kThreads1) hist[d] = 0;
    __syncthreads();
    for (int j0 = 0; j0 < len; j0 += kThreads1) {
      const int j = j0 + tid;
      const uint32_t k = j < len ? skey[j] : 0u;
      warp_hist_add(hist, nullptr, j < len && (k & mask) == prefix, int((k >> shift) & 255u), 0.0);
    }
    __syncthreads();
    if (tid < 32) {
      uint32_t acc = 0;
      const int d = pick_digit<uint32_t>(hist, hist, uint32_t(s_need), false, &acc);
      if (tid == 0) {
        s_prefix = prefix | (uint32_t(d) << shift);
        s_need -= int(acc);
      }
    }
    __syncthreads();
    prefix = s_prefix;
    mask |= 255u << shift;
  }
  const uint32_t t = prefix;
  const int need = s_need;  // how many of the tokens with key t, lowest ids first
  if (tid == 0) s_out = 0;
  __syncthreads();
  for (int j = tid; j < len; j += kThreads1)
    if (skey[j] > t) list[atomicAdd(&s_out, 1)] = composite(skey[j], base + j);
  __syncthreads();
  const int above = s_out;
  int taken = 0;
  for (int j0 = 0; j0 < len && taken < need; j0 += kThreads1) {
    const int j = j0 + tid;
    const bool eq = j < len && skey[j] == t;
    int total = 0;
    const int r = taken + block_exclusive_scan(int(eq), redi, &total);
    if (eq && r < need) {
      list[above + r] = composite(t, base + j);
      if (r == need - 1) a.boundary[b] = composite(t, base + j);
    }
    taken += total;
  }
  if (tid == 0) a.count[b] = kCandidates;
  __syncthreads();
  if (tid < 32) write_sorted(list, out);
}

// ---- 2a. greedy, or top_k <= kCandidates: merge the sorted lists, then the CPU's loop ----

// One block: the candidate lists go to shared memory, warp 0 merges the K best ranks in order
// (a K-round tournament over the list heads) and lane 0 runs sample_token's arithmetic on
// them in the CPU's exact order (one running double sum).
__device__ void decide_small_block(const Args& a, int K) {
  __shared__ uint64_t c[kSortMax];
  __shared__ int cnt[kMaxBlocks];
  __shared__ uint64_t top[kCandidates];
  __shared__ double e[kCandidates];
  const int tid = threadIdx.x, lane = tid & 31;
  // Written by other blocks of this launch: read past L1.
  for (int i = tid; i < a.blocks * kCandidates; i += blockDim.x) c[i] = __ldcg(a.cand + i);
  for (int b = tid; b < a.blocks; b += blockDim.x) cnt[b] = __ldcg(a.count + b);
  __syncthreads();
  if (tid >= 32) return;
  if (a.temperature == 0.0f) {
    unsigned long long m = 0;
    for (int b = lane; b < a.blocks; b += 32) m = max(m, (unsigned long long)c[b * kCandidates]);
    for (int o = 16; o; o >>= 1) m = max(m, __shfl_xor_sync(0xffffffffu, m, o));
    if (lane == 0) {
      *a.token = id_of(m);
      *a.flag = 0;
    }
    return;
  }
  int at[4] = {0, 0, 0, 0};  // next unused entry of the lists of blocks lane + 32 q
  for (int r = 0; r < K; ++r) {
    unsigned long long mine = 0;
    int which = -1;
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      const int b = lane + 32 * q;
      if (b < a.blocks && at[q] < cnt[b]) {
        const unsigned long long v = c[b * kCandidates + at[q]];
        if (v > mine) {
          mine = v;
          which = q;
        }
      }
    }
    unsigned long long w = mine;
    for (int o = 16; o; o >>= 1) w = max(w, __shfl_xor_sync(0xffffffffu, w, o));
#pragma unroll
    for (int q = 0; q < 4; ++q)
      if (mine == w && which == q) ++at[q];  // composites are unique: one lane advances
    if (lane == 0) top[r] = w;
  }
  __syncwarp();
  const float topf = value_of_c(top[0]);
  if (lane < K) e[lane] = isfinite(topf) ? mass_of(value_of_c(top[lane]), double(topf), a.inv_t) : 0.0;
  __syncwarp();
  if (lane != 0) return;
  int pick = 0;
  double sum = 0;
  for (int i = 0; i < K; ++i) sum += e[i];
  if (sum > 0) {
    for (int i = 0; i < K; ++i) e[i] /= sum;
    int keep = K;
    if (a.top_p < 1.0f) {
      double cum = 0;
      for (int i = 0; i < K; ++i) {
        cum += e[i];
        if (cum >= double(a.top_p)) {
          keep = i + 1;
          break;
        }
      }
    }
    if (a.min_p > 0.0f) {
      const double floor = double(a.min_p) * e[0];
      int m = 1;
      while (m < keep && e[m] >= floor) ++m;
      keep = m;
    }
    double total = 0;
    for (int i = 0; i < keep; ++i) total += e[i];
    const double target = double(fminf(fmaxf(a.uniform, 0.0f), 1.0f)) * total;
    double cum = 0;
    pick = keep - 1;
    for (int i = 0; i < keep; ++i) {
      cum += e[i];
      if (target < cum) {
        pick = i;
        break;
      }
    }
  }
  *a.token = id_of(top[pick]);
  *a.flag = 0;
}

// 1 (+ 2a): the chunk's candidates; with small_k > 0 the last block to finish merges and
// decides, so greedy and top_k <= 32 take one launch.
// Every kernel reads its Args from the device (copied from the staged host block, so a
// captured graph replays with new parameters) and is launched as a programmatic dependent:
// scheduled while the previous kernel drains, it waits before reading anything.
__global__ void __launch_bounds__(kThreads1) candidates_kernel(const Args* args) {
  pdl_launch_dependents();
  pdl_wait();
  const Args& a = load_args(args);
  block_candidates(a);
  if (a.small_k <= 0) return;
  __shared__ bool s_last;
  __threadfence();  // this block's candidates are visible before its ticket
  __syncthreads();
  if (threadIdx.x == 0) s_last = atomicAdd(a.done, 1u) == gridDim.x - 1;
  __syncthreads();
  if (!s_last) return;
  __threadfence();
  if (threadIdx.x == 0) *a.done = 0;  // every block has counted: ready for the next call
  decide_small_block(a, a.small_k);
}

// ---- 2b. top_k 0 or > kCandidates: sort the candidates, decide on the exact prefix ---------------------------------------------------

__global__ void __launch_bounds__(kThreads2) decide_kernel(const Args* args) {
  pdl_launch_dependents();
  pdl_wait();
  const Args& a = load_args(args);
  if (a.small_k > 0) return;  // candidates_kernel decided
  int sort_n = 32;
  while (sort_n < a.blocks * kCandidates) sort_n <<= 1;
  __shared__ uint64_t c[kSortMax];
  __shared__ double redd[32];
  __shared__ unsigned long long redu[32];
  __shared__ int redi[32];
  __shared__ double s_p0;
  const int tid = threadIdx.x;

  unsigned long long best_local = 0;
  for (int i = tid; i < sort_n; i += kThreads2) {
    const int b = i / kCandidates, r = i % kCandidates;
    c[i] = (b < a.blocks && r < a.count[b]) ? a.cand[i] : 0ull;
    best_local = max(best_local, (unsigned long long)c[i]);
  }
  if (a.temperature == 0.0f) {  // greedy: the best rank, no order needed
    best_local = block_reduce(best_local, Max{}, redu);
    if (tid == 0) {
      *a.token = id_of(best_local);
      *a.flag = 0;
    }
    return;
  }
  __syncthreads();
  for (int k = 2; k <= sort_n; k <<= 1)
    for (int j = k >> 1; j > 0; j >>= 1) {
      for (int i = tid; i < sort_n; i += kThreads2) {
        const int ixj = i ^ j;
        if (ixj > i) {
          const uint64_t x = c[i], y = c[ixj];
          if (((i & k) == 0) ? x < y : x > y) {
            c[i] = y;
            c[ixj] = x;
          }
        }
      }
      __syncthreads();
    }

  const uint64_t best = c[0];
  // Exact prefix: candidates ranked at or above the best boundary of a truncated block.
  unsigned long long w = 0;
  for (int b = tid; b < a.blocks; b += kThreads2) w = max(w, (unsigned long long)a.boundary[b]);
  w = block_reduce(w, Max{}, redu);
  int p_local = 0;
  for (int i = tid; i < sort_n; i += kThreads2) p_local += (c[i] != 0 && c[i] >= w);
  const int P = block_reduce(p_local, Sum{}, redi);

  const float topf = value_of_c(best);
  const double top = double(topf);
  // Softmax denominator over the whole vocabulary from the per-block sums.
  double zb = 0.0;
  if (isfinite(topf))
    for (int b = tid; b < a.blocks; b += kThreads2)
      if (isfinite(a.bmax[b])) zb += a.bsum[b] * exp((a.bmax[b] - top) * a.inv_t);
  const double z_all = block_reduce(zb, Sum{}, redd);
  if (tid == 0) {
    a.top_z[0] = top;
    a.top_z[1] = z_all;
  }
  if (!isfinite(topf)) {  // the CPU's sum is 0 then: it returns the best-ranked id
    if (tid == 0) {
      *a.token = id_of(best);
      *a.flag = 0;
    }
    return;
  }
  const int K = (a.top_k > 0 && a.top_k < a.n) ? a.top_k : a.n;
  const int m = min(P, K);
  // Each thread owns kPerThread consecutive ranks.
  double e[kPerThread];
  double local = 0.0;
  for (int q = 0; q < kPerThread; ++q) {
    const int i = tid * kPerThread + q;
    e[q] = i < m ? mass_of(value_of_c(c[i]), top, a.inv_t) : 0.0;
    local += e[q];
  }
  double Z;
  if (K <= P) {
    Z = block_reduce(local, Sum{}, redd);
  } else if (K == a.n) {
    Z = z_all;
  } else {
    if (tid == 0) *a.flag = 1;  // top_k beyond the exact prefix
    return;
  }
  double prob[kPerThread], cum[kPerThread], plocal = 0.0;
  for (int q = 0; q < kPerThread; ++q) {
    prob[q] = e[q] / Z;
    plocal += prob[q];
  }
  double ptotal;
  double run = block_exclusive_scan(plocal, redd, &ptotal);
  for (int q = 0; q < kPerThread; ++q) {
    run += prob[q];
    cum[q] = run;
  }
  if (tid == 0) s_p0 = prob[0];
  __syncthreads();

  // top-p: first rank whose running sum reaches top_p (keep = rank + 1).
  constexpr int kNone = 0x7fffffff;
  int keep_p = K;
  if (a.top_p < 1.0f) {
    int first = kNone;
    for (int q = 0; q < kPerThread; ++q) {
      const int i = tid * kPerThread + q;
      if (i < m && cum[q] >= double(a.top_p)) first = min(first, i);
    }
    first = block_reduce(first, Min{}, redi);
    keep_p = first != kNone ? first + 1 : (m == K ? K : -1);  // -1: beyond the exact prefix
  }
  int keep = keep_p;
  if (a.min_p > 0.0f) {
    const double floor = double(a.min_p) * s_p0;
    const int lim = keep_p < 0 ? m : min(keep_p, m);
    int first = kNone;
    for (int q = 0; q < kPerThread; ++q) {
      const int i = tid * kPerThread + q;
      if (i >= 1 && i < lim && prob[q] < floor) first = min(first, i);
    }
    first = block_reduce(first, Min{}, redi);
    if (first != kNone) keep = first;
    else if (keep_p < 0 || keep_p > m) keep = -1;
  }
  // Every token of the vocabulary kept (no top-k, top-p or min-p cut): the total is 1 and
  // the draw may still land inside the exact prefix.
  const bool whole = keep > m && keep == K && K == a.n;
  if (!whole && (keep < 0 || keep > m)) {
    if (tid == 0) *a.flag = 1;
    return;
  }
  // The draw: first kept rank whose running sum exceeds uniform * total.
  double total;
  if (whole) {
    total = 1.0;
    keep = m;
  } else {
    const int owner = (keep - 1) / kPerThread;
    __syncthreads();
    if (tid == owner) s_p0 = cum[(keep - 1) % kPerThread];
    __syncthreads();
    total = s_p0;
  }
  const double target = double(fminf(fmaxf(a.uniform, 0.0f), 1.0f)) * total;
  int pick = kNone;
  for (int q = 0; q < kPerThread; ++q) {
    const int i = tid * kPerThread + q;
    if (i < keep && target < cum[q]) pick = min(pick, i);
  }
  pick = block_reduce(pick, Min{}, redi);
  if (pick == kNone && whole) {  // the draw lands past the exact prefix
    if (tid == 0) *a.flag = 1;
    return;
  }
  if (pick == kNone) pick = keep - 1;
  __syncthreads();
  if (tid == 0) {
    *a.token = id_of(c[pick]);
    *a.flag = 0;
  }
}

// ---- 3. the whole vocabulary, when the candidates did not cover the kept set ---------------

struct FallbackShared {
  uint32_t hn[256];
  double hm[256];
  double redd[32];
  unsigned long long redu[32];
  int redi[32];
  uint32_t prefix;
  int digit;
  double acc;
};

// The rank (composite) where the running count (by_mass false) or running probability mass
// of the tokens ranked at or above `limit` reaches `target` (> when strict). 0 if never.
__device__ uint64_t select_rank(const Args& a, FallbackShared& s, bool by_mass, double target, bool strict,
                                uint64_t limit, double top) {
  const int tid = threadIdx.x;
  uint32_t prefix = 0, mask = 0;
  double acc = 0.0;
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int d = tid; d < 256; d += blockDim.x) {
      s.hn[d] = 0;
      s.hm[d] = 0.0;
    }
    __syncthreads();
    for (int i0 = 0; i0 < a.n; i0 += blockDim.x) {
      const int i = i0 + tid;
      const uint32_t k = i < a.n ? key_of(penalized(a, i)) : 0u;
      const bool in = i < a.n && (k & mask) == prefix && composite(k, i) >= limit;
      warp_hist_add(s.hn, by_mass ? s.hm : nullptr, in, int((k >> shift) & 255u),
                    in && by_mass ? mass_of(value_of(k), top, a.inv_t) : 0.0);
    }
    __syncthreads();
    if (tid < 32) {
      double acc_w = acc;
      int d;
      if (by_mass) {
        d = pick_digit<double>(s.hm, s.hn, target, strict, &acc_w);
      } else {
        uint32_t an = uint32_t(acc);
        d = pick_digit<uint32_t>(s.hn, s.hn, uint32_t(target), false, &an);
        acc_w = double(an);
      }
      if (tid == 0) {
        s.digit = d;
        s.acc = acc_w;
      }
    }
    __syncthreads();
    if (s.digit < 0) return 0;
    prefix |= uint32_t(s.digit) << shift;
    mask |= 255u << shift;
    acc = s.acc;
    __syncthreads();
  }
  // Tokens with exactly this key, lowest id first: the first one whose running total reaches.
  const double step = by_mass ? mass_of(value_of(prefix), top, a.inv_t) : 1.0;
  double run = acc;
  for (int i0 = 0; i0 < a.n; i0 += blockDim.x) {
    const int i = i0 + tid;
    const bool eq = i < a.n && key_of(penalized(a, i)) == prefix && composite(prefix, i) >= limit;
    int total = 0;
    const int r = block_exclusive_scan(int(eq), s.redi, &total);
    const double here = run + double(r + 1) * step;
    const bool hit = eq && (strict ? here > target : here >= target);
    const int first = block_reduce(hit ? i : 0x7fffffff, Min{}, s.redi);
    if (first != 0x7fffffff) return composite(prefix, first);
    run += double(total) * step;
  }
  return 0;
}

// Sum of mass over the tokens ranked at or above limit; the worst such rank in *worst.
__device__ double mass_above(const Args& a, FallbackShared& s, uint64_t limit, double top, uint64_t* worst) {
  double m = 0.0;
  unsigned long long lo = ~0ull;
  for (int i = threadIdx.x; i < a.n; i += blockDim.x) {
    const uint64_t c = composite(key_of(penalized(a, i)), i);
    if (c < limit) continue;
    m += mass_of(value_of_c(c), top, a.inv_t);
    lo = min(lo, (unsigned long long)c);
  }
  *worst = block_reduce(lo, Min{}, s.redu);
  return block_reduce(m, Sum{}, s.redd);
}

__global__ void __launch_bounds__(kThreads2) fallback_kernel(const Args* args) {
  pdl_wait();
  const Args& a = load_args(args);
  if (*a.flag == 0) return;
  __shared__ FallbackShared s;
  const double top = a.top_z[0];
  const int K = (a.top_k > 0 && a.top_k < a.n) ? a.top_k : a.n;
  uint64_t lim = 0, worst = 0;  // lim: the worst rank still in the set (0: all)
  double Z = a.top_z[1];
  if (K < a.n) {
    lim = select_rank(a, s, false, double(K), false, 0, top);
    Z = mass_above(a, s, lim, top, &worst);
  }
  if (a.top_p < 1.0f) {
    const uint64_t r = select_rank(a, s, true, double(a.top_p) * Z, false, lim, top);
    if (r) lim = max(lim, r);
  }
  if (a.min_p > 0.0f) {
    // prob = mass / Z, and the best token's prob is 1 / Z (its mass is exp(0)).
    const double floor = double(a.min_p) * (1.0 / Z);
    unsigned long long lo = ~0ull, best = 0;
    for (int i = threadIdx.x; i < a.n; i += blockDim.x) {
      const uint64_t c = composite(key_of(penalized(a, i)), i);
      if (c < lim) continue;
      best = max(best, (unsigned long long)c);
      if (mass_of(value_of_c(c), top, a.inv_t) / Z >= floor) lo = min(lo, (unsigned long long)c);
    }
    best = block_reduce(best, Max{}, s.redu);
    lo = block_reduce(lo, Min{}, s.redu);
    lim = max(lim, uint64_t(min(lo, best)));
  }
  const double total = mass_above(a, s, lim, top, &worst);
  const double target = double(fminf(fmaxf(a.uniform, 0.0f), 1.0f)) * total;
  uint64_t r = select_rank(a, s, true, target, true, lim, top);
  if (!r) r = worst;
  if (threadIdx.x == 0) *a.token = id_of(r);
}

__global__ void mark_kernel(uint32_t* seen, const int32_t* ids, int n, int vocab) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const int id = ids[i];
  if (id >= 0 && id < vocab) atomicOr(&seen[id >> 5], 1u << (id & 31));
}

int chunk_for(int vocab) {
  const int per = (vocab + kMaxBlocks - 1) / kMaxBlocks;
  const int c = ((per + kThreads1 - 1) / kThreads1) * kThreads1;
  return c > kChunkMin ? c : kChunkMin;
}

size_t align8(size_t x) { return (x + 7) & ~size_t(7); }

struct Layout {
  size_t cand, boundary, bmax, bsum, count, seen, ids, top_z, out, done, args, total;
};
Layout layout(int vocab) {
  const size_t blocks = size_t((vocab + chunk_for(vocab) - 1) / chunk_for(vocab));
  Layout l{};
  size_t o = 0;
  l.cand = o, o = align8(o + blocks * kCandidates * 8);
  l.boundary = o, o = align8(o + blocks * 8);
  l.bmax = o, o = align8(o + blocks * 8);
  l.bsum = o, o = align8(o + blocks * 8);
  l.top_z = o, o = align8(o + 2 * 8);
  l.count = o, o = align8(o + blocks * 4);
  l.seen = o, o = align8(o + size_t((vocab + 31) / 32) * 4);
  l.ids = o, o = align8(o + size_t(kIdBatch) * 4);
  l.out = o, o = align8(o + 2 * 4);  // [0] token, [1] fallback flag: one copy back
  l.done = o, o = align8(o + 4);
  l.args = o, o = align8(o + sizeof(Args));
  l.total = o;
  return l;
}

}  // namespace

std::size_t GpuSampler::workspace_bytes(int vocab) { return layout(vocab).total; }

GpuSampler::GpuSampler(int vocab, DeviceBuffer workspace) : vocab_(vocab) {
  if (vocab <= 0 || vocab > kMaxBlocks * (1 << 20))
    throw_error(ErrorKind::InvalidArgument, "GpuSampler: vocabulary of ", std::to_string(vocab));
  chunk_ = chunk_for(vocab);
  blocks_ = (vocab + chunk_ - 1) / chunk_;
  const Layout l = layout(vocab);
  if (workspace.get() && workspace.bytes() < l.total)
    throw_error(ErrorKind::Internal, "GpuSampler: the planned workspace holds ", std::to_string(workspace.bytes()),
                " bytes, the sampler needs ", std::to_string(l.total));
  work_ = workspace.get() ? std::move(workspace) : DeviceBuffer(l.total, "the GPU sampler's workspace");
  auto* base = work_.get<uint8_t>();
  cand_ = reinterpret_cast<uint64_t*>(base + l.cand);
  boundary_ = reinterpret_cast<uint64_t*>(base + l.boundary);
  block_max_ = reinterpret_cast<double*>(base + l.bmax);
  block_sum_ = reinterpret_cast<double*>(base + l.bsum);
  top_z_ = reinterpret_cast<double*>(base + l.top_z);
  count_ = reinterpret_cast<int*>(base + l.count);
  seen_ = reinterpret_cast<uint32_t*>(base + l.seen);
  ids_ = reinterpret_cast<int32_t*>(base + l.ids);
  token_ = reinterpret_cast<int32_t*>(base + l.out);
  flag_ = token_ + 1;
  args_ = base + l.args;
  check(cudaMemset(base, 0, l.total), "cudaMemset(GPU sampler workspace)");
  check(cudaMallocHost(&host_ids_, kIdBatch * sizeof(int32_t)), "cudaMallocHost(sampler ids)");
  check(cudaMallocHost(&host_out_, 2 * sizeof(int32_t)), "cudaMallocHost(sampler result)");
  check(cudaMallocHost(&host_args_, sizeof(Args)), "cudaMallocHost(sampler parameters)");
  new (host_args_) Args();
  check(cudaEventCreateWithFlags(&args_copied_, cudaEventDisableTiming), "cudaEventCreate(sampler)");
  check(cudaFuncSetAttribute(candidates_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, chunk_ * 4),
        "cudaFuncSetAttribute(candidates_kernel)");
}

GpuSampler::~GpuSampler() {
  if (args_copied_) {
    cudaEventSynchronize(args_copied_);  // no copy may still read the pinned block
    cudaEventDestroy(args_copied_);
  }
  if (host_ids_) cudaFreeHost(host_ids_);
  if (host_out_) cudaFreeHost(host_out_);
  if (host_args_) cudaFreeHost(host_args_);
}

void GpuSampler::sync_history(const int32_t* history, std::size_t n, cudaStream_t stream) {
  // The session's history only grows between calls; anything else rebuilds the set.
  std::size_t from = 0;
  if (!seen_stale_ && n >= synced_.size() &&
      (synced_.empty() || std::memcmp(history, synced_.data(), synced_.size() * sizeof(int32_t)) == 0)) {
    from = synced_.size();
  } else {
    check(cudaMemsetAsync(seen_, 0, size_t((vocab_ + 31) / 32) * 4, stream), "cudaMemsetAsync(sampler seen)");
    synced_.clear();
    seen_stale_ = false;
  }
  Args& a = *static_cast<Args*>(host_args_);
  a.n_new = 0;
  if (n - from <= std::size_t(kStagedIds)) {  // the usual step: the draw's own kernel marks them
    for (std::size_t i = from; i < n; ++i) a.new_ids[a.n_new++] = history[i];
  } else {
    for (std::size_t i = from; i < n; i += kIdBatch) {
      const int batch = int(std::min<std::size_t>(kIdBatch, n - i));
      // The staging buffer is reused: the previous batch's copy must have left it.
      check(cudaStreamSynchronize(stream), "GPU sampler history");
      std::memcpy(host_ids_, history + i, size_t(batch) * 4);
      check(cudaMemcpyAsync(ids_, host_ids_, size_t(batch) * 4, cudaMemcpyHostToDevice, stream),
            "cudaMemcpyAsync(sampler ids)");
      mark_kernel<<<(batch + 255) / 256, 256, 0, stream>>>(seen_, ids_, batch, vocab_);
      check_launch("sampler mark_kernel");
    }
  }
  synced_.assign(history, history + n);
}

void GpuSampler::stage(const float* logits, const GpuSamplingParams& p, const int32_t* history,
                       std::size_t n_history, float uniform, cudaStream_t stream) {
  hlwq::check_sampling_params(p, vocab_);
  // The previous draw's copy of the pinned block must have run before it is rewritten.
  check(cudaEventSynchronize(args_copied_), "GPU sampler: previous parameter copy");
  Args& a = *static_cast<Args*>(host_args_);
  const int32_t step_token = a.step_token, step_pos = a.step_pos;  // set_step_input's, if called first
  a = Args();
  a.step_token = step_token;
  a.step_pos = step_pos;
  a.logits = logits;
  a.n = (p.vocab_limit > 0 && p.vocab_limit < vocab_) ? p.vocab_limit : vocab_;
  a.vocab = vocab_;
  const bool penalties = !(p.repetition_penalty == 1.0f && p.presence_penalty == 0.0f);
  if (penalties) {
    sync_history(history, n_history, stream);  // sets n_new / new_ids
    a.seen = seen_;
    a.mark = seen_;
  }
  a.rep = p.repetition_penalty;
  a.pres = p.presence_penalty;
  a.temperature = p.temperature;
  a.top_k = p.top_k;
  a.top_p = p.top_p;
  a.min_p = p.min_p;
  a.uniform = uniform;
  a.inv_t = p.temperature > 0 ? 1.0 / double(p.temperature) : 0.0;
  a.chunk = chunk_;
  a.blocks = (a.n + chunk_ - 1) / chunk_;
  a.cand = cand_;
  a.boundary = boundary_;
  a.bmax = block_max_;
  a.bsum = block_sum_;
  a.count = count_;
  a.top_z = top_z_;
  a.flag = flag_;
  a.token = token_;
  const int K = (p.top_k > 0 && p.top_k < a.n) ? p.top_k : a.n;
  const bool small = p.temperature == 0 || K <= kCandidates;
  a.need_sums = !small;
  a.small_k = small ? K : 0;
  a.done = reinterpret_cast<unsigned*>(work_.get<uint8_t>() + layout(vocab_).done);
}

void GpuSampler::enqueue_staged(cudaStream_t stream) {
  enqueue_parameters(stream);
  enqueue_draw(stream);
}

void GpuSampler::enqueue_parameters(cudaStream_t stream) {
  check(cudaMemcpyAsync(args_, host_args_, sizeof(Args), cudaMemcpyHostToDevice, stream),
        "cudaMemcpyAsync(sampler parameters)");
  cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
  check(cudaStreamIsCapturing(stream, &capturing), "cudaStreamIsCapturing");
  if (capturing == cudaStreamCaptureStatusNone) check(cudaEventRecord(args_copied_, stream), "cudaEventRecord(sampler)");
}

void GpuSampler::enqueue_draw(cudaStream_t stream) {
  const auto* args = static_cast<const Args*>(args_);
  // Fixed launch shapes (a graph replays them): every chunk of the vocabulary gets a block,
  // and the kernels of the long path return at once when the first kernel decided.
  launch_pdl("sampler candidates_kernel", candidates_kernel, dim3(blocks_), dim3(kThreads1), size_t(chunk_) * 4,
             stream, args);
  launch_pdl("sampler decide_kernel", decide_kernel, dim3(1), dim3(kThreads2), 0, stream, args);
  launch_pdl("sampler fallback_kernel", fallback_kernel, dim3(1), dim3(kThreads2), 0, stream, args);
  check(cudaMemcpyAsync(host_out_, token_, 2 * sizeof(int32_t), cudaMemcpyDeviceToHost, stream),
        "cudaMemcpyAsync(sampled id)");
}

void GpuSampler::set_step_input(int32_t token, int pos) {
  check(cudaEventSynchronize(args_copied_), "GPU sampler: previous parameter copy");
  Args& a = *static_cast<Args*>(host_args_);
  a.step_token = token;
  a.step_pos = pos;
}

const int32_t* GpuSampler::step_token_dev() const { return &static_cast<const Args*>(args_)->step_token; }
const int* GpuSampler::step_pos_dev() const { return &static_cast<const Args*>(args_)->step_pos; }

void GpuSampler::reset_history() { seen_stale_ = true; }

int32_t GpuSampler::result() {
  fallback_ = host_out_[1] != 0;
  return host_out_[0];
}

void GpuSampler::enqueue(const float* logits, const GpuSamplingParams& p, const int32_t* history,
                         std::size_t n_history, float uniform, cudaStream_t stream) {
  stage(logits, p, history, n_history, uniform, stream);
  enqueue_staged(stream);
}

int32_t GpuSampler::sample(const float* logits, const GpuSamplingParams& p, const int32_t* history,
                           std::size_t n_history, float uniform, cudaStream_t stream) {
  enqueue(logits, p, history, n_history, uniform, stream);
  check(cudaStreamSynchronize(stream), "GPU sampler");
  return result();
}

bool GpuSampler::last_used_fallback() const { return fallback_; }

}  // namespace hlwq::cuda
