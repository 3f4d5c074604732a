#pragma once
// Reads the little .npy files the reference fixtures hold (float32, C order, any rank).
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace hlwq::test {

struct NpyF32 {
  std::vector<int64_t> shape;
  std::vector<float> data;
};

inline NpyF32 read_npy_f32(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  char magic[8];
  in.read(magic, 8);
  if (std::string(magic, 6) != "\x93NUMPY") throw std::runtime_error(path.string() + ": not a .npy file");
  uint32_t hlen = 0;
  if (magic[6] == 1) {
    uint16_t h;
    in.read(reinterpret_cast<char*>(&h), 2);
    hlen = h;
  } else {
    in.read(reinterpret_cast<char*>(&hlen), 4);
  }
  std::string header(hlen, '\0');
  in.read(header.data(), hlen);
  if (header.find("'descr': '<f4'") == std::string::npos || header.find("'fortran_order': False") == std::string::npos)
    throw std::runtime_error(path.string() + ": expected little-endian float32 in C order: " + header);
  NpyF32 out;
  const auto open = header.find('(', header.find("'shape'"));
  const auto close = header.find(')', open);
  std::string dims = header.substr(open + 1, close - open - 1);
  int64_t total = 1;
  for (size_t p = 0; p < dims.size();) {
    const auto comma = dims.find(',', p);
    const std::string d = dims.substr(p, comma == std::string::npos ? std::string::npos : comma - p);
    if (d.find_first_of("0123456789") != std::string::npos) {
      out.shape.push_back(std::stoll(d));
      total *= out.shape.back();
    }
    if (comma == std::string::npos) break;
    p = comma + 1;
  }
  out.data.resize(size_t(total));
  in.read(reinterpret_cast<char*>(out.data.data()), std::streamsize(total * 4));
  if (!in) throw std::runtime_error(path.string() + ": truncated");
  return out;
}

}  // namespace hlwq::test
