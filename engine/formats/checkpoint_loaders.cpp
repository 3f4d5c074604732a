#include "formats/checkpoint_loaders.h"

#include <cmath>
#include <cstring>
#include <set>

#include "core/error.h"
#include "formats/hlwq_codec.h"

namespace hlwq {
namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string where_of(const SafetensorsSet& set, std::string_view tensor) {
  const auto* f = set.file_of(tensor);
  return f ? f->path().string() : std::string("?");
}

// fp16 norms as a uint16 span; copied into an owned buffer when the file places them unaligned.
std::span<const uint16_t> norms_view(const DenseTensor& t, WeightStore& store) {
  if (reinterpret_cast<uintptr_t>(t.bytes.data()) % alignof(uint16_t) == 0)
    return {reinterpret_cast<const uint16_t*>(t.bytes.data()), t.bytes.size() / 2};
  auto copy = std::make_shared<std::vector<uint16_t>>(t.bytes.size() / 2);
  std::memcpy(copy->data(), t.bytes.data(), t.bytes.size());
  store.keep_alive(copy);
  return *copy;
}

std::vector<float> codebook_from_json(const nlohmann::json& j, int bits, const std::string& where) {
  if (!j.is_array() || j.size() != (std::size_t(1) << bits))
    throw_error(ErrorKind::BadConfig, where, ": \"codebook\" must be an array of ", std::to_string(1 << bits),
                " numbers for ", std::to_string(bits), " bits");
  std::vector<float> out;
  for (const auto& v : j) {
    if (!v.is_number()) throw_error(ErrorKind::BadConfig, where, ": \"codebook\" holds a non-number ", v.dump());
    out.push_back(v.get<float>());
  }
  return out;
}

int int_field(const nlohmann::json& obj, const char* key, const std::string& where, int fallback) {
  const auto it = obj.find(key);
  if (it == obj.end()) return fallback;
  if (!it->is_number_integer()) throw_error(ErrorKind::BadConfig, where, ": \"", key, "\" must be an integer");
  return it->get<int>();
}

}  // namespace

