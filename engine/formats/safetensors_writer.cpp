// Writing safetensors: a streaming writer (header first, then tensors in declared order).
#include <cerrno>
#include <cstring>
#include <fstream>

#include "core/error.h"
#include "formats/safetensors.h"

namespace hlwq {

uint64_t TensorSpec::bytes() const {
  uint64_t n = 1;
  for (int64_t d : shape) n *= uint64_t(d);
  return n * dtype_size(dtype);
}

SafetensorsWriter::SafetensorsWriter(std::filesystem::path path, std::vector<TensorSpec> specs,
                                     std::map<std::string, std::string> metadata)
    : path_(std::move(path)), specs_(std::move(specs)) {
  partial_ = path_;
  partial_ += ".partial";
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& s : specs_) {
    if (header.contains(s.name)) throw_error(ErrorKind::InvalidArgument, path_.string(), ": tensor ", s.name, " declared twice");
    for (int64_t d : s.shape)
      if (d < 0) throw_error(ErrorKind::InvalidArgument, path_.string(), ": tensor ", s.name, " has a negative dimension");
    header[s.name] = {{"dtype", dtype_name(s.dtype)}, {"shape", s.shape}, {"data_offsets", {offset, offset + s.bytes()}}};
    offset += s.bytes();
  }
  std::string text = header.dump();
  // Pad with spaces so the data section starts 8-byte aligned (what the reference writer does).
  text.append((8 - text.size() % 8) % 8, ' ');
  out_ = std::fopen(partial_.c_str(), "wb");
  if (!out_) throw_error(ErrorKind::Io, "cannot create ", partial_.string(), ": ", std::strerror(errno));
  std::setvbuf(out_, nullptr, _IOFBF, 1 << 20);
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = uint8_t(uint64_t(text.size()) >> (8 * i));
  if (std::fwrite(len, 1, 8, out_) != 8 || std::fwrite(text.data(), 1, text.size(), out_) != text.size())
    throw_error(ErrorKind::Io, "cannot write ", partial_.string(), ": ", std::strerror(errno));
  total_ = 8 + text.size() + offset;
  while (current_ < specs_.size() && specs_[current_].bytes() == 0) ++current_;
}

SafetensorsWriter::~SafetensorsWriter() {
  if (out_) {
    std::fclose(out_);
    std::error_code ec;
    std::filesystem::remove(partial_, ec);
  }
}

void SafetensorsWriter::write(std::span<const std::byte> bytes) {
  if (!out_) throw_error(ErrorKind::InvalidArgument, path_.string(), ": write after finish");
  while (!bytes.empty()) {
    if (current_ >= specs_.size())
      throw_error(ErrorKind::InvalidArgument, path_.string(), ": more bytes than the declared tensors hold");
    const uint64_t room = specs_[current_].bytes() - written_in_current_;
    const std::size_t n = std::size_t(std::min<uint64_t>(room, bytes.size()));
    if (std::fwrite(bytes.data(), 1, n, out_) != n)
      throw_error(ErrorKind::Io, "cannot write ", partial_.string(), ": ", std::strerror(errno));
    bytes = bytes.subspan(n);
    written_in_current_ += n;
    if (written_in_current_ == specs_[current_].bytes()) {
      written_in_current_ = 0;
      ++current_;
      while (current_ < specs_.size() && specs_[current_].bytes() == 0) ++current_;
    }
  }
}

void SafetensorsWriter::write_tensor(std::string_view name, std::span<const std::byte> bytes) {
  if (bytes.empty()) {  // empty tensors need no bytes; the header already describes them
    for (const auto& s : specs_)
      if (s.name == name && s.bytes() == 0) return;
  }
  if (current_ >= specs_.size() || specs_[current_].name != name || written_in_current_ != 0)
    throw_error(ErrorKind::InvalidArgument, path_.string(), ": tensor ", std::string(name),
                " written out of its declared order");
  if (bytes.size() != specs_[current_].bytes())
    throw_error(ErrorKind::InvalidArgument, path_.string(), ": tensor ", std::string(name), " given ",
                std::to_string(bytes.size()), " bytes, declared ", std::to_string(specs_[current_].bytes()));
  write(bytes);
}

void SafetensorsWriter::finish() {
  if (!out_) return;
  if (current_ < specs_.size())
    throw_error(ErrorKind::InvalidArgument, path_.string(), ": tensor ", specs_[current_].name, " never written");
  const bool ok = std::fflush(out_) == 0 && !std::ferror(out_);
  const int err = errno;
  const bool closed = std::fclose(out_) == 0;
  out_ = nullptr;
  if (!ok || !closed) {
    std::error_code ec;
    std::filesystem::remove(partial_, ec);
    throw_error(ErrorKind::Io, "cannot write ", partial_.string(), ": ", std::strerror(err));
  }
  std::error_code ec;
  std::filesystem::rename(partial_, path_, ec);
  if (ec) throw_error(ErrorKind::Io, "cannot rename ", partial_.string(), " to ", path_.string(), ": ", ec.message());
}

void write_safetensors(const std::filesystem::path& path, const std::vector<DenseTensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<TensorSpec> specs;
  for (const auto& t : tensors) specs.push_back({t.name, t.dtype, t.shape});
  SafetensorsWriter w(path, specs, metadata);
  for (const auto& t : tensors) w.write_tensor(t.name, t.bytes);
  w.finish();
}

void write_safetensors_index(const std::filesystem::path& dir, const std::map<std::string, std::string>& weight_map,
                             uint64_t total_size) {
  nlohmann::json j = {{"metadata", {{"total_size", total_size}}}, {"weight_map", weight_map}};
  const auto path = dir / "model.safetensors.index.json";
  std::ofstream out(path);
  out << j.dump(2) << "\n";
  if (!out) throw_error(ErrorKind::Io, "cannot write ", path.string());
}

}  // namespace hlwq
