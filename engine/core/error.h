#pragma once
// One exception type for every failure the engine reports to a user. The kind lets callers
// react (fall back to CPU on OutOfMemory, offer ChatML on a template error); the message
// always names the file, field or value at fault.
#include <stdexcept>
#include <string>

namespace hlwq {

enum class ErrorKind {
  Io,                 // cannot open / read / write / disk full
  CorruptFile,        // a file exists but its bytes are not what its format promises
  MissingTensor,      // a tensor the model needs is absent
  BadConfig,          // config.json / hlwq_config.json missing a field or with a bad value
  UnsupportedArch,    // model type or format we do not run
  BadJson,            // unparsable JSON
  Tokenizer,          // tokenizer.json / tokenizer.model problems
  Template,           // chat template syntax or render error
  InvalidArgument,    // a caller passed something impossible
  ContextFull,        // prompt or conversation longer than the context
  OutOfMemory,        // host or device allocation failed
  Device,             // GPU missing, driver too old, launch failure
  Network,            // download problems
  Cancelled,          // the user stopped the operation
  Internal,           // a bug: an invariant did not hold
};

const char* to_string(ErrorKind kind);

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, std::string message);
  ErrorKind kind() const noexcept { return kind_; }

 private:
  ErrorKind kind_;
};

// Shorthand that keeps call sites readable: throw_error(ErrorKind::CorruptFile, path, ": ...").
template <typename... Parts>
[[noreturn]] void throw_error(ErrorKind kind, const Parts&... parts) {
  std::string message;
  ((message += parts), ...);
  throw Error(kind, std::move(message));
}

}  // namespace hlwq
