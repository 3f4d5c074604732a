#include "core/error.h"
#include "models/backend.h"

namespace hlwq {

std::unique_ptr<ModelBackend> make_cpu_backend(const ModelSource& source, const BackendOptions&) {
  throw_error(ErrorKind::Internal, source.name, ": the CPU backend is being written");
}

}  // namespace hlwq
