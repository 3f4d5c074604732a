// The on-chip Q5 prefill GEMM on Hopper's warpgroup MMA (wgmma, sm_90a). The same register
// decode as prefill_gemm_q5.cu (lane (g, t) looks up run t of rows g and g + 8 in the per-lane
// bf16x2 pair table, each word one A-fragment register; the block norm applied to the
// accumulators in units of the current block's norm), but each warpgroup multiplies its 64 rows
// by 128 tokens per k-step in one asynchronous wgmma with B (the activations) read by the
// tensor cores straight from shared memory, and decodes the next block's A fragments while
// those run. The k-step order the decode implies (k-step S takes columns 32t + 4S .. 4S + 3
// for t = 0..3) is applied to the activations once per call (permute_kernel), so B is a plain
// K-major tile: cp.async'd into the 128-byte swizzle the wgmma descriptor names.
// Built for sm_90a only (wgmma); wgmma_available() says whether this build and device run it.
#include <cuda_bf16.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#include "core/error.h"
#include "cuda_check.h"
#include "prefill_gemm_q5_tiles.cuh"
#include "prefill_gemm_q5_wgmma.h"
#include "q5_pair_table.cuh"

extern __shared__ __align__(1024) unsigned char hlwq_pgemm_wg_smem[];

namespace hlwq::cuda {
namespace {

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define HLWQ_WGMMA 1
#endif

constexpr int kThreads = 256;                 // two warpgroups of 64 rows each
constexpr int kBM = 128, kBN = 128;           // rows x tokens per CTA
constexpr int kHalfBytes = kBN * 128;         // 64 columns of 128 tokens, bf16
constexpr int kBBytes = 2 * kHalfBytes;       // one 128-column block
constexpr int kPairTableBytes = kQ5PairTableBf16Bytes;

// Which of this file's two builds the device loaded: a module variable, so the probe
// allocates nothing outside the VRAM plan.
__device__ int wgmma_probe_result;
__global__ void probe_kernel() {
#ifdef HLWQ_WGMMA
  wgmma_probe_result = 1;
#else
  wgmma_probe_result = 0;
#endif
}

// out[t][b*128 + 4m + u] (bf16 pairs) = in[t][b*128 + 16u + m]: logical pair 4m + u of a block
// is column pair u*16 + m, i.e. k-step S = m / 2 reads pairs (m % 2) of runs u = 0..3.
__global__ void permute_kernel(const uint32_t* in, uint4* out, size_t chunks) {
  const size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  if (i >= chunks) return;
  const size_t block = i / 16;
  const int m = int(i % 16);
  const uint32_t* src = in + block * 64 + m;
  out[i] = make_uint4(src[0], src[16], src[32], src[48]);
}

#ifdef HLWQ_WGMMA
constexpr uint32_t kSmemBase = 1024;  // dynamic shared memory's window address

__device__ __forceinline__ uint32_t pair_lut(uint32_t off) {
  uint32_t v;
  asm volatile("ld.shared.b32 %0, [%1+%2];" : "=r"(v) : "r"(off), "n"(kSmemBase));
  return v;
}

// The block's 8 k-steps of A fragments (rows g, g + 8), zeroed for a zero-norm row.
__device__ __forceinline__ void decode(const Q5TileCodes& c, uint32_t lane4, uint32_t (&a)[8][4]) {
  const uint32_t k0 = (c.norm0 & 0x7FFFu) ? 0xFFFFFFFFu : 0u, k1 = (c.norm1 & 0x7FFFu) ? 0xFFFFFFFFu : 0u;
#define HLWQ_KSTEP(S)                                              \
  a[S][0] = pair_lut(q5_pair_offset<2 * S>(c.n0, c.h0, lane4)) & k0;     \
  a[S][1] = pair_lut(q5_pair_offset<2 * S>(c.n1, c.h1, lane4)) & k1;     \
  a[S][2] = pair_lut(q5_pair_offset<2 * S + 1>(c.n0, c.h0, lane4)) & k0; \
  a[S][3] = pair_lut(q5_pair_offset<2 * S + 1>(c.n1, c.h1, lane4)) & k1;
  HLWQ_KSTEP(0) HLWQ_KSTEP(1) HLWQ_KSTEP(2) HLWQ_KSTEP(3) HLWQ_KSTEP(4) HLWQ_KSTEP(5) HLWQ_KSTEP(6) HLWQ_KSTEP(7)
#undef HLWQ_KSTEP
}

// Shared-memory matrix descriptor: K-major, 128-byte swizzle, 8-row groups 1024 bytes apart.
__device__ __forceinline__ uint64_t b_desc(uint32_t addr) {
  return uint64_t((addr & 0x3FFFF) >> 4) | (uint64_t(1) << 16) | (uint64_t(1024 >> 4) << 32) | (uint64_t(1) << 62);
}

// D[64 x 128] += A[64 x 16] (registers: this warp's 16 rows, the mma.m16n8k16 A layout) x
// B[16 x 128] (shared memory, K-major, 128-byte swizzle, described by `desc`).
__device__ __forceinline__ void wgmma_m64n128k16(float (&d)[64], const uint32_t (&a)[4], uint64_t desc) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, "
      "{%64, %65, %66, %67}, %68, p, 1, 1, 0;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc), "r"(1));
}


__global__ void __launch_bounds__(kThreads, 1) gemm_kernel(PrefillGemmQ5Args a, const __nv_bfloat16* xp, int row_tiles,
                                                           int tok_tiles, int blocks_per_split) {
  unsigned char* smem = hlwq_pgemm_wg_smem;
  uint32_t smem_addr;
  asm("mov.u32 %0, hlwq_pgemm_wg_smem;" : "=r"(smem_addr));
  if (smem_addr != kSmemBase) __trap();  // the lookups' immediate base would be wrong
  const uint32_t bs0 = smem_addr + kPairTableBytes;  // 2 x kBBytes, 1024-aligned

  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t = lane & 3;
  const uint32_t lane4 = uint32_t(lane) * 4;
  const PrefillTile tile = prefill_tile(blockIdx.x, row_tiles, tok_tiles, kBM, kBN);
  const int row0 = tile.row0, tok0 = tile.tok0;

  const QMatrix& w = a.w;
  const int nb = w.cols / 128, k = w.cols;
  const int kb0 = blockIdx.y * blocks_per_split, kb1 = min(nb, kb0 + blocks_per_split);

  // This warp's 16-row tile (warp 4h + v: rows 64h + 16v of the CTA, the warpgroup layout).
  const Q5RowWalk walk0 = q5_row_walk(w, nb, row0 + warp * 16 + g), walk1 = q5_row_walk(w, nb, row0 + warp * 16 + g + 8);
  auto load_codes = [&](Q5TileCodes& c, int b) { load_q5_tile_codes(w, walk0, walk1, b, t, c); };
  // Token row r of a half: 128 bytes, 16-byte chunk c at (c ^ (r & 7)) (the 128-byte swizzle).
  auto load_acts = [&](int block, int buf) {
#pragma unroll
    for (int j = 0; j < kBN * 16 / kThreads; ++j) {
      const int c = tid + j * kThreads, tok = c >> 4, ch = c & 15, half = ch >> 3, cc = ch & 7;
      const bool valid = tok0 + tok < a.tokens;
      const __nv_bfloat16* src = valid ? xp + (size_t(tok0 + tok) * k + block * 128 + ch * 8) : xp;
      cp_async16(bs0 + buf * kBBytes + half * kHalfBytes + tok * 128 + ((cc ^ (tok & 7)) << 4), src, valid);
    }
    asm volatile("cp.async.commit_group;");
  };

  // Codes run two blocks ahead: block kb + 2's load is in flight while block kb + 1 (loaded
  // during block kb - 1) is decoded under block kb's wgmmas.
  Q5TileCodes c1, c2;
  load_codes(c2, kb0);
  if (kb0 + 1 < kb1) load_codes(c1, kb0 + 1);
  load_acts(kb0, 0);
  build_q5_pair_table_bf16<kThreads>(reinterpret_cast<uint32_t*>(smem), a.codebook);
  __syncthreads();  // the table
  uint32_t af[2][8][4];
  decode(c2, lane4, af[0]);
  uint32_t nk[2] = {c2.norm0, c2.norm1};  // block kb's norms (fp16 bits)

  float acc[64];
#pragma unroll
  for (int i = 0; i < 64; ++i) acc[i] = 0.0f;
  float unit[2] = {1.0f, 1.0f};

  auto step = [&](int kb, uint32_t (&A)[8][4], uint32_t (&An)[8][4]) {
    const int buf = (kb - kb0) & 1;
    asm volatile("cp.async.wait_group 0;" ::: "memory");
    asm volatile("fence.proxy.async.shared::cta;" ::: "memory");  // cp.async data -> wgmma reads
    __syncthreads();  // B of this block in place; the last block's wgmmas are done (waited below)
    if (kb + 1 < kb1) load_acts(kb + 1, buf ^ 1);
    if (kb + 2 < kb1) load_codes(c2, kb + 2);
    // Sums re-expressed in this block's norms (a zero norm keeps the unit; decode masked it).
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const float n = __half2float(__ushort_as_half((unsigned short)nk[h]));
      const float nn = n != 0.0f ? n : unit[h];
      const float f = unit[h] / nn;
      unit[h] = nn;
#pragma unroll
      for (int j = 0; j < 16; ++j) {
        acc[4 * j + 2 * h] *= f;
        acc[4 * j + 2 * h + 1] *= f;
      }
    }
    asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
    const uint32_t bb = bs0 + buf * kBBytes;
#pragma unroll
    for (int s = 0; s < 8; ++s) wgmma_m64n128k16(acc, A[s], b_desc(bb + (s >> 2) * kHalfBytes + (s & 3) * 32));
    asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
    if (kb + 1 < kb1) {  // while the tensor cores run
      decode(c1, lane4, An);
      nk[0] = c1.norm0;
      nk[1] = c1.norm1;
      c1 = c2;
    }
    asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory");
  };
  int kb = kb0;
  for (; kb + 1 < kb1; kb += 2) {
    step(kb, af[0], af[1]);
    step(kb + 1, af[1], af[0]);
  }
  if (kb < kb1) step(kb, af[0], af[1]);

