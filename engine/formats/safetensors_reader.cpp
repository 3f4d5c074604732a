// Reading safetensors: header validation (shared with the fuzzer), single files, shard sets.
#include <algorithm>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "core/error.h"
#include "formats/safetensors.h"

namespace hlwq {
namespace {

// The reference implementation refuses headers above 100 MB; so do we, before parsing.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

[[noreturn]] void corrupt(const std::string& file, const std::string& why) {
  throw_error(ErrorKind::CorruptFile, file, ": ", why);
}

[[noreturn]] void corrupt_tensor(const std::string& file, const std::string& tensor, const std::string& why) {
  throw_error(ErrorKind::CorruptFile, file, ": tensor ", tensor, ": ", why);
}

uint64_t read_u64_le(const std::byte* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | uint64_t(p[i]);
  return v;
}

uint64_t as_u64(const nlohmann::json& v, const std::string& file, const std::string& tensor, const char* field) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer() && v.get<int64_t>() >= 0) return uint64_t(v.get<int64_t>());
  corrupt_tensor(file, tensor, std::string(field) + " must hold non-negative integers, got " + v.dump());
}

}  // namespace

DType parse_dtype(std::string_view name, const std::string& where) {
  static const std::pair<std::string_view, DType> names[] = {
      {"BF16", DType::BF16}, {"F16", DType::F16}, {"F32", DType::F32}, {"U8", DType::U8},
      {"I8", DType::I8},     {"I32", DType::I32}, {"I64", DType::I64}};
  for (const auto& [n, d] : names)
    if (n == name) return d;
  throw_error(ErrorKind::CorruptFile, where, ": unsupported dtype '", std::string(name),
              "' (supported: BF16, F16, F32, U8, I8, I32, I64)");
}

SafetensorsHeader parse_safetensors_header(std::span<const std::byte> file, const std::string& file_name) {
  if (file.size() < 8)
    corrupt(file_name, "truncated: " + std::to_string(file.size()) + " bytes, shorter than the 8-byte header length");
  const uint64_t header_len = read_u64_le(file.data());
  if (header_len > file.size() - 8)
    corrupt(file_name, "header length " + std::to_string(header_len) + " runs past the end of the file (" +
                           std::to_string(file.size()) + " bytes): truncated or not a safetensors file");
  if (header_len > kMaxHeaderBytes) corrupt(file_name, "header length " + std::to_string(header_len) + " above 100 MB");
  const char* text = reinterpret_cast<const char*>(file.data() + 8);
  const auto json = nlohmann::json::parse(text, text + header_len, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) corrupt(file_name, "header is not valid JSON");
  if (!json.is_object()) corrupt(file_name, "header is not a JSON object");

  SafetensorsHeader header;
  header.data_offset = 8 + header_len;
  const uint64_t data_size = file.size() - header.data_offset;
  for (const auto& [key, value] : json.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) corrupt(file_name, "__metadata__ is not an object");
      for (const auto& [mk, mv] : value.items()) {
        if (!mv.is_string()) corrupt(file_name, "__metadata__ value of '" + mk + "' is not a string");
        header.metadata[mk] = mv.get<std::string>();
      }
      continue;
    }
    if (!value.is_object()) corrupt_tensor(file_name, key, "entry is not an object");
    SafetensorsEntry e;
    e.name = key;
    const auto dt = value.find("dtype");
    if (dt == value.end() || !dt->is_string()) corrupt_tensor(file_name, key, "missing string field dtype");
    e.dtype = parse_dtype(dt->get_ref<const std::string&>(), file_name + ": tensor " + key);
    const auto shape = value.find("shape");
    if (shape == value.end() || !shape->is_array()) corrupt_tensor(file_name, key, "missing array field shape");
    uint64_t numel = 1;
    bool overflow = false;
    for (const auto& d : *shape) {
      const uint64_t dim = as_u64(d, file_name, key, "shape");
      if (dim > uint64_t(std::numeric_limits<int64_t>::max())) overflow = true;
      e.shape.push_back(int64_t(dim));
      if (dim != 0 && numel > std::numeric_limits<uint64_t>::max() / dim) overflow = true;
      numel *= dim;
    }
    const auto offs = value.find("data_offsets");
    if (offs == value.end() || !offs->is_array() || offs->size() != 2)
      corrupt_tensor(file_name, key, "data_offsets must be [begin, end]");
    e.begin = as_u64((*offs)[0], file_name, key, "data_offsets");
    e.end = as_u64((*offs)[1], file_name, key, "data_offsets");
    if (e.end < e.begin) corrupt_tensor(file_name, key, "data_offsets end before begin");
    const uint64_t elem = dtype_size(e.dtype);
    if (overflow || numel > std::numeric_limits<uint64_t>::max() / elem)
      corrupt_tensor(file_name, key, "shape overflows");
    if (numel * elem != e.end - e.begin) {
      std::ostringstream why;
      why << "shape " << shape->dump() << " x " << dtype_name(e.dtype) << " needs " << numel * elem
          << " bytes but data_offsets span " << e.end - e.begin;
      corrupt_tensor(file_name, key, why.str());
    }
    if (e.end > data_size)
      corrupt_tensor(file_name, key, "data ends at byte " + std::to_string(header.data_offset + e.end) +
                                         ", past the end of the file (" + std::to_string(file.size()) +
                                         " bytes): truncated");
    header.entries.push_back(std::move(e));
  }
  std::sort(header.entries.begin(), header.entries.end(), [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  for (std::size_t i = 1; i < header.entries.size(); ++i) {
    const auto& prev = header.entries[i - 1];
    const auto& cur = header.entries[i];
    if (cur.begin < prev.end)
      corrupt_tensor(file_name, cur.name, "data overlaps tensor " + prev.name);
  }
  return header;
}

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path)
    : map_(std::make_shared<const MappedFile>(path)), header_(parse_safetensors_header(map_->bytes(), path.string())) {
  for (std::size_t i = 0; i < header_.entries.size(); ++i) by_name_.emplace(header_.entries[i].name, i);
}

