// Streaming quantizer: reads a source shard through its mapping in row chunks, quantizes rows
// in parallel, streams packed codes out, and hands consumed source pages back to the kernel so
// resident memory stays near one chunk plus one tensor's norms.
#include "formats/quantizer.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <fstream>

#include "core/error.h"
#include "core/half.h"
#include "core/thread_pool.h"
#include "formats/safetensors.h"
#include "hlwq/version.h"

namespace hlwq {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kChunkBytes = 64ull << 20;  // source bytes per parallel step

bool is_float(DType d) { return d == DType::BF16 || d == DType::F16 || d == DType::F32; }

// Lets the kernel drop source pages we are done with (they are file-backed and clean).
void release_pages(const std::byte* begin, const std::byte* end) {
  static const uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE));
  const uintptr_t b = (uintptr_t(begin) + page - 1) & ~(page - 1);
  const uintptr_t e = uintptr_t(end) & ~(page - 1);
  if (e > b) ::madvise(reinterpret_cast<void*>(b), e - b, MADV_DONTNEED);
}

struct Plan {
  const SafetensorsEntry* entry;
  bool quantize;
};

// The BlockQuantizer of one run, shared by its shards. A GPU failure (at start or mid-chunk)
// swaps in the CPU one for the rest of the run and says so once.
class Backend {
 public:
  Backend(const QuantizeOptions& opts, ThreadPool& pool) : opts_(opts), pool_(pool) {
    spec_.bits = opts.bits;
    const auto book = codebook_table(opts.codebook, opts.bits);
    spec_.centroids.assign(book.begin(), book.end());
    spec_.scale = opts.scale;
    std::string why;
    q_ = make_block_quantizer(opts.device, spec_, pool, &why);
    if (!why.empty()) warn("GPU quantization unavailable (" + why + "): quantizing on the CPU");
  }
  std::string name() const { return q_->name(); }

  void quantize(const RowChunk& chunk) {
    try {
      q_->quantize(chunk);
    } catch (const Error& e) {
      if (!q_->is_gpu()) throw;
      warn("GPU quantization failed (" + std::string(e.what()) + "): continuing on the CPU");
      q_ = make_cpu_block_quantizer(spec_, pool_);
      q_->quantize(chunk);  // the chunk's outputs are rewritten whole
    }
  }

 private:
  void warn(const std::string& message) const {
    if (opts_.warn)
      opts_.warn(message);
    else
      std::fprintf(stderr, "warning: %s\n", message.c_str());
  }
  const QuantizeOptions& opts_;
  ThreadPool& pool_;
  BlockQuantizeSpec spec_;
  std::unique_ptr<BlockQuantizer> q_;
};

// Block scales of a chunk: 0x7c00 pattern = inf (norm beyond fp16) or NaN (bad input).
void check_scales(const uint16_t* scales, int64_t rows, int64_t nb, int64_t row0, int64_t cols,
                  const std::string& file, const std::string& tensor) {
  for (int64_t i = 0; i < rows * nb; ++i) {
    const uint16_t s = scales[i];
    if ((s & 0x7c00u) != 0x7c00u) continue;
    const int64_t r = row0 + i / nb, k = i % nb;
    throw_error(ErrorKind::CorruptFile, file, ": tensor ", tensor, ": row ", std::to_string(r), ", columns ",
                std::to_string(k * kHlwqBlock), "..", std::to_string(std::min<int64_t>(cols, (k + 1) * kHlwqBlock) - 1),
                (s & 0x3ffu) ? " hold NaN or infinite values" : " have a norm too large for fp16");
  }
}

}  // namespace

nlohmann::json make_hlwq_config(const QuantizeOptions& opts) {
  const auto book = codebook_table(opts.codebook, opts.bits);
  return {
      {"format", "hlwq-q" + std::to_string(opts.bits)},
      {"block_size", kHlwqBlock},
      {"bits", opts.bits},
      {"codebook", std::vector<float>(book.begin(), book.end())},
      {"codebook_name", codebook_name(opts.codebook)},
      {"scale", opts.scale == ScaleKind::Mse ? "mse" : "norm"},
      {"packing", "big-endian"},
      {"producer", std::string("hlwq-chat ") + kVersion},
  };
}

