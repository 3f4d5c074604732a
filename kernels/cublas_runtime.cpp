// The six cuBLAS entry points the backend calls, defined here and forwarded to libcublas opened
// with dlopen on first use (cublas_v2.h maps cublasCreate etc. to these _v2 names). Linking
// libcublas instead would make every binary built with CUDA fail to start where the toolkit's
// 700 MB of cuBLAS is not installed, even on the CPU. HLWQ_CUBLAS_LIBRARY names another file.
#include "cublas_runtime.h"

#include <cublas_v2.h>
#include <dlfcn.h>

#include <cstdlib>
#include <string>

namespace hlwq::cuda {
namespace {

#define HLWQ_STR2(x) #x
#define HLWQ_STR(x) HLWQ_STR2(x)
// The soname of the cuBLAS this build was compiled against: its ABI is the one we call.
constexpr const char* kSoname = "libcublas.so." HLWQ_STR(CUBLAS_VER_MAJOR);

// cublasGemmEx has a C++ overload (the old cudaDataType compute type): its type is spelled out.
using GemmEx = cublasStatus_t (*)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const void*,
                                  const void*, cudaDataType, int, const void*, cudaDataType, int, const void*, void*,
                                  cudaDataType, int, cublasComputeType_t, cublasGemmAlgo_t);

struct Cublas {
  void* lib = nullptr;
  std::string error;
  decltype(&cublasCreate_v2) create = nullptr;
  decltype(&cublasDestroy_v2) destroy = nullptr;
  decltype(&cublasSetStream_v2) set_stream = nullptr;
  decltype(&cublasSetWorkspace_v2) set_workspace = nullptr;
  GemmEx gemm_ex = nullptr;
  decltype(&cublasGetStatusName) status_name = nullptr;
};

template <typename F>
bool resolve(Cublas& c, F& fn, const char* name) {
  fn = reinterpret_cast<F>(dlsym(c.lib, name));
  if (!fn) c.error = std::string(kSoname) + " has no " + name + ": a cuBLAS older than this build's";
  return fn != nullptr;
}

Cublas open_cublas() {
  Cublas c;
  const char* env = std::getenv("HLWQ_CUBLAS_LIBRARY");
  std::string tried;
  // The loader's search path first (LD_LIBRARY_PATH, ld.so.cache), then where the CUDA
  // toolkit installs itself without registering its folder.
  const std::string candidates[] = {env && *env ? env : kSoname, std::string("/usr/local/cuda/lib64/") + kSoname};
  for (const std::string& path : candidates) {
    if ((c.lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL))) break;
    const char* why = dlerror();
    if (tried.empty()) tried = why ? why : path + ": cannot be opened";
    if (env && *env) break;  // an explicit choice is not second-guessed
  }
  if (!c.lib) {
    c.error = tried + " (cuBLAS " HLWQ_STR(CUBLAS_VER_MAJOR) " from the CUDA toolkit is needed for the GPU; set " +
              "HLWQ_CUBLAS_LIBRARY to its path if it is installed elsewhere)";
    return c;
  }
  if (!(resolve(c, c.create, "cublasCreate_v2") && resolve(c, c.destroy, "cublasDestroy_v2") &&
        resolve(c, c.set_stream, "cublasSetStream_v2") && resolve(c, c.set_workspace, "cublasSetWorkspace_v2") &&
        resolve(c, c.gemm_ex, "cublasGemmEx") && resolve(c, c.status_name, "cublasGetStatusName"))) {
    dlclose(c.lib);
    c.lib = nullptr;
  }
  return c;
}

const Cublas& cublas() {
  static const Cublas c = open_cublas();
  return c;
}

}  // namespace

bool cublas_loaded() { return cublas().lib != nullptr; }
const std::string& cublas_load_error() { return cublas().error; }

}  // namespace hlwq::cuda

using hlwq::cuda::cublas;

extern "C" {

cublasStatus_t CUBLASWINAPI cublasCreate_v2(cublasHandle_t* handle) {
  return cublas().lib ? cublas().create(handle) : CUBLAS_STATUS_NOT_INITIALIZED;
}

cublasStatus_t CUBLASWINAPI cublasDestroy_v2(cublasHandle_t handle) {
  return cublas().lib ? cublas().destroy(handle) : CUBLAS_STATUS_NOT_INITIALIZED;
}

cublasStatus_t CUBLASWINAPI cublasSetStream_v2(cublasHandle_t handle, cudaStream_t stream) {
  return cublas().lib ? cublas().set_stream(handle, stream) : CUBLAS_STATUS_NOT_INITIALIZED;
}

cublasStatus_t CUBLASWINAPI cublasSetWorkspace_v2(cublasHandle_t handle, void* workspace, size_t bytes) {
  return cublas().lib ? cublas().set_workspace(handle, workspace, bytes) : CUBLAS_STATUS_NOT_INITIALIZED;
}

cublasStatus_t CUBLASWINAPI cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                                         int m, int n, int k, const void* alpha, const void* A, cudaDataType Atype,
                                         int lda, const void* B, cudaDataType Btype, int ldb, const void* beta,
                                         void* C, cudaDataType Ctype, int ldc, cublasComputeType_t computeType,
                                         cublasGemmAlgo_t algo) {
  if (!cublas().lib) return CUBLAS_STATUS_NOT_INITIALIZED;
  return cublas().gemm_ex(handle, transa, transb, m, n, k, alpha, A, Atype, lda, B, Btype, ldb, beta, C, Ctype, ldc,
                          computeType, algo);
}

const char* CUBLASWINAPI cublasGetStatusName(cublasStatus_t status) {
  if (cublas().lib) return cublas().status_name(status);
  return status == CUBLAS_STATUS_SUCCESS ? "CUBLAS_STATUS_SUCCESS" : "CUBLAS_STATUS_NOT_INITIALIZED";
}

}  // extern "C"
