// Fuzz target: hlwq_config.json handling of the packed loader, then decoding every tensor it
// accepted. The input is the config text; the tensors are a small valid hlwq-q5 file made once.
// Also feeds the text to qwen35::parse_config when the models library is linked.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "formats/checkpoint_loaders.h"
#include "formats/hlwq_codec.h"
#include "formats/safetensors.h"
#if HLWQ_FUZZ_MODELS
#include "models/qwen35/qwen35_config.h"
#endif

namespace {

const hlwq::SafetensorsSet& fixture() {
  static const hlwq::SafetensorsSet set = [] {
    const auto dir = std::filesystem::temp_directory_path() / ("hlwq-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const int64_t rows = 2, nb = 2;
    static std::vector<std::byte> packed(rows * nb * 80, std::byte{0x5a}), norms(rows * nb * 2, std::byte{0x30});
    static int64_t meta[5] = {rows, nb, 128, rows * nb * 128, 200};
    static std::vector<std::byte> dense(32, std::byte{1});
    hlwq::write_safetensors(dir / "model.safetensors",
                            {{"w__packed", hlwq::DType::U8, {int64_t(packed.size())}, packed},
                             {"w__norms", hlwq::DType::F16, {rows, nb}, norms},
                             {"w__meta", hlwq::DType::I64, {5}, std::as_bytes(std::span(meta))},
                             {"n.weight", hlwq::DType::BF16, {16}, dense}});
    auto s = hlwq::SafetensorsSet::open(dir / "model.safetensors");
    std::filesystem::remove_all(dir);  // the mapping stays valid
    return s;
  }();
  return set;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto cfg = nlohmann::json::parse(data, data + size, nullptr, false);
  if (cfg.is_discarded() || !cfg.is_object()) return 0;
  try {
    hlwq::WeightStore store;
    hlwq::load_hlwq_packed(fixture(), cfg, "fuzz/hlwq_config.json", hlwq::make_tensor_policy(), store);
    for (const auto& name : store.names())
      if (const auto* q = store.quant(name)) {
        std::vector<float> out(std::size_t(q->rows * q->cols));
        hlwq::dequantize_rows(*q, 0, q->rows, out.data());
      }
  } catch (const hlwq::Error&) {
  } catch (const nlohmann::json::exception&) {
    std::abort();  // a JSON type error escaped as something other than hlwq::Error
  }
#if HLWQ_FUZZ_MODELS
  try {
    hlwq::qwen35::parse_config(cfg, "fuzz/config.json");
  } catch (const hlwq::Error&) {
  }
#endif
  return 0;
}
