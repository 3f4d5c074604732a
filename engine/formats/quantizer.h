#pragma once
// The streaming HLWQ quantizer: BF16/F16/F32 safetensors in, spec 4.1/4.3 files out (public
// tensor names P__packed / P__norms / P__meta, plus our hlwq_config.json fields). One source
// shard at a time, one tensor at a time, rows in parallel on a ThreadPool: peak memory is about
// one tensor's output plus the pages being read, not the model. The block math runs on a
// BlockQuantizer (block_quantizer.h): the GPU when one is registered and present, else the CPU;
// both give the same bytes.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "formats/block_quantizer.h"
#include "formats/hlwq_codec.h"
#include "formats/tensor_policy.h"

namespace hlwq {

class ThreadPool;

struct QuantizeOptions {
  int bits = 5;                                // 2..5
  Codebook codebook = Codebook::Converged;
  ScaleKind scale = ScaleKind::Norm;
  TensorPolicy policy = make_tensor_policy();
  ThreadPool* pool = nullptr;                  // nullptr: ThreadPool::global()
  QuantizeDevice device = QuantizeDevice::Auto;  // a failing GPU falls back to the CPU (warning)
  std::function<void(const std::string& message)> warn;  // GPU fallback notices; unset: stderr
  std::function<void(double fraction, const std::string& what)> progress;  // fraction of this call's input bytes
};

struct QuantizedShard {
  std::string file_name;                       // output shard file name (inside the destination dir)
  std::vector<std::string> tensors;            // every tensor name written to it
  std::vector<std::string> quantized;          // parameter names P that became P__packed/__norms/__meta
  uint64_t bytes_in = 0, bytes_out = 0;
  std::string device;                          // the BlockQuantizer that finished it ("cpu (2 threads)", "cuda (...)")
};

// Quantizes one source shard into one output shard (the Hub downloader calls this per
// downloaded shard, then deletes the source). Throws Error naming the file and tensor
// (e.g. NaN in a weight). The output appears atomically (written as .partial, then renamed).
QuantizedShard quantize_shard(const std::filesystem::path& src_shard, const std::filesystem::path& dst_shard,
                              const QuantizeOptions& opts);

// hlwq_config.json contents for files quantized with opts (format, block_size, bits, codebook,
// scale, producer).
nlohmann::json make_hlwq_config(const QuantizeOptions& opts);

// After all shards: writes model.safetensors.index.json and hlwq_config.json into dst_dir, and
// copies config/tokenizer/template side files from src_dir (if given and present).
void finish_quantized_dir(const std::filesystem::path& dst_dir, const std::vector<QuantizedShard>& shards,
                          const QuantizeOptions& opts, const std::filesystem::path& src_dir = {});

struct QuantizeReport {
  std::vector<QuantizedShard> shards;
  uint64_t bytes_in = 0, bytes_out = 0;
  double seconds = 0;
  std::string device;  // the BlockQuantizer of the last shard
};

// Whole checkpoint: every shard of src_dir, then finish_quantized_dir. dst_dir is created;
// an existing non-empty dst_dir is an error unless it holds only our partial files.
QuantizeReport quantize_checkpoint(const std::filesystem::path& src_dir, const std::filesystem::path& dst_dir,
                                   const QuantizeOptions& opts);

// Files copied next to the quantized shards (config, tokenizer, chat template, generation config).
bool is_side_file(const std::filesystem::path& file_name);

}  // namespace hlwq
