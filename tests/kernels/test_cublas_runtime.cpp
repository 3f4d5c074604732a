// cuBLAS is opened at run time and the CUDA runtime linked statically (cublas_runtime.h): a
// binary built with CUDA starts where neither library is installed, and a missing cuBLAS is a
// Device error that names the file (so backend "auto" falls back to the CPU and says why).
#include <gtest/gtest.h>
#include <cublas_v2.h>
#include <link.h>

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "core/error.h"
#include "cublas_runtime.h"
#include "cuda_check.h"
#include "gpu_test_util.h"

namespace hlwq::cuda {
namespace {

std::vector<std::string> loaded_objects() {
  std::vector<std::string> names;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* out) {
        static_cast<std::vector<std::string>*>(out)->push_back(info->dlpi_name ? info->dlpi_name : "");
        return 0;
      },
      &names);
  return names;
}

bool is_loaded(const std::string& part) {
  for (const auto& n : loaded_objects())
    if (n.find(part) != std::string::npos) return true;
  return false;
}

// Runs first (gtest keeps file order): nothing in this process has called cuBLAS yet.
TEST(CublasRuntime, NeitherToolkitLibraryIsLoadedAtStart) {
  EXPECT_FALSE(is_loaded("libcudart.so")) << "the CUDA runtime must be linked statically";
  EXPECT_FALSE(is_loaded("libcublas")) << "cuBLAS must be opened on first use, not linked";
}

// In a child process, so this process can still open the real library below.
TEST(CublasRuntime, AMissingLibraryIsADeviceErrorNamingIt) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        setenv("HLWQ_CUBLAS_LIBRARY", "/nonexistent/libcublas.so.13", 1);
        cublasHandle_t h = nullptr;
        try {
          check(cublasCreate(&h), "cublasCreate");
          std::cerr << "no error\n";
          std::exit(1);
        } catch (const Error& e) {
          std::cerr << (e.kind() == ErrorKind::Device ? "Device: " : "other kind: ") << e.what() << "\n";
          std::exit(cublas_loaded() ? 3 : 0);
        }
      },
      testing::ExitedWithCode(0),
      "Device: cuBLAS: cublasCreate failed: /nonexistent/libcublas.so.13: cannot open shared object file.*"
      "HLWQ_CUBLAS_LIBRARY");
}

TEST(CublasRuntime, OpensTheToolkitLibraryOnFirstUse) {
  HLWQ_REQUIRE_GPU();
  cublasHandle_t h = nullptr;
  check(cublasCreate(&h), "cublasCreate");
  EXPECT_TRUE(cublas_loaded());
  EXPECT_EQ(cublas_load_error(), "");
  EXPECT_TRUE(is_loaded("libcublas.so"));
  EXPECT_FALSE(is_loaded("libcudart.so"));
  check(cublasDestroy(h), "cublasDestroy");
}

}  // namespace
}  // namespace hlwq::cuda
