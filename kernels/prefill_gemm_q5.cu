#include "prefill_gemm_q5.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/error.h"
#include "cuda_check.h"
#include "prefill_gemm_q5_tiles.cuh"
#include "q5_pair_table.cuh"

// Tensor cores (mma.sync m16n8k16 bf16, fp32 accumulation) with the Q5 codes decoded in
// registers, never as bf16 in memory. As in the decode GEMV (gemv_q5.cu), lane (g, t) of a
// warp decodes run t of rows g and g + 8 of a 16-row tile, two codes per lookup in a
// 1024-entry bf16x2 pair table replicated per lane (conflict-free, 128 KiB of shared memory);
// each looked-up word is one A-fragment register. So k-step S of a 128-column block multiplies
// columns 32t + 4S .. 4S + 3 (pairs 2S, 2S + 1 of the run), and the B fragment of token g is
// the 8 activation bytes at the same columns: one 16-byte shared load covers two k-steps.
// The table holds codebook / sqrt(128) rounded once; the block norm is applied to the
// accumulators, kept in units of the current block's norm (scaled by old / new norm at each
// block, by the last norm at the end), so no second set of accumulators is needed. A zero
// norm (an all-zero block) keeps the units and masks that block's fragments to zero.
// A CTA: 8 warps split 128 * MT rows (MT tiles each) and share BN = 8 * NT tokens, so each
// weight is decoded once per CTA. Per 128-column block, one barrier: the next block's
// activations arrive by cp.async (double-buffered) and its codes into registers while this
// block's mma run. Too few CTAs for the GPU (short prompts): K is split, sums added by atomics.
extern __shared__ __align__(16) unsigned char hlwq_pgemm_smem[];

