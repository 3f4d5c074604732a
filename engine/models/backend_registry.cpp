#include <map>
#include <mutex>

#include "core/error.h"
#include "models/backend.h"

namespace hlwq {

namespace {

struct Registry {
  std::mutex mutex;
  std::map<BackendKind, BackendFactory> factories{{BackendKind::Cpu, make_cpu_backend}};
};

Registry& registry() {
  static Registry r;
  return r;
}

const char* kind_name(BackendKind kind) {
  switch (kind) {
    case BackendKind::Auto: return "auto";
    case BackendKind::Cpu: return "cpu";
    case BackendKind::Cuda: return "cuda";
  }
  return "?";
}

}  // namespace

void register_backend(BackendKind kind, BackendFactory factory) {
  if (kind == BackendKind::Auto) throw_error(ErrorKind::InvalidArgument, "register_backend: 'auto' is not a backend");
  std::lock_guard lock(registry().mutex);
  registry().factories[kind] = std::move(factory);
}

bool backend_available(BackendKind kind) {
  std::lock_guard lock(registry().mutex);
  return kind == BackendKind::Auto || registry().factories.count(kind) != 0;
}

std::unique_ptr<ModelBackend> make_backend(BackendKind kind, const ModelSource& source, const BackendOptions& options,
                                           std::string* gpu_unused) {
  BackendFactory cuda, chosen;
  {
    std::lock_guard lock(registry().mutex);
    auto& f = registry().factories;
    if (kind == BackendKind::Auto) {
      if (f.count(BackendKind::Cuda)) cuda = f[BackendKind::Cuda];
      chosen = f[BackendKind::Cpu];
    } else {
      if (!f.count(kind))
        throw_error(ErrorKind::Device, "backend '", kind_name(kind), "' is not available in this build");
      chosen = f[kind];
    }
  }
  if (cuda) {
    // Auto: a GPU that is missing or too small, or kernels that do not take this model's shape
    // (the bundled demo model's head size), fall back to the CPU; other errors surface (and an
    // architecture the CPU cannot run either fails there, with its own message).
    try {
      return cuda(source, options);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::Device && e.kind() != ErrorKind::OutOfMemory && e.kind() != ErrorKind::UnsupportedArch)
        throw;
      if (gpu_unused) *gpu_unused = e.what();
    }
  }
  return chosen(source, options);
}

}  // namespace hlwq
