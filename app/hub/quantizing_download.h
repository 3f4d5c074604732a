#pragma once
// Quantize-while-downloading for BF16 sources (how Qwopus3.5-27B-v3 reaches users): fetch one
// safetensors shard, quantize it to HLWQ with hlwq_formats' quantize_shard, delete the shard,
// continue. Peak disk use is the quantized model plus one source shard instead of the whole
// BF16 checkpoint. A state file in the output folder (.hlwq-download-state.json) records the
// finished shards, so an interrupted run resumes at the right shard (and a half-downloaded
// shard resumes by Range from its .incomplete file).
#include <filesystem>
#include <string>

#include "hub/downloader.h"

namespace hlwq::hub {

struct QuantizeRequest {
  DownloadRequest source;                // the BF16 repo; include/exclude filter its files
  int bits = 5;                          // 2..5
  std::filesystem::path output_dir;      // empty: default_quantized_dir()
};

// True when this build has the quantizer (hlwq_formats linked).
bool quantize_while_downloading_available();

// Returns the output folder: an HLWQ model directory (config, tokenizer, quantized shards,
// model.safetensors.index.json, hlwq_config.json) that load_checkpoint reads. Side files
// (config, tokenizer) also land in the HF cache like any download. Progress lists one row
// per shard (Downloading -> Quantizing -> Done). Throws like Downloader::download, plus
// Error{UnsupportedArch} without hlwq_formats or without safetensors shards, and
// Error{InvalidArgument} when output_dir holds another repo, commit or width.
std::filesystem::path download_and_quantize(Downloader& downloader, const QuantizeRequest& request,
                                            const ProgressCallback& progress = {});

// $HF_HOME/hlwq/<org>--<name>-HLWQ-Q<bits>
std::filesystem::path default_quantized_dir(const HubSettings& settings, const std::string& repo, int bits);

}  // namespace hlwq::hub
