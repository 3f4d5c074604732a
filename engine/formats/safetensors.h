#pragma once
// safetensors (https://github.com/huggingface/safetensors) over a memory map: one file, or a
// sharded set named by model.safetensors.index.json. Every header is validated before any
// tensor is handed out (length, JSON, dtype, shape x dtype == span, spans inside the file and
// not overlapping), so a corrupt file is an Error naming the file and tensor, never a read
// past the end. The writer streams tensors in a declared order (the quantizer's output).
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/mapped_file.h"
#include "formats/weights.h"

namespace hlwq {

// Parses "BF16", "F16", ...; throws Error{CorruptFile} naming `where` for anything else.
DType parse_dtype(std::string_view name, const std::string& where);

struct SafetensorsEntry {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets relative to the start of the data section
  uint64_t end = 0;
};

struct SafetensorsHeader {
  uint64_t data_offset = 0;                  // 8 + header length
  std::vector<SafetensorsEntry> entries;     // in file order (sorted by begin)
  std::map<std::string, std::string> metadata;  // "__metadata__", string values only
};

// Validates a whole file image; the one parser the reader and the fuzzer share.
// `file_name` only labels errors. Throws Error{CorruptFile}.
SafetensorsHeader parse_safetensors_header(std::span<const std::byte> file, const std::string& file_name);

// One mapped, validated .safetensors file.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::filesystem::path& path);  // throws Error{Io, CorruptFile}

  const std::filesystem::path& path() const { return map_->path(); }
  const std::vector<SafetensorsEntry>& entries() const { return header_.entries; }
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
  const SafetensorsEntry* find(std::string_view name) const;  // nullptr if absent
  bool contains(std::string_view name) const { return find(name) != nullptr; }
  // A view into the mapping; throws Error{MissingTensor} naming the file.
  DenseTensor tensor(std::string_view name) const;
  DenseTensor tensor(const SafetensorsEntry& entry) const;
  std::shared_ptr<const MappedFile> mapping() const { return map_; }
  uint64_t file_size() const { return map_->size(); }

 private:
  std::shared_ptr<const MappedFile> map_;
  SafetensorsHeader header_;
  std::map<std::string, std::size_t, std::less<>> by_name_;
};

// A checkpoint's tensors across one or more files. open() accepts a .safetensors file,
// a model.safetensors.index.json, or a directory holding either (the index wins; without
// one, every *.safetensors in the directory, in name order). Duplicate names across shards,
// and index entries naming a missing shard or a tensor its shard lacks, are errors.
class SafetensorsSet {
 public:
  static SafetensorsSet open(const std::filesystem::path& path);

  const std::vector<std::shared_ptr<SafetensorsFile>>& files() const { return files_; }
  std::vector<std::string> names() const;  // every tensor, sorted
  bool contains(std::string_view name) const;
  const SafetensorsFile* file_of(std::string_view name) const;  // nullptr if absent
  DenseTensor tensor(std::string_view name) const;  // throws Error{MissingTensor}
  // Adds every tensor as a dense view and keeps the mappings alive in the store.
  void add_all_to(WeightStore& store) const;

 private:
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::map<std::string, std::size_t, std::less<>> owner_;  // tensor -> index into files_
};

// Shard files a checkpoint directory holds (from the index, else *.safetensors), in order.
std::vector<std::filesystem::path> list_safetensors_shards(const std::filesystem::path& dir);

struct TensorSpec {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  uint64_t bytes() const;  // numel x dtype size
};

// Streams one .safetensors file: the header is written from the declared specs, then each
// tensor's bytes in declaration order (in one or several write() calls). finish() checks that
// everything arrived and renames "<path>.partial" to <path>, so a crash never leaves a file
// that looks complete. Dropping an unfinished writer deletes the partial file.
class SafetensorsWriter {
 public:
  SafetensorsWriter(std::filesystem::path path, std::vector<TensorSpec> specs,
                    std::map<std::string, std::string> metadata = {});
  ~SafetensorsWriter();
  SafetensorsWriter(const SafetensorsWriter&) = delete;
  SafetensorsWriter& operator=(const SafetensorsWriter&) = delete;

  // Appends bytes to the current tensor (the first declared one not yet complete).
  void write(std::span<const std::byte> bytes);
  void write_tensor(std::string_view name, std::span<const std::byte> bytes);  // a whole tensor, checked by name
  void finish();
  uint64_t total_bytes() const { return total_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_, partial_;
  std::vector<TensorSpec> specs_;
  std::size_t current_ = 0;
  uint64_t written_in_current_ = 0;
  uint64_t total_ = 0;
  std::FILE* out_ = nullptr;
};

// Convenience for small files and tests: writes every tensor (bytes must match shape x dtype).
void write_safetensors(const std::filesystem::path& path, const std::vector<DenseTensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// Writes model.safetensors.index.json mapping each tensor to its shard file name.
void write_safetensors_index(const std::filesystem::path& dir, const std::map<std::string, std::string>& weight_map,
                             uint64_t total_size);

}  // namespace hlwq
