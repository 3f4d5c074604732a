// make_backend(Auto): a GPU backend that cannot start leaves the model on the CPU and says why;
// errors that are not about the device still surface.
#include <gtest/gtest.h>

#include <string>
#include <utility>

#include "core/error.h"
#include "fixture_model.h"
#include "models/backend.h"

namespace hlwq {
namespace {

// The CUDA kind is not linked into this test: each test registers a stand-in that fails the way
// the real one does (cuBLAS missing: Error{Device}; a bad model: another kind).
void register_failing_gpu(ErrorKind kind, const std::string& message) {
  register_backend(BackendKind::Cuda, [kind, message](const ModelSource&, const BackendOptions&) -> std::unique_ptr<ModelBackend> {
    throw Error(kind, message);
  });
}

BackendOptions small_context() {
  BackendOptions o;
  o.context_length = 64;
  o.threads = 1;
  return o;
}

// What a GPU that cannot take the model raises: cuBLAS missing (Device), too little memory
// (OutOfMemory), kernels that need head_dim 256 where the bundled 19M demo model has 64
// (UnsupportedArch). Each leaves the model on the CPU, with the message as the reason.
TEST(BackendRegistry, AutoFallsBackToTheCpuAndSaysWhy) {
  const std::pair<ErrorKind, std::string> cases[] = {
      {ErrorKind::Device, "cuBLAS: cublasCreate failed: libcublas.so.13: cannot open shared object file"},
      {ErrorKind::OutOfMemory, "the plan needs 17.0 GB, the GPU has 8.0 GB free"},
      {ErrorKind::UnsupportedArch, "the CUDA kernels need head_dim 256"},
  };
  const ModelSource src = test::load_fixture("tied08b");
  for (const auto& [kind, why] : cases) {
    register_failing_gpu(kind, why);
    std::string gpu_unused = "stale";
    auto backend = make_backend(BackendKind::Auto, src, small_context(), &gpu_unused);
    ASSERT_TRUE(backend);
    EXPECT_EQ(backend->name(), "CPU") << why;
    EXPECT_EQ(gpu_unused, why);
  }
}

TEST(BackendRegistry, AutoSurfacesErrorsThatAreNotAboutTheDevice) {
  register_failing_gpu(ErrorKind::CorruptFile, "model.safetensors: truncated");
  std::string gpu_unused;
  try {
    make_backend(BackendKind::Auto, test::load_fixture("tied08b"), small_context(), &gpu_unused);
    FAIL() << "a corrupt model must not be hidden by the CPU fallback";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::CorruptFile);
  }
  EXPECT_EQ(gpu_unused, "");
}

TEST(BackendRegistry, AnExplicitGpuChoiceDoesNotFallBack) {
  register_failing_gpu(ErrorKind::Device, "CUDA: no CUDA GPU is visible");
  try {
    make_backend(BackendKind::Cuda, test::load_fixture("tied08b"), small_context());
    FAIL() << "--backend cuda must fail, not run on the CPU";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Device);
    EXPECT_NE(std::string(e.what()).find("no CUDA GPU"), std::string::npos);
  }
}

TEST(BackendRegistry, TheCpuChoiceLeavesTheReasonEmpty) {
  register_failing_gpu(ErrorKind::Device, "never asked");
  std::string gpu_unused;
  auto backend = make_backend(BackendKind::Cpu, test::load_fixture("tied08b"), small_context(), &gpu_unused);
  EXPECT_EQ(backend->name(), "CPU");
  EXPECT_EQ(gpu_unused, "");
}

}  // namespace
}  // namespace hlwq