namespace {

void hlwq_packed_impl(const SafetensorsSet& set, const nlohmann::json& cfg, const std::filesystem::path& config_path,
                      const TensorPolicy& policy, WeightStore& store) {
  const std::string where = config_path.string();
  const std::string format = cfg.contains("format") && cfg["format"].is_string() ? cfg["format"].get<std::string>() : "";
  int format_bits = 0;
  if (format.size() == 7 && format.rfind("hlwq-q", 0) == 0) format_bits = format[6] - '0';
  if (format_bits < 2 || format_bits > 5)
    throw_error(ErrorKind::UnsupportedArch, where, ": format \"", format, "\" is not hlwq-q2..hlwq-q5");
  if (int_field(cfg, "block_size", where, kHlwqBlock) != kHlwqBlock)
    throw_error(ErrorKind::BadConfig, where, ": block_size must be 128");
  // "bits": one width, or per tensor {name: bits} where widths differ.
  nlohmann::json per_tensor_bits = nlohmann::json::object();
  int uniform_bits = format_bits;
  if (const auto b = cfg.find("bits"); b != cfg.end()) {
    if (b->is_number_integer()) uniform_bits = b->get<int>();
    else if (b->is_object()) per_tensor_bits = *b;
    else throw_error(ErrorKind::BadConfig, where, ": \"bits\" must be an integer or an object");
  }
  ScaleKind scale = ScaleKind::Norm;
  if (const auto s = cfg.find("scale"); s != cfg.end()) {
    if (*s == "mse") scale = ScaleKind::Mse;
    else if (*s != "norm") throw_error(ErrorKind::BadConfig, where, ": \"scale\" must be \"norm\" or \"mse\", got ", s->dump());
  }
  auto codebook_for = [&](int bits) -> std::vector<float> {
    // Our files carry the codebook (an array, or {"<bits>": array} for mixed widths); public ones
    // do not and are read with the public loader's table (spec section 2).
    if (const auto c = cfg.find("codebook"); c != cfg.end()) {
      if (c->is_object()) {
        const auto e = c->find(std::to_string(bits));
        if (e != c->end()) return codebook_from_json(*e, bits, where);
      } else if (bits == uniform_bits) {
        return codebook_from_json(*c, bits, where);
      }
    }
    const auto t = codebook_table(Codebook::ReferenceLoader, bits);
    return {t.begin(), t.end()};
  };

  std::set<std::string> quantized;
  for (const auto& name : set.names()) {
    if (!ends_with(name, "__packed")) continue;
    const std::string p = name.substr(0, name.size() - 8);
    if (policy.drop && policy.drop(p)) continue;
    const std::string file = where_of(set, name);
    for (const char* suffix : {"__norms", "__meta"})
      if (!set.contains(p + suffix))
        throw_error(ErrorKind::MissingTensor, file, ": ", name, " has no companion tensor ", p, suffix);
    const DenseTensor packed = set.tensor(name), norms = set.tensor(p + "__norms"), meta = set.tensor(p + "__meta");
    if (meta.dtype != DType::I64 || meta.shape.size() != 1 || (meta.shape[0] != 4 && meta.shape[0] != 5))
      throw_error(ErrorKind::CorruptFile, where_of(set, p + "__meta"), ": tensor ", p,
                  "__meta must be I64 with 4 or 5 entries");
    int64_t m[5] = {};
    std::memcpy(m, meta.bytes.data(), meta.bytes.size());
    const int64_t rows = m[0], nb = m[1], block = m[2], total = m[3];
    const int64_t cols = meta.shape[0] == 5 ? m[4] : nb * kHlwqBlock;
    if (block != kHlwqBlock || rows <= 0 || nb <= 0 || rows > (int64_t(1) << 40) / nb || total != rows * nb * kHlwqBlock ||
        cols <= 0 || (cols + kHlwqBlock - 1) / kHlwqBlock != nb)
      throw_error(ErrorKind::CorruptFile, where_of(set, p + "__meta"), ": tensor ", p, "__meta holds inconsistent sizes [",
                  std::to_string(rows), ", ", std::to_string(nb), ", ", std::to_string(block), ", ",
                  std::to_string(total), ", ", std::to_string(cols), "]");
    if (packed.dtype != DType::U8 && packed.dtype != DType::I8)
      throw_error(ErrorKind::CorruptFile, file, ": tensor ", name, " has dtype ", dtype_name(packed.dtype), ", expected U8");
    if (norms.dtype != DType::F16 || norms.shape != std::vector<int64_t>{rows, nb})
      throw_error(ErrorKind::CorruptFile, where_of(set, p + "__norms"), ": tensor ", p, "__norms must be F16 [",
                  std::to_string(rows), ", ", std::to_string(nb), "] to match ", p, "__meta");
    QuantTensor q;
    q.name = p;
    q.rows = rows;
    q.cols = cols;
    q.blocks_per_row = nb;
    q.bits = uniform_bits;
    if (per_tensor_bits.contains(p)) {
      if (!per_tensor_bits[p].is_number_integer())
        throw_error(ErrorKind::BadConfig, where, ": \"bits\" of ", p, " must be an integer");
      q.bits = per_tensor_bits[p].get<int>();
    }
    q.packing = CodePacking::BigEndianStream;
    q.scale = scale;
    if (q.bits < 2 || q.bits > 5)
      throw_error(ErrorKind::BadConfig, where, ": tensor ", p, " has ", std::to_string(q.bits), " bits (2..5 supported)");
    q.codebook = codebook_for(q.bits);
    q.codes = {reinterpret_cast<const uint8_t*>(packed.bytes.data()), packed.bytes.size()};
    q.norms = norms_view(norms, store);
    validate_quant_tensor(q, file);
    quantized.insert(p);
    store.add_quant(std::move(q));
  }
  for (const auto& name : set.names()) {
    for (const char* suffix : {"__norms", "__meta"})
      if (ends_with(name, suffix)) {
        const std::string p = name.substr(0, name.size() - std::strlen(suffix));
        if (!quantized.count(p) && !(policy.drop && policy.drop(p)))
          throw_error(ErrorKind::MissingTensor, where_of(set, name), ": ", name, " has no companion tensor ", p, "__packed");
      }
    if (ends_with(name, "__packed") || ends_with(name, "__norms") || ends_with(name, "__meta")) continue;
    if (policy.drop && policy.drop(name)) continue;
    if (quantized.count(name))
      throw_error(ErrorKind::CorruptFile, where_of(set, name), ": tensor ", name, " is stored both dense and quantized");
    store.add_dense(set.tensor(name));
  }
  for (const auto& f : set.files()) store.keep_alive(f->mapping());
}

void polar_legacy_impl(const SafetensorsSet& set, const nlohmann::json& cfg, const std::filesystem::path& config_path,
                       const TensorPolicy& policy, WeightStore& store) {
  const std::string where = config_path.string();
  if (int_field(cfg, "block_size", where, kHlwqBlock) != kHlwqBlock)
    throw_error(ErrorKind::BadConfig, where, ": block_size must be 128");
  const nlohmann::json layers = cfg.contains("layers") && cfg["layers"].is_object() ? cfg["layers"] : nlohmann::json::object();
  const nlohmann::json bit_assignment =
      cfg.contains("bit_assignment") && cfg["bit_assignment"].is_object() ? cfg["bit_assignment"] : nlohmann::json::object();
  std::set<std::string> consumed;
  for (const auto& name : set.names()) {
    if (!ends_with(name, ".codes")) continue;
    const std::string l = name.substr(0, name.size() - 6);
    if (policy.drop && policy.drop(l + ".weight")) {
      consumed.insert({name, l + ".norms", l + ".ct", l + ".ct_scaled"});
      continue;
    }
    const std::string file = where_of(set, name);
    if (!set.contains(l + ".norms"))
      throw_error(ErrorKind::MissingTensor, file, ": ", name, " has no companion tensor ", l, ".norms");
    const bool scaled = set.contains(l + ".ct_scaled");
    if (!scaled && !set.contains(l + ".ct"))
      throw_error(ErrorKind::MissingTensor, file, ": ", name, " has neither ", l, ".ct_scaled nor ", l, ".ct");
    const DenseTensor codes = set.tensor(name), norms = set.tensor(l + ".norms");
    const DenseTensor ct = set.tensor(l + (scaled ? ".ct_scaled" : ".ct"));
    const nlohmann::json info = layers.contains(l) && layers[l].is_object() ? layers[l] : nlohmann::json::object();
    if (norms.dtype != DType::F16 || norms.shape.size() != 2)
      throw_error(ErrorKind::CorruptFile, where_of(set, l + ".norms"), ": tensor ", l, ".norms must be F16 [out, n_blocks]");
    if (ct.dtype != DType::F32 || ct.shape.size() != 1)
      throw_error(ErrorKind::CorruptFile, where_of(set, l + ".ct"), ": codebook tensor of ", l, " must be 1-D F32");
    QuantTensor q;
    q.name = l + ".weight";
    q.rows = norms.shape[0];
    q.blocks_per_row = norms.shape[1];
    const std::string lw = where + ": layer " + l;
    q.rows = int_field(info, "out_features", lw, int(q.rows));
    q.blocks_per_row = int_field(info, "n_blocks", lw, int(q.blocks_per_row));
    q.cols = int_field(info, "in_features", lw, int(q.blocks_per_row * kHlwqBlock));
    const int ct_bits = int(std::lround(std::log2(double(std::max<int64_t>(ct.shape[0], 1)))));
    q.bits = int_field(info, "bits", lw, bit_assignment.contains(l) && bit_assignment[l].is_number_integer()
                                             ? bit_assignment[l].get<int>() : ct_bits);
    if (q.bits < 2 || q.bits > 8 || ct.shape[0] != (int64_t(1) << q.bits))
      throw_error(ErrorKind::CorruptFile, file, ": layer ", l, ": codebook of ", std::to_string(ct.shape[0]),
                  " entries does not match ", std::to_string(q.bits), " bits");
    if (norms.shape != std::vector<int64_t>{q.rows, q.blocks_per_row})
      throw_error(ErrorKind::CorruptFile, where_of(set, l + ".norms"), ": tensor ", l, ".norms shape does not match [",
                  std::to_string(q.rows), ", ", std::to_string(q.blocks_per_row), "]");
    auto flag = [&](const char* key) {
      const auto it = info.find(key);
      if (it == info.end() || it->is_null()) return false;
      if (!it->is_boolean()) throw_error(ErrorKind::BadConfig, lw, ": \"", key, "\" must be true or false");
      return it->get<bool>();
    };
    const bool packed_q5 = flag("packed_q5");
    const bool packed = flag("packed");
    if (packed_q5) {
      if (q.bits != 5) throw_error(ErrorKind::BadConfig, lw, ": packed_q5 with ", std::to_string(q.bits), " bits");
      q.packing = CodePacking::LittleEndianQ5;
    } else if (packed) {
      q.packing = CodePacking::HalfBlockNibbles;
    } else {
      q.packing = CodePacking::Int8;
    }
    if (q.packing == CodePacking::Int8 && codes.dtype != DType::I8 && codes.dtype != DType::U8)
      throw_error(ErrorKind::CorruptFile, file, ": tensor ", name, " has dtype ", dtype_name(codes.dtype),
                  ", expected I8 codes");
    std::vector<float> book(std::size_t(ct.shape[0]));
    std::memcpy(book.data(), ct.bytes.data(), book.size() * 4);
    if (scaled)
      for (float& c : book) c = float(double(c) * std::sqrt(128.0));
    q.codebook = std::move(book);
    q.codes = {reinterpret_cast<const uint8_t*>(codes.bytes.data()), codes.bytes.size()};
    q.norms = norms_view(norms, store);
    validate_quant_tensor(q, file);
    consumed.insert({name, l + ".norms", l + ".ct", l + ".ct_scaled"});
    store.add_quant(std::move(q));
  }
  for (const auto& name : set.names()) {
    if (consumed.count(name) || (policy.drop && policy.drop(name))) continue;
    store.add_dense(set.tensor(name));
  }
  for (const auto& f : set.files()) store.keep_alive(f->mapping());
}

}  // namespace

// A JSON value of an unexpected type surfaces as BadConfig naming the file, whatever field it was.
void load_hlwq_packed(const SafetensorsSet& set, const nlohmann::json& cfg, const std::filesystem::path& config_path,
                      const TensorPolicy& policy, WeightStore& store) {
  try {
    hlwq_packed_impl(set, cfg, config_path, policy, store);
  } catch (const nlohmann::json::exception& e) {
    throw_error(ErrorKind::BadConfig, config_path.string(), ": ", e.what());
  }
}

void load_polar_legacy(const SafetensorsSet& set, const nlohmann::json& cfg, const std::filesystem::path& config_path,
                       const TensorPolicy& policy, WeightStore& store) {
  try {
    polar_legacy_impl(set, cfg, config_path, policy, store);
  } catch (const nlohmann::json::exception& e) {
    throw_error(ErrorKind::BadConfig, config_path.string(), ": ", e.what());
  }
}

}  // namespace hlwq
