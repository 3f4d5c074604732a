#pragma once
// The GPU BlockQuantizer (engine/formats/block_quantizer.h) over the quantize_hlwq kernel.
// Rows are staged through pinned buffers in pieces, two in flight, so the host copy of one
// piece overlaps the transfer and kernel of the other. Its device memory is exactly
// planner::quantize_arena() (docs/FIT.md), allocated when it is made.
#include <memory>

#include "formats/block_quantizer.h"

namespace hlwq::cuda {

// nullptr when no CUDA GPU is visible; throws Error{Device|OutOfMemory} when one fails to start
// (OutOfMemory: the device cannot hold the quantize arena).
std::unique_ptr<BlockQuantizer> make_cuda_block_quantizer(const BlockQuantizeSpec& spec, ThreadPool& pool);

// Puts make_cuda_block_quantizer into the formats registry (quantize_registration.cpp calls it
// before main() in every program that links hlwq_cuda).
void register_cuda_block_quantizer();

}  // namespace hlwq::cuda