namespace {

QuantizedShard quantize_shard_with(const fs::path& src_shard, const fs::path& dst_shard, const QuantizeOptions& opts,
                                   Backend& backend) {
  const SafetensorsFile src(src_shard);
  const std::string src_name = src_shard.string();

  std::vector<Plan> plan;
  std::vector<TensorSpec> specs;
  QuantizedShard result;
  result.file_name = dst_shard.filename().string();
  uint64_t total_in = 0;
  for (const auto& e : src.entries()) {
    if (opts.policy.drop && opts.policy.drop(e.name)) continue;
    const bool q = is_float(e.dtype) && opts.policy.is_linear && opts.policy.is_linear(e.name, e.shape);
    plan.push_back({&e, q});
    total_in += e.end - e.begin;
    if (q) {
      const int64_t rows = e.shape[0], cols = e.shape[1];
      const int64_t nb = (cols + kHlwqBlock - 1) / kHlwqBlock;
      const uint64_t ncodes = uint64_t(rows) * uint64_t(nb) * kHlwqBlock;
      specs.push_back({e.name + "__packed", DType::U8, {int64_t(packed_bytes(CodePacking::BigEndianStream, opts.bits, ncodes))}});
      specs.push_back({e.name + "__norms", DType::F16, {rows, nb}});
      specs.push_back({e.name + "__meta", DType::I64, {5}});
      result.tensors.insert(result.tensors.end(), {e.name + "__packed", e.name + "__norms", e.name + "__meta"});
      result.quantized.push_back(e.name);
    } else {
      specs.push_back({e.name, e.dtype, e.shape});
      result.tensors.push_back(e.name);
    }
  }
  fs::create_directories(dst_shard.parent_path().empty() ? fs::path(".") : dst_shard.parent_path());
  SafetensorsWriter out(dst_shard, specs, {{"format", "pt"}});

  uint64_t done = 0;
  auto report = [&](const std::string& what) {
    if (opts.progress) opts.progress(total_in ? double(done) / double(total_in) : 1.0, what);
  };
  for (const Plan& item : plan) {
    const SafetensorsEntry* e = item.entry;  // a plain variable: lambdas below capture it
    const bool q = item.quantize;
    const DenseTensor t = src.tensor(*e);
    const std::byte* base = t.bytes.data();
    if (!q) {
      for (uint64_t off = 0; off < t.bytes.size(); off += kChunkBytes) {
        const uint64_t n = std::min<uint64_t>(kChunkBytes, t.bytes.size() - off);
        out.write(t.bytes.subspan(off, n));
        release_pages(base + off, base + off + n);
        done += n;
        report(e->name);
      }
      continue;
    }
    const int64_t rows = e->shape[0], cols = e->shape[1];
    const int64_t nb = (cols + kHlwqBlock - 1) / kHlwqBlock;
    const uint64_t row_in = uint64_t(cols) * dtype_size(e->dtype);
    const uint64_t row_out = packed_bytes(CodePacking::BigEndianStream, opts.bits, uint64_t(nb) * kHlwqBlock);
    const int64_t chunk_rows = std::max<int64_t>(1, int64_t(kChunkBytes / std::max<uint64_t>(row_in, 1)));
    std::vector<uint16_t> norms(std::size_t(rows * nb));
    std::vector<uint8_t> packed(std::size_t(std::min<int64_t>(chunk_rows, rows)) * row_out);
    for (int64_t r0 = 0; r0 < rows; r0 += chunk_rows) {
      const int64_t nr = std::min(chunk_rows, rows - r0);
      uint16_t* scales = norms.data() + uint64_t(r0 * nb);
      backend.quantize({base + uint64_t(r0) * row_in, e->dtype, nr, cols, packed.data(), scales});
      check_scales(scales, nr, nb, r0, cols, src_name, e->name);
      out.write(std::as_bytes(std::span(packed.data(), std::size_t(nr) * row_out)));
      release_pages(base + uint64_t(r0) * row_in, base + uint64_t(r0 + nr) * row_in);
      done += uint64_t(nr) * row_in;
      report(e->name);
    }
    out.write(std::as_bytes(std::span(norms)));
    const int64_t meta[5] = {rows, nb, kHlwqBlock, rows * nb * kHlwqBlock, cols};
    out.write(std::as_bytes(std::span(meta)));
  }
  out.finish();
  result.bytes_in = src.file_size();
  result.bytes_out = fs::file_size(dst_shard);
  result.device = backend.name();
  return result;
}

}  // namespace