const SafetensorsEntry* SafetensorsFile::find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &header_.entries[it->second];
}

DenseTensor SafetensorsFile::tensor(std::string_view name) const {
  const auto* e = find(name);
  if (!e) throw_error(ErrorKind::MissingTensor, path().string(), ": no tensor ", std::string(name));
  return tensor(*e);
}

DenseTensor SafetensorsFile::tensor(const SafetensorsEntry& e) const {
  DenseTensor t;
  t.name = e.name;
  t.dtype = e.dtype;
  t.shape = e.shape;
  t.bytes = std::span<const std::byte>(map_->data() + header_.data_offset + e.begin, e.end - e.begin);
  return t;
}

std::vector<std::filesystem::path> list_safetensors_shards(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  const fs::path index = dir / "model.safetensors.index.json";
  std::vector<fs::path> out;
  if (fs::exists(index)) {
    std::ifstream in(index);
    const auto json = nlohmann::json::parse(in, nullptr, false);
    if (json.is_discarded() || !json.is_object())
      throw_error(ErrorKind::BadJson, index.string(), ": not valid JSON");
    const auto wm = json.find("weight_map");
    if (wm == json.end() || !wm->is_object()) throw_error(ErrorKind::BadJson, index.string(), ": missing weight_map object");
    std::set<std::string> files;
    for (const auto& [name, file] : wm->items()) {
      if (!file.is_string()) throw_error(ErrorKind::BadJson, index.string(), ": weight_map entry of ", name, " is not a string");
      const auto& f = file.get_ref<const std::string&>();
      if (f.empty() || f.find('/') != std::string::npos || f.find('\\') != std::string::npos || f == "." || f == "..")
        throw_error(ErrorKind::BadJson, index.string(), ": weight_map entry of ", name, " names '", f,
                    "', not a file in the model directory");
      files.insert(f);
    }
    for (const auto& f : files) out.push_back(dir / f);
    return out;
  }
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.path().extension() == ".safetensors" && entry.is_regular_file()) out.push_back(entry.path());
  if (ec) throw_error(ErrorKind::Io, "cannot list ", dir.string(), ": ", ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

SafetensorsSet SafetensorsSet::open(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  SafetensorsSet set;
  std::vector<fs::path> shards;
  fs::path index_file;
  if (fs::is_directory(path)) {
    shards = list_safetensors_shards(path);
    if (fs::exists(path / "model.safetensors.index.json")) index_file = path / "model.safetensors.index.json";
    if (shards.empty()) throw_error(ErrorKind::MissingTensor, path.string(), ": no .safetensors files");
  } else if (path.extension() == ".json") {
    if (!fs::exists(path)) throw_error(ErrorKind::Io, "cannot open ", path.string(), ": no such file");
    const fs::path dir = path.parent_path();
    if (path.filename() != "model.safetensors.index.json") {
      // Another index name: read it through a directory listing of its weight map.
      std::ifstream in(path);
      const auto json = nlohmann::json::parse(in, nullptr, false);
      if (json.is_discarded() || !json.contains("weight_map") || !json["weight_map"].is_object())
        throw_error(ErrorKind::BadJson, path.string(), ": not a safetensors index (no weight_map)");
      std::set<std::string> files;
      for (const auto& [n, f] : json["weight_map"].items())
        if (f.is_string()) files.insert(f.get<std::string>());
      for (const auto& f : files) shards.push_back(dir / f);
    } else {
      shards = list_safetensors_shards(dir);
    }
    index_file = path;
  } else {
    shards.push_back(path);
  }
  for (const auto& shard : shards) {
    if (!fs::exists(shard))
      throw_error(ErrorKind::MissingTensor, "shard ", shard.string(), " named by ",
                  index_file.empty() ? std::string("the model") : index_file.string(), " does not exist");
    auto file = std::make_shared<SafetensorsFile>(shard);
    const std::size_t idx = set.files_.size();
    for (const auto& e : file->entries()) {
      auto [it, inserted] = set.owner_.emplace(e.name, idx);
      if (!inserted)
        throw_error(ErrorKind::CorruptFile, "tensor ", e.name, " appears in both ",
                    set.files_[it->second]->path().string(), " and ", shard.string());
    }
    set.files_.push_back(std::move(file));
  }
  if (!index_file.empty()) {
    std::ifstream in(index_file);
    const auto json = nlohmann::json::parse(in, nullptr, false);
    for (const auto& [name, f] : json["weight_map"].items()) {
      const auto it = set.owner_.find(name);
      if (it == set.owner_.end())
        throw_error(ErrorKind::MissingTensor, index_file.string(), " names tensor ", name, " in ",
                    f.get<std::string>(), " but that shard does not hold it");
      if (set.files_[it->second]->path().filename() != f.get<std::string>())
        throw_error(ErrorKind::CorruptFile, index_file.string(), " places tensor ", name, " in ", f.get<std::string>(),
                    " but it is in ", set.files_[it->second]->path().string());
    }
  }
  return set;
}

std::vector<std::string> SafetensorsSet::names() const {
  std::vector<std::string> out;
  out.reserve(owner_.size());
  for (const auto& [k, v] : owner_) out.push_back(k);
  return out;
}

bool SafetensorsSet::contains(std::string_view name) const { return owner_.find(name) != owner_.end(); }

const SafetensorsFile* SafetensorsSet::file_of(std::string_view name) const {
  auto it = owner_.find(name);
  return it == owner_.end() ? nullptr : files_[it->second].get();
}

DenseTensor SafetensorsSet::tensor(std::string_view name) const {
  const auto* f = file_of(name);
  if (!f) {
    std::string where = files_.empty() ? std::string("(no files)") : files_.front()->path().parent_path().string();
    throw_error(ErrorKind::MissingTensor, "tensor ", std::string(name), " missing from ", where);
  }
  return f->tensor(name);
}

void SafetensorsSet::add_all_to(WeightStore& store) const {
  for (const auto& f : files_) {
    store.keep_alive(f->mapping());
    for (const auto& e : f->entries()) store.add_dense(f->tensor(e));
  }
}

}  // namespace hlwq
