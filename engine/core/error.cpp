#include "core/error.h"

namespace hlwq {

const char* to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::Io: return "I/O error";
    case ErrorKind::CorruptFile: return "corrupt file";
    case ErrorKind::MissingTensor: return "missing tensor";
    case ErrorKind::BadConfig: return "bad config";
    case ErrorKind::UnsupportedArch: return "unsupported architecture";
    case ErrorKind::BadJson: return "bad JSON";
    case ErrorKind::Tokenizer: return "tokenizer error";
    case ErrorKind::Template: return "chat template error";
    case ErrorKind::InvalidArgument: return "invalid argument";
    case ErrorKind::ContextFull: return "context full";
    case ErrorKind::OutOfMemory: return "out of memory";
    case ErrorKind::Device: return "device error";
    case ErrorKind::Network: return "network error";
    case ErrorKind::Cancelled: return "cancelled";
    case ErrorKind::Internal: return "internal error";
  }
  return "error";
}

Error::Error(ErrorKind kind, std::string message) : std::runtime_error(std::move(message)), kind_(kind) {}

}  // namespace hlwq
