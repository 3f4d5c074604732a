#pragma once
// cuBLAS is opened when first used (cublas_runtime.cpp), not linked: a build with CUDA starts
// on a machine that has no CUDA toolkit or no GPU, and falls back to the CPU saying why.
#include <string>

namespace hlwq::cuda {

// True once libcublas is open with every entry point the backend calls; false when it could
// not be opened (the first call tries, once per process).
bool cublas_loaded();
// Why it could not be opened (the library tried, the loader's message, what to install);
// empty when it is loaded.
const std::string& cublas_load_error();

}  // namespace hlwq::cuda