namespace hlwq::cuda {
namespace {

constexpr int kThreads = 256, kRowBytes = 256;  // a token's 128 activations of one block: 256 bytes

__device__ __forceinline__ uint32_t smem_u32(const void* p) {
  return uint32_t(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void mma_bf16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

constexpr uint32_t kDirectSmemBase = 1024;          // dynamic shared memory's window address
constexpr int kPairTableBytes = kQ5PairTableBf16Bytes;

__device__ __forceinline__ uint32_t pair_lut(uint32_t off) {
  uint32_t v;
  asm("ld.shared.b32 %0, [%1+%2];" : "=r"(v) : "r"(off), "n"(kDirectSmemBase));
  return v;
}

// 16-byte chunk c (0..15) of token row `tok` of a direct-kernel activation buffer. The lanes
// of one 8-lane phase read chunks 4t + q (t = 0..3) of two tokens: bit 3 of c and bit 0 of the
// token spread them over all 8 bank groups.
__device__ __forceinline__ uint32_t act_chunk(int tok, int c) {
  return uint32_t(tok * kRowBytes + ((c ^ (((c >> 3) & 1) << 1) ^ (tok & 1)) << 4));
}

__device__ __forceinline__ uint4 lds128(uint32_t addr) {
  uint4 v;
  asm volatile("ld.shared.v4.b32 {%0,%1,%2,%3}, [%4];" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "r"(addr));
  return v;
}

template <int MT, int NT>
__global__ void __launch_bounds__(kThreads, 1) prefill_gemm_q5_kernel(PrefillGemmQ5Args a, int row_tiles,
                                                                             int tok_tiles, int blocks_per_split) {
  constexpr int BM = 8 * MT * 16, BN = NT * 8, kBBytes = BN * kRowBytes;
  unsigned char* smem = hlwq_pgemm_smem;
  uint32_t smem_addr;
  asm("mov.u32 %0, hlwq_pgemm_smem;" : "=r"(smem_addr));
  if (smem_addr != kDirectSmemBase) __trap();  // the lookups' immediate base would be wrong
  unsigned char* Bs = smem + kPairTableBytes;   // 2 x kBBytes

  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t = lane & 3;
  const uint32_t lane4 = uint32_t(lane) * 4;
  const PrefillTile tile = prefill_tile(blockIdx.x, row_tiles, tok_tiles, BM, BN);
  const int row0 = tile.row0, tok0 = tile.tok0;

  const QMatrix& w = a.w;
  const int nb = w.cols / 128, k = w.cols;
  const int kb0 = blockIdx.y * blocks_per_split, kb1 = min(nb, kb0 + blocks_per_split);

  // Rows g and g + 8 of each of this warp's tiles.
  Q5RowWalk walk[MT][2];
#pragma unroll
  for (int i = 0; i < MT; ++i)
#pragma unroll
    for (int h = 0; h < 2; ++h) walk[i][h] = q5_row_walk(w, nb, row0 + (warp * MT + i) * 16 + g + 8 * h);
  auto load_codes = [&](Q5TileCodes (&c)[MT], int b) {
#pragma unroll
    for (int i = 0; i < MT; ++i) load_q5_tile_codes(w, walk[i][0], walk[i][1], b, t, c[i]);
  };
  auto load_acts = [&](int block, int buf) {
    const uint32_t dst0 = smem_u32(Bs + buf * kBBytes);
#pragma unroll
    for (int j = 0; j < BN * 16 / kThreads; ++j) {
      const int c = tid + j * kThreads, tok = c >> 4, ch = c & 15;
      const bool valid = tok0 + tok < a.tokens;
      const __nv_bfloat16* src = valid ? a.in + (size_t(tok0 + tok) * k + block * 128 + ch * 8) : a.in;
      cp_async16(dst0 + act_chunk(tok, ch), src, valid);
    }
    asm volatile("cp.async.commit_group;");
  };

  Q5TileCodes cur[MT];
  load_codes(cur, kb0);
  load_acts(kb0, 0);
  build_q5_pair_table_bf16<kThreads>(reinterpret_cast<uint32_t*>(smem), a.codebook);

  float acc[MT][NT][4];
  float unit[MT][2];  // the norm the accumulators of rows g, g + 8 are counted in
#pragma unroll
  for (int i = 0; i < MT; ++i) {
    unit[i][0] = unit[i][1] = 1.0f;
#pragma unroll
    for (int j = 0; j < NT; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;
  }
  const uint32_t bs_base = smem_u32(Bs);

  for (int kb = kb0; kb < kb1; ++kb) {
    const int buf = (kb - kb0) & 1;
    asm volatile("cp.async.wait_group 0;" ::: "memory");
    __syncthreads();  // this block's activations (and the table) in place; the last block's reads done
    Q5TileCodes nxt[MT];
    const int next = min(kb + 1, kb1 - 1);
    if (kb + 1 < kb1) load_acts(next, buf ^ 1);
    load_codes(nxt, next);

    // Re-express the sums in this block's norms; a zero norm keeps the unit and zeroes the block.
    uint32_t keep[MT][2];
    bool any_zero = false;
#pragma unroll
    for (int i = 0; i < MT; ++i) {
      const float n[2] = {__half2float(__ushort_as_half((unsigned short)cur[i].norm0)),
                          __half2float(__ushort_as_half((unsigned short)cur[i].norm1))};
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        keep[i][h] = n[h] != 0.0f ? 0xFFFFFFFFu : 0u;
        any_zero |= n[h] == 0.0f;
        const float nn = n[h] != 0.0f ? n[h] : unit[i][h];
        const float f = unit[i][h] / nn;
        unit[i][h] = nn;
#pragma unroll
        for (int j = 0; j < NT; ++j) {
          acc[i][j][2 * h] *= f;
          acc[i][j][2 * h + 1] *= f;
        }
      }
    }
    const bool mask = __any_sync(0xFFFFFFFFu, any_zero);

    const uint32_t bs = bs_base + buf * kBBytes;
#pragma unroll
    for (int s2 = 0; s2 < 4; ++s2) {  // pairs of k-steps: one 16-byte activation load per n-tile
      uint4 bf[NT];
#pragma unroll
      for (int j = 0; j < NT; ++j) bf[j] = lds128(bs + act_chunk(j * 8 + g, 4 * t + s2));
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int S = 2 * s2 + h;
#pragma unroll
        for (int i = 0; i < MT; ++i) {
          uint32_t af[4];
#define HLWQ_PAIR(P, N, H) pair_lut(q5_pair_offset<P>(cur[i].N, cur[i].H, lane4))
          switch (S) {  // compile-time after unrolling
#define HLWQ_KSTEP(SS)                                                                       \
  case SS:                                                                                   \
    af[0] = HLWQ_PAIR(2 * SS, n0, h0);                                                       \
    af[1] = HLWQ_PAIR(2 * SS, n1, h1);                                                       \
    af[2] = HLWQ_PAIR(2 * SS + 1, n0, h0);                                                   \
    af[3] = HLWQ_PAIR(2 * SS + 1, n1, h1);                                                   \
    break;
            HLWQ_KSTEP(0) HLWQ_KSTEP(1) HLWQ_KSTEP(2) HLWQ_KSTEP(3)
            HLWQ_KSTEP(4) HLWQ_KSTEP(5) HLWQ_KSTEP(6) HLWQ_KSTEP(7)
#undef HLWQ_KSTEP
#undef HLWQ_PAIR
          }
          if (mask) {
            af[0] &= keep[i][0];
            af[2] &= keep[i][0];
            af[1] &= keep[i][1];
            af[3] &= keep[i][1];
          }
#pragma unroll
          for (int j = 0; j < NT; ++j) {
            const uint32_t b0 = h ? bf[j].z : bf[j].x, b1 = h ? bf[j].w : bf[j].y;
            mma_bf16(acc[i][j], af, b0, b1);
          }
        }
      }
    }
#pragma unroll
    for (int i = 0; i < MT; ++i) cur[i] = nxt[i];
  }

  const bool split = gridDim.y > 1;
#pragma unroll
  for (int i = 0; i < MT; ++i)
#pragma unroll
    for (int j = 0; j < NT; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e)
        store_prefill_out(a, row0 + (warp * MT + i) * 16 + g + (e >> 1) * 8, tok0 + j * 8 + 2 * t + (e & 1),
                          acc[i][j][e], unit[i][e >> 1], split);
}

template <int MT, int NT>
void launch(const PrefillGemmQ5Args& a, cudaStream_t stream) {
  auto kernel = prefill_gemm_q5_kernel<MT, NT>;
  constexpr int BM = 8 * MT * 16, BN = NT * 8;
  const int smem = kPairTableBytes + 2 * BN * kRowBytes;
  static bool configured = false;
  if (!configured) {
    check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem),
          "cudaFuncSetAttribute(prefill_gemm_q5 shared memory)");
    configured = true;
  }
  const int row_tiles = (a.w.rows + BM - 1) / BM, tok_tiles = (a.tokens + BN - 1) / BN, ctas = row_tiles * tok_tiles;
  const PrefillSplitK k = prefill_split_k(a, ctas, "cudaMemset2DAsync(prefill_gemm_q5 split-K output)", stream);
  kernel<<<dim3(unsigned(ctas), unsigned(k.splits)), kThreads, smem, stream>>>(a, row_tiles, tok_tiles,
                                                                              k.blocks_per_split);
  check_launch("prefill_gemm_q5");
}

// HLWQ_PREFILL_GEMM_TILE=MTxNT (2x4 or 2x8) fixes the direct kernel's tile shape.
int direct_config() {
  static const int v = [] {
    const char* e = std::getenv("HLWQ_PREFILL_GEMM_TILE");
    if (!e || std::strlen(e) != 3 || e[1] != 'x') return 0;
    return (e[0] - '0') * 10 + (e[2] - '0');
  }();
  return v;
}

}  // namespace

