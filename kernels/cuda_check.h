#pragma once
// Turns CUDA and cuBLAS failures into hlwq::Error: out of memory -> ErrorKind::OutOfMemory,
// everything else (no device, old driver, launch failure) -> ErrorKind::Device, with the call
// that failed named in the message.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <string>

namespace hlwq::cuda {

void check(cudaError_t status, const char* what);
void check(cublasStatus_t status, const char* what);
// After a kernel launch: the launch error (bad configuration) now, execution errors later.
void check_launch(const char* kernel);

// Number of usable devices; 0 when there is none or the driver is missing/too old.
int device_count_or_zero();
// Throws Error{Device} naming the reason when no usable GPU is present.
void require_device();

// Attributes of the current device, read once per process (the backend uses one device):
// the SM count that sizes persistent grids and the opt-in shared memory per block.
int device_sms();
int device_smem_optin();

}  // namespace hlwq::cuda

#define HLWQ_CUDA_CHECK(call) ::hlwq::cuda::check((call), #call)