QuantizedShard quantize_shard(const fs::path& src_shard, const fs::path& dst_shard, const QuantizeOptions& opts) {
  Backend backend(opts, opts.pool ? *opts.pool : ThreadPool::global());
  return quantize_shard_with(src_shard, dst_shard, opts, backend);
}

bool is_side_file(const fs::path& file_name) {
  const std::string name = file_name.filename().string();
  if (name == "model.safetensors.index.json" || name == "hlwq_config.json" || name == "polar_config.json") return false;
  const std::string ext = file_name.extension().string();
  return ext == ".json" || ext == ".jinja" || ext == ".txt" || ext == ".model" || ext == ".tiktoken";
}

void finish_quantized_dir(const fs::path& dst_dir, const std::vector<QuantizedShard>& shards,
                          const QuantizeOptions& opts, const fs::path& src_dir) {
  std::map<std::string, std::string> weight_map;
  uint64_t total = 0;
  for (const auto& s : shards) {
    for (const auto& t : s.tensors) weight_map[t] = s.file_name;
    total += s.bytes_out;
  }
  write_safetensors_index(dst_dir, weight_map, total);
  {
    const auto path = dst_dir / "hlwq_config.json";
    std::ofstream out(path);
    out << make_hlwq_config(opts).dump(2) << "\n";
    if (!out) throw_error(ErrorKind::Io, "cannot write ", path.string());
  }
  if (src_dir.empty()) return;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(src_dir, ec)) {
    if (!entry.is_regular_file() || !is_side_file(entry.path())) continue;
    fs::copy_file(entry.path(), dst_dir / entry.path().filename(), fs::copy_options::overwrite_existing, ec);
    if (ec) throw_error(ErrorKind::Io, "cannot copy ", entry.path().string(), " to ", dst_dir.string(), ": ", ec.message());
  }
}

QuantizeReport quantize_checkpoint(const fs::path& src_dir, const fs::path& dst_dir, const QuantizeOptions& opts) {
  const auto start = std::chrono::steady_clock::now();
  codebook_table(opts.codebook, opts.bits);  // reject a bad (codebook, bits) before any work
  if (!fs::is_directory(src_dir)) throw_error(ErrorKind::Io, src_dir.string(), " is not a model directory");
  const auto shards = list_safetensors_shards(src_dir);
  if (shards.empty())
    throw_error(ErrorKind::MissingTensor, src_dir.string(),
                ": no .safetensors files to quantize (a .pt pickle cannot be read: use the BF16 base model)");
  std::error_code ec;
  if (fs::exists(dst_dir)) {
    for (const auto& entry : fs::directory_iterator(dst_dir, ec))
      if (entry.path().extension() == ".safetensors")
        throw_error(ErrorKind::InvalidArgument, dst_dir.string(), " already holds a model (", entry.path().filename().string(), ")");
  }
  fs::create_directories(dst_dir, ec);
  if (ec) throw_error(ErrorKind::Io, "cannot create ", dst_dir.string(), ": ", ec.message());

  uint64_t all_in = 0;
  for (const auto& s : shards) all_in += fs::file_size(s);
  Backend backend(opts, opts.pool ? *opts.pool : ThreadPool::global());
  QuantizeReport report;
  uint64_t before = 0;
  for (const auto& s : shards) {
    QuantizeOptions shard_opts = opts;
    const uint64_t size = fs::file_size(s);
    if (opts.progress)
      shard_opts.progress = [&, size](double f, const std::string& what) {
        opts.progress(all_in ? (double(before) + f * double(size)) / double(all_in) : 1.0, what);
      };
    report.shards.push_back(quantize_shard_with(s, dst_dir / s.filename(), shard_opts, backend));
    report.bytes_in += report.shards.back().bytes_in;
    report.bytes_out += report.shards.back().bytes_out;
    before += size;
  }
  finish_quantized_dir(dst_dir, report.shards, opts, src_dir);
  report.device = backend.name();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace hlwq