  const bool split = gridDim.y > 1;
#pragma unroll
  for (int j = 0; j < 16; ++j)
#pragma unroll
    for (int e = 0; e < 4; ++e)
      store_prefill_out(a, row0 + warp * 16 + g + (e >> 1) * 8, tok0 + j * 8 + 2 * t + (e & 1),
                        acc[4 * j + e], unit[e >> 1], split);
}

#else
__global__ void gemm_kernel(PrefillGemmQ5Args, const __nv_bfloat16*, int, int, int) { __trap(); }
#endif

}  // namespace

bool wgmma_available() {
  static const bool v = [] {
    const char* e = std::getenv("HLWQ_PREFILL_WGMMA");  // =0: the mma.sync kernel (A/B timing)
    if (e && std::string(e) == "0") return false;
    int dev = 0, major = 0;
    if (cudaGetDevice(&dev) != cudaSuccess) return false;
    cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev);
    if (major != 9) return false;
    int h = 0;
    probe_kernel<<<1, 1>>>();
    check_launch("wgmma probe");
    check(cudaMemcpyFromSymbol(&h, wgmma_probe_result, sizeof(int)), "cudaMemcpyFromSymbol(wgmma probe)");
    return h == 1;
  }();
  return v;
}

std::size_t prefill_gemm_q5_wgmma_scratch_elems(int tokens, int cols) { return std::size_t(tokens) * cols; }