void prefill_gemm_q5(const PrefillGemmQ5Args& a, cudaStream_t stream) {
  const QMatrix& w = a.w;
  if (w.bits != 5)
    throw_error(ErrorKind::InvalidArgument, "prefill_gemm_q5: takes 5-bit codes, got ", std::to_string(w.bits), "-bit");
  if (a.tokens <= 0 || w.rows <= 0 || w.cols <= 0 || w.cols % 128 != 0 || a.ldo < w.rows)
    throw_error(ErrorKind::InvalidArgument, "prefill_gemm_q5: tokens ", std::to_string(a.tokens), ", matrix ",
                std::to_string(w.rows), "x", std::to_string(w.cols), ", ldo ", std::to_string(a.ldo));
  if (w.row0 < 0 || w.row0 + w.rows > w.stored_rows ||
      (long long)w.stored_rows * (w.cols / 128) * 4 >= (1ll << 32))
    throw_error(ErrorKind::InvalidArgument, "prefill_gemm_q5: row view ", std::to_string(w.row0), "+",
                std::to_string(w.rows), " of ", std::to_string(w.stored_rows), " rows x ", std::to_string(w.cols));
  switch (direct_config()) {  // an explicit tile shape (A/B timing)
    case 24: return launch<2, 4>(a, stream);
    case 28: return launch<2, 8>(a, stream);
    default: break;
  }
  if (a.tokens <= 32) return launch<2, 4>(a, stream);
  launch<2, 8>(a, stream);
}

}  // namespace hlwq::cuda
