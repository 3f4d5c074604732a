#include "cuda_check.h"

#include <dlfcn.h>

#include "cublas_runtime.h"

#include "core/error.h"

namespace hlwq::cuda {
namespace {

constexpr const char* kDriverLibrary = "libcuda.so.1";

bool driver_installed() {
  void* lib = dlopen(kDriverLibrary, RTLD_LAZY | RTLD_LOCAL);
  if (lib) dlclose(lib);
  return lib != nullptr;
}

}  // namespace

void check(cudaError_t status, const char* what) {
  if (status == cudaSuccess) return;
  cudaGetLastError();  // clear a sticky-free error so the next call starts clean
  const std::string msg = std::string("CUDA: ") + what + " failed: " + cudaGetErrorName(status) + " (" +
                          cudaGetErrorString(status) + ")";
  if (status == cudaErrorMemoryAllocation) throw Error(ErrorKind::OutOfMemory, msg);
  if (status == cudaErrorInsufficientDriver) {
    // The static runtime reports a missing driver library the same way as an old driver.
    if (!driver_installed())
      throw Error(ErrorKind::Device, std::string("CUDA: no NVIDIA driver is installed (") + kDriverLibrary + " not found)");
    throw Error(ErrorKind::Device, msg + ": the NVIDIA driver is older than the CUDA runtime this build needs");
  }
  if (status == cudaErrorNoDevice) throw Error(ErrorKind::Device, msg + ": no CUDA GPU is visible");
  throw Error(ErrorKind::Device, msg);
}

void check(cublasStatus_t status, const char* what) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  if (!cublas_loaded()) throw Error(ErrorKind::Device, std::string("cuBLAS: ") + what + " failed: " + cublas_load_error());
  const std::string msg = std::string("cuBLAS: ") + what + " failed: " + cublasGetStatusName(status);
  if (status == CUBLAS_STATUS_ALLOC_FAILED) throw Error(ErrorKind::OutOfMemory, msg);
  throw Error(ErrorKind::Device, msg);
}

void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

int device_count_or_zero() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

void require_device() {
  int n = 0;
  check(cudaGetDeviceCount(&n), "cudaGetDeviceCount");
  if (n == 0) throw Error(ErrorKind::Device, "CUDA: no CUDA GPU is visible");
}

namespace {
int current_device_attribute(cudaDeviceAttr attr, const char* what) {
  int dev = 0, n = 0;
  check(cudaGetDevice(&dev), "cudaGetDevice");
  check(cudaDeviceGetAttribute(&n, attr, dev), what);
  return n;
}
}  // namespace

int device_sms() {
  static const int n = current_device_attribute(cudaDevAttrMultiProcessorCount, "cudaDeviceGetAttribute(SM count)");
  return n;
}

int device_smem_optin() {
  static const int n = current_device_attribute(cudaDevAttrMaxSharedMemoryPerBlockOptin,
                                                "cudaDeviceGetAttribute(shared memory per block)");
  return n;
}

}  // namespace hlwq::cuda
