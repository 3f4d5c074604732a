#pragma once
// The CUDA implementation of ModelBackend (engine/models/backend.h): a Qwen35Gpu plus the
// bookkeeping the interface asks for (position, snapshot, KV width changes).
#include <memory>

#include "models/backend.h"

namespace hlwq::cuda {

// Throws Error{Device} without a usable GPU, Error{OutOfMemory} when the model does not fit,
// Error{UnsupportedArch} for weights the kernels do not take.
std::unique_ptr<ModelBackend> make_cuda_backend(const ModelSource& source, const BackendOptions& options);

// Rows per prefill chunk of a CUDA backend (default 512; the VRAM plan's prefill_chunk).
// Error{InvalidArgument} for another backend or rows < 1.
void set_prefill_chunk(ModelBackend& backend, int rows);

// Whether decode_and_sample runs the GPU sampler inside the step's graph (default) or launches
// it after the graph (the earlier path, for A/B timing and tests). Error{InvalidArgument} for
// another backend.
void set_sampler_in_graph(ModelBackend& backend, bool on);

// Adds BackendKind::Cuda to the backend registry (idempotent). Every binary that links
// hlwq_cuda calls it at start-up (cuda_backend_registration.cpp).
void register_cuda_backend();

}  // namespace hlwq::cuda
