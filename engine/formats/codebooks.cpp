// The Lloyd-Max tables of hlwq-format.md section 2, the one place their numbers live.
#include <array>
#include <cmath>
#include <limits>
#include <string>

#include "core/error.h"
#include "formats/hlwq_codec.h"

namespace hlwq {
namespace {

struct Table {
  Codebook book;
  int bits;
  std::vector<double> positive_half;
  double spec_mse;  // NaN where the spec lists none
};

const std::vector<Table>& tables() {
  constexpr double kNone = std::numeric_limits<double>::quiet_NaN();
  static const std::vector<Table> list = {
      {Codebook::Converged, 5,
       {0.065890, 0.198052, 0.331378, 0.466700, 0.604934, 0.747136, 0.894565, 1.048783, 1.211804, 1.386340,
        1.576228, 1.787233, 2.028728, 2.317739, 2.691120, 3.260732},
       0.002505},
      {Codebook::Converged, 4, {0.128395, 0.388048, 0.656759, 0.942340, 1.256231, 1.618046, 2.069017, 2.732590}, 0.009501},
      {Codebook::Converged, 3, {0.245094, 0.756005, 1.343909, 2.151946}, 0.034548},
      {Codebook::Converged, 2, {0.452780, 1.510418}, 0.117482},
      {Codebook::ReferenceLoader, 5,
       {0.087992, 0.264068, 0.440432, 0.617322, 0.795051, 0.974056, 1.154962, 1.338679, 1.526562, 1.720652,
        1.924106, 2.141992, 2.382909, 2.662872, 3.016919, 3.551609},
       0.002923},
      {Codebook::ReferenceLoader, 4, {0.131758, 0.397897, 0.672392, 0.962641, 1.279740, 1.643042, 2.093563, 2.754355}, kNone},
      {Codebook::ReferenceLoader, 3, {0.245095, 0.756006, 1.343911, 2.151947}, kNone},
      {Codebook::ReferenceLoader, 2, {0.452780, 1.510418}, kNone},
      {Codebook::ReferenceQuantizer, 5,
       {0.087778, 0.263401, 0.439243, 0.615489, 0.792392, 0.970315, 1.149795, 1.331628, 1.517017, 1.707795,
        1.906813, 2.118635, 2.350928, 2.617656, 2.948092, 3.423144},
       0.002902},
  };
  return list;
}

const Table& find_table(Codebook book, int bits) {
  for (const auto& t : tables())
    if (t.book == book && t.bits == bits) return t;
  throw_error(ErrorKind::InvalidArgument, "no ", codebook_name(book), " codebook for ", std::to_string(bits),
              " bits (converged and reference-loader: 2..5 bits; reference-quantizer: 5 bits)");
}

// Full symmetric tables, built once: [-c_n..-c_1, c_1..c_n] in float.
struct FullTables {
  std::array<std::array<std::vector<float>, 9>, 3> full;
  FullTables() {
    for (const auto& t : tables()) {
      auto& v = full[int(t.book)][t.bits];
      const std::size_t half = t.positive_half.size();
      v.resize(2 * half);
      for (std::size_t k = 0; k < half; ++k) {
        v[half + k] = float(t.positive_half[k]);
        v[half - 1 - k] = -float(t.positive_half[k]);
      }
    }
  }
};

}  // namespace

const char* codebook_name(Codebook book) {
  switch (book) {
    case Codebook::Converged: return "converged";
    case Codebook::ReferenceLoader: return "reference-loader";
    case Codebook::ReferenceQuantizer: return "reference-quantizer";
  }
  return "?";
}

Codebook parse_codebook(std::string_view name) {
  for (Codebook b : {Codebook::Converged, Codebook::ReferenceLoader, Codebook::ReferenceQuantizer})
    if (name == codebook_name(b)) return b;
  throw_error(ErrorKind::InvalidArgument, "unknown codebook '", std::string(name),
              "' (expected converged, reference-loader or reference-quantizer)");
}

std::span<const float> codebook_table(Codebook book, int bits) {
  static const FullTables full;
  find_table(book, bits);  // throws for a missing combination
  return full.full[int(book)][bits];
}

double codebook_spec_mse(Codebook book, int bits) { return find_table(book, bits).spec_mse; }

}  // namespace hlwq
