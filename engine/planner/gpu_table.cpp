#include "planner/gpu_table.h"

#include <cctype>

#include "core/error.h"
#include "planner/cuda_context_cache.h"

namespace hlwq::planner {

// Totals in MiB as the driver reports them (nvidia-smi memory.total); the driver keeps a
// little of the marketing figure for itself on most cards.
const std::vector<KnownGpu>& known_gpus() {
  static const std::vector<KnownGpu> table = {
      {"RTX 3060 12GB", 12288, 8, 6},     {"RTX 3060 Ti", 8192, 8, 6},     {"RTX 3070", 8192, 8, 6},
      {"RTX 3080 10GB", 10240, 8, 6},     {"RTX 3080 12GB", 12288, 8, 6},  {"RTX 3090", 24576, 8, 6},
      {"RTX 3090 Ti", 24564, 8, 6},       {"RTX 4060 8GB", 8188, 8, 9},    {"RTX 4060 Ti 8GB", 8188, 8, 9},
      {"RTX 4060 Ti 16GB", 16380, 8, 9},  {"RTX 4070 12GB", 12282, 8, 9},  {"RTX 4070 Ti Super 16GB", 16376, 8, 9},
      {"RTX 4080 16GB", 16376, 8, 9},     {"RTX 4090", 24564, 8, 9},       {"RTX 5060 Ti 16GB", 16311, 12, 0},
      {"RTX 5070 12GB", 12227, 12, 0},    {"RTX 5070 Ti 16GB", 16303, 12, 0}, {"RTX 5080", 16303, 12, 0},
      {"RTX 5090", 32607, 12, 0},         {"RTX A6000", 49140, 8, 6},      {"RTX 6000 Ada", 49140, 8, 9},
      {"RTX PRO 6000 Blackwell", 97887, 12, 0},
      {"A100 40GB", 40960, 8, 0},         {"A100 80GB", 81920, 8, 0},      {"H100 80GB", 81559, 9, 0},
      {"H200", 143771, 9, 0},             {"L4", 23034, 8, 9},             {"L40S", 46068, 8, 9},
  };
  return table;
}

GpuSpec KnownGpu::spec() const {
  GpuSpec g;
  g.name = name;
  g.total_bytes = total_mib * kMiB;
  g.free_bytes = g.total_bytes;
  g.cc_major = cc_major;
  g.cc_minor = cc_minor;
  return g;
}

namespace {

// "NVIDIA GeForce RTX 4090" -> "rtx4090": vendor and brand words, spaces and dashes dropped.
std::string canonical(std::string_view name) {
  std::string s;
  for (char ch : name)
    if (std::isalnum(static_cast<unsigned char>(ch))) s += char(std::tolower(static_cast<unsigned char>(ch)));
  for (const char* noise : {"nvidia", "geforce", "tesla"}) {
    const std::string n = noise;
    for (size_t at = s.find(n); at != std::string::npos; at = s.find(n)) s.erase(at, n.size());
  }
  return s;
}

// "RTX 3060 12GB" -> "RTX 3060": the table writes the memory as a last word "<n>GB".
std::string without_memory_suffix(const std::string& name) {
  const size_t space = name.rfind(' ');
  if (space == std::string::npos) return name;
  const std::string last = name.substr(space + 1);
  if (last.size() < 3 || last.compare(last.size() - 2, 2, "GB") != 0) return name;
  for (size_t i = 0; i + 2 < last.size(); ++i)
    if (!std::isdigit(static_cast<unsigned char>(last[i]))) return name;
  return name.substr(0, space);
}

}  // namespace

const KnownGpu& find_gpu(std::string_view name) {
  const std::string want = canonical(name);
  if (!want.empty()) {
    for (const KnownGpu& g : known_gpus())
      if (canonical(g.name) == want) return g;
    // A name without the memory suffix ("RTX 3060") matches when exactly one entry has it.
    const KnownGpu* only = nullptr;
    int matches = 0;
    for (const KnownGpu& g : known_gpus()) {
      if (canonical(without_memory_suffix(g.name)) == want) {
        only = &g;
        ++matches;
      }
    }
    if (matches == 1) return *only;
  }
  std::string list;
  for (const KnownGpu& g : known_gpus()) list += std::string(list.empty() ? "" : ", ") + g.name;
  throw_error(ErrorKind::InvalidArgument, "unknown GPU '", std::string(name), "' (known: ", list, "; or give --vram-gb)");
}

bool same_gpu(std::string_view a, std::string_view b) {
  const std::string ca = canonical(a), cb = canonical(b);
  return !ca.empty() && (ca == cb || canonical(without_memory_suffix(std::string(a))) == cb ||
                         ca == canonical(without_memory_suffix(std::string(b))));
}

std::optional<uint64_t> cached_context_bytes(std::string_view gpu_name) {
  std::optional<uint64_t> found;
  for (const CudaContextCache::Entry& e : CudaContextCache().entries())
    if (same_gpu(e.gpu, gpu_name)) found = e.bytes;
  return found;
}

GpuSpec gpu_from_gib(double gib) {
  if (!(gib > 0) || gib > 4096)
    throw_error(ErrorKind::InvalidArgument, "VRAM size must be between 0 and 4096 GiB, got ", std::to_string(gib));
  GpuSpec g;
  g.name = std::to_string(gib).substr(0, std::to_string(gib).find('.') + 2) + " GiB GPU";
  g.total_bytes = uint64_t(gib * double(kGiB));
  g.free_bytes = g.total_bytes;
  return g;
}

}  // namespace hlwq::planner