void prefill_gemm_q5_wgmma(const PrefillGemmQ5Args& a, __nv_bfloat16* scratch, std::size_t scratch_elems,
                           cudaStream_t stream) {
  const QMatrix& w = a.w;
  if (w.bits != 5)
    throw_error(ErrorKind::InvalidArgument, "prefill_gemm_q5_wgmma: takes 5-bit codes, got ", std::to_string(w.bits), "-bit");
  if (a.tokens <= 0 || w.rows <= 0 || w.cols <= 0 || w.cols % 128 != 0 || a.ldo < w.rows ||
      scratch_elems < std::size_t(w.cols))
    throw_error(ErrorKind::InvalidArgument, "prefill_gemm_q5_wgmma: tokens ", std::to_string(a.tokens), ", matrix ",
                std::to_string(w.rows), "x", std::to_string(w.cols), ", ldo ", std::to_string(a.ldo), ", scratch ",
                std::to_string(scratch_elems));
  if (w.row0 < 0 || w.row0 + w.rows > w.stored_rows || (long long)w.stored_rows * (w.cols / 128) * 4 >= (1ll << 32))
    throw_error(ErrorKind::InvalidArgument, "prefill_gemm_q5_wgmma: row view ", std::to_string(w.row0), "+",
                std::to_string(w.rows), " of ", std::to_string(w.stored_rows), " rows x ", std::to_string(w.cols));
  auto kernel = gemm_kernel;
  const int smem = kPairTableBytes + 2 * kBBytes;
  static bool configured = false;
  if (!configured) {
    check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem),
          "cudaFuncSetAttribute(prefill_gemm_q5_wgmma shared memory)");
    configured = true;
  }
  // Tokens in passes that fit the scratch (the permuted activations).
  const int pass = int(std::min<std::size_t>(std::size_t(a.tokens), scratch_elems / w.cols));
  for (int t0 = 0; t0 < a.tokens; t0 += pass) {
    const int T = std::min(pass, a.tokens - t0);
    const size_t chunks = size_t(T) * w.cols / 8;
    permute_kernel<<<unsigned((chunks + 255) / 256), 256, 0, stream>>>(
        reinterpret_cast<const uint32_t*>(a.in + size_t(t0) * w.cols), reinterpret_cast<uint4*>(scratch), chunks);
    check_launch("prefill_gemm_q5_wgmma (permute)");
    PrefillGemmQ5Args p = a;
    p.tokens = T;
    p.out = a.out + size_t(t0) * a.ldo;
    const int row_tiles = (w.rows + kBM - 1) / kBM, tok_tiles = (T + kBN - 1) / kBN, ctas = row_tiles * tok_tiles;
    const PrefillSplitK k = prefill_split_k(p, ctas, "cudaMemset2DAsync(prefill_gemm_q5_wgmma split-K output)", stream);
    kernel<<<dim3(unsigned(ctas), unsigned(k.splits)), kThreads, smem, stream>>>(p, scratch, row_tiles, tok_tiles,
                                                                               k.blocks_per_split);
    check_launch("prefill_gemm_q5_wgmma");
  }
}

}  // namespace hlwq::cuda
