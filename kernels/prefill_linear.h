#pragma once
// One HLWQ Linear over a chunk of T rows (prefill), by whichever of two paths is faster for
// the shape (prefill_gemm_path, measured): the codes decoded on chip inside a tensor-core
// GEMM (prefill_gemm_q5.h, Q5 only), or expanded to bf16 in the rotated domain (q_dequant.h,
// any width) a row slice at a time into a bounded scratch and multiplied by cuBLAS. Both take the already
// rotated bf16 activations, accumulate in fp32 and store or add (the residual) an fp32 result.
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>

#include "prefill_gemm_q5.h"
#include "q_matrix.h"

namespace hlwq::cuda {

// OnChip: the codes decoded on chip (prefill_gemm_q5_wgmma.h on Hopper, else
// prefill_gemm_q5.h); OnChipMmaSync: the mma.sync kernel even where the wgmma one runs
// (A/B timing). DequantCublas: expand a slice into the scratch, multiply it, in turn.
// Gemv: the decode GEMV (gemv.h, any width, whole matrices; otherwise the path Auto would take
// without it), one pass over the codes per 8 tokens (kGemvMaxTokens).
enum class PrefillGemmPath { Auto, OnChip, OnChipMmaSync, DequantCublas, Gemv };
// The path Auto takes for T tokens through a rows x cols matrix of `bits`-wide codes
// (HLWQ_PREFILL_GEMM=onchip, mma, cublas or gemv in the environment forces one, for A/B timing).
PrefillGemmPath prefill_gemm_path(int tokens, int rows, int cols, int bits = 5);

// The GEMM's operands (prefill_gemm_q5.h) plus what the expansion path needs.
struct PrefillLinearArgs : PrefillGemmQ5Args {
  __nv_bfloat16* scratch = nullptr;    // expanded weight rows
  std::size_t scratch_elems = 0;       // at least w.cols (one row); more rows = fewer GEMMs
  PrefillGemmPath path = PrefillGemmPath::Auto;  // Q4/Q3 matrices: the GEMV if asked (and it fits), else expand
};

void prefill_linear(cublasHandle_t handle, const PrefillLinearArgs& args, cudaStream_t stream);

// Weight scratch (elements): the largest matrix, capped at `cap` but never below one row of
// the widest one. The formula the VRAM planner reproduces.
std::size_t prefill_weight_scratch_elems(std::size_t largest_matrix_elems, std::size_t max_cols, std::size_t cap);

}  // namespace hlwq::cuda
