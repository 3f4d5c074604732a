// Fuzz target: the safetensors header parser over an arbitrary file image. Any input must give
// a header whose every span lies inside the image, or an hlwq::Error; never a crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "core/error.h"
#include "formats/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const std::byte> file(reinterpret_cast<const std::byte*>(data), size);
  try {
    const auto header = hlwq::parse_safetensors_header(file, "fuzz.safetensors");
    uint64_t previous_end = 0;
    for (const auto& e : header.entries) {
      if (header.data_offset + e.end > size || e.begin < previous_end) std::abort();  // a validation hole
      previous_end = e.end;
      volatile std::byte sink{};
      if (e.end > e.begin) {
        sink = file[header.data_offset + e.begin];
        sink = file[header.data_offset + e.end - 1];
      }
      (void)sink;
    }
  } catch (const hlwq::Error&) {
  }
  return 0;
}
