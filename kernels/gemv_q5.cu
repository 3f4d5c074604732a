// The GEMV kernels (gemv_kernel.cuh) for 5-bit codes, one file per width so they compile apart.
#include "gemv_kernel.cuh"

namespace hlwq::cuda::gemv_detail {
template void launch_width<5>(const Launch& l, cudaStream_t stream);
}  // namespace hlwq::cuda::gemv_detail
