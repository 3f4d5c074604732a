#pragma once
// One Q5 Linear over a chunk of T rows (prefill), by whichever of two paths is faster for
// the shape (prefill_gemm_path, measured): the codes decoded on chip inside a tensor-core
// GEMM (prefill_gemm_q5.h), or expanded to bf16 in the rotated domain (q5_dequant.h) a row
// slice at a time into a bounded scratch and multiplied by cuBLAS. Both take the already
// rotated bf16 activations, accumulate in fp32 and store or add (the residual) an fp32 result.
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>

#include "q5_matrix.h"

namespace hlwq::cuda {

// OnChip: the codes decoded on chip (prefill_gemm_q5_wgmma.h on Hopper, else
// prefill_gemm_q5.h); OnChipMmaSync: the mma.sync kernel even where the wgmma one runs
// (A/B timing). DequantCublas: expand a slice into the scratch, multiply it, in turn.
enum class PrefillGemmPath { Auto, OnChip, OnChipMmaSync, DequantCublas };
// The path Auto takes for T tokens through a rows x cols matrix (HLWQ_PREFILL_GEMM=onchip,
// mma or cublas in the environment forces one, for A/B timing).
PrefillGemmPath prefill_gemm_path(int tokens, int rows, int cols);

struct PrefillLinearArgs {
  Q5Matrix w;                          // [n][k]
  const float* codebook = nullptr;     // device, 32 centroids
  const __nv_bfloat16* in = nullptr;   // [tokens][k], rotated per 128-chunk
  int tokens = 0;
  float* out = nullptr;                // [tokens][ldo], columns 0..n-1 written
  int ldo = 0;
  bool accumulate = false;             // out += y instead of out = y
  __nv_bfloat16* scratch = nullptr;    // expanded weight rows
  std::size_t scratch_elems = 0;       // at least w.cols (one row); more rows = fewer GEMMs
  PrefillGemmPath path = PrefillGemmPath::Auto;
};

void prefill_linear(cublasHandle_t handle, const PrefillLinearArgs& args, cudaStream_t stream);

// Weight scratch (elements): the largest matrix, capped at `cap` but never below one row of
// the widest one. The formula the VRAM planner reproduces.
std::size_t prefill_weight_scratch_elems(std::size_t largest_matrix_elems, std::size_t max_cols, std::size_t cap);

}  // namespace hlwq::cuda
