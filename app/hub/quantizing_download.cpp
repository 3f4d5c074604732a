#include "hub/quantizing_download.h"

#include <fnmatch.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>

#include "core/error.h"
#include "hub/blob_fetcher.h"
#include "hub/hub_error.h"

#if HLWQ_HAVE_FORMATS
#include "formats/quantizer.h"
#endif

namespace fs = std::filesystem;
using nlohmann::json;

namespace hlwq::hub {

namespace {

constexpr const char* kStateFile = ".hlwq-download-state.json";
constexpr const char* kWorkDir = ".download";

bool is_shard(const std::string& path) { return fnmatch("*.safetensors", path.c_str(), 0) == 0; }

// Pickles are never fetched (spec 4.5): they are not needed and nothing may load them.
bool is_pickle(const std::string& path) {
  for (const char* g : {"*.bin", "*.pt", "*.pth", "*.pkl", "*.ckpt"})
    if (fnmatch(g, path.c_str(), 0) == 0) return true;
  return false;
}

bool selected(const std::string& path, const DownloadRequest& r) {
  auto any = [&](const std::vector<std::string>& globs) {
    return std::any_of(globs.begin(), globs.end(), [&](const std::string& g) { return fnmatch(g.c_str(), path.c_str(), 0) == 0; });
  };
  return (r.include.empty() || any(r.include)) && !any(r.exclude);
}

json read_state(const fs::path& file) {
  std::ifstream in(file);
  if (!in) return json::object();
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw_error(ErrorKind::BadJson, file.string(), ": ", e.what(), " (delete it to start the quantized download over)");
  }
}

void write_state(const fs::path& file, const json& state) {
  fs::path temp = file;
  temp += ".tmp";
  {
    std::ofstream out(temp, std::ios::trunc);
    out << state.dump(1) << "\n";
    if (!out.flush()) throw_error(ErrorKind::Io, "cannot write ", temp.string(), " (disk full?)");
  }
  std::error_code ec;
  fs::rename(temp, file, ec);
  if (ec) throw_error(ErrorKind::Io, "cannot write ", file.string(), ": ", ec.message());
}

}  // namespace

fs::path default_quantized_dir(const HubSettings& settings, const std::string& repo, int bits) {
  std::string name = repo;
  name.replace(name.find('/'), 1, "--");
  return settings.hf_home / "hlwq" / (name + "-HLWQ-Q" + std::to_string(bits));
}

#if !HLWQ_HAVE_FORMATS

bool quantize_while_downloading_available() { return false; }

fs::path download_and_quantize(Downloader&, const QuantizeRequest& request, const ProgressCallback&) {
  throw_error(ErrorKind::UnsupportedArch, "quantize-while-downloading of ", request.source.repo,
              " needs the HLWQ quantizer (hlwq_formats), which this build does not have");
}

#else

bool quantize_while_downloading_available() { return true; }

fs::path download_and_quantize(Downloader& downloader, const QuantizeRequest& request, const ProgressCallback& progress) {
  const HubSettings& s = downloader.settings();
  const DownloadRequest& src = request.source;
  validate_repo_id(src.repo);
  if (request.bits < 2 || request.bits > 5)
    throw_error(ErrorKind::InvalidArgument, "--quantize ", std::to_string(request.bits), ": HLWQ widths are 2..5 bits");
  fs::path out = request.output_dir.empty() ? default_quantized_dir(s, src.repo, request.bits) : request.output_dir;
  fs::path state_file = out / kStateFile;
  json state = read_state(state_file);
  if (s.offline) {
    if (state.value("complete", false)) return out;
    throw HubError(HubErrorCode::Offline, 0, src.repo + " is not quantized in " + out.string() + " yet and HF_HUB_OFFLINE is set");
  }

  const HubClient& client = downloader.client();
  ModelInfo info = client.model_info(src.repo, src.revision);
  const std::string commit = info.sha;
  std::vector<RepoFile> shards;
  std::vector<std::string> side;
  for (auto& f : client.list_files(src.repo, commit)) {
    if (!selected(f.path, src) || is_pickle(f.path)) continue;
    if (is_shard(f.path)) shards.push_back(std::move(f));
    else if (is_side_file(fs::path(f.path).filename()) || f.path == "model.safetensors.index.json") side.push_back(f.path);
  }
  if (shards.empty())
    throw_error(ErrorKind::UnsupportedArch, src.repo, "@", src.revision, " has no .safetensors shards to quantize");

  if (!state.empty() &&
      (state.value("repo", "") != src.repo || state.value("commit", "") != commit || state.value("bits", 0) != request.bits))
    throw_error(ErrorKind::InvalidArgument, out.string(), " holds ", state.value("repo", "?"), "@", state.value("commit", "?"),
                " at ", std::to_string(state.value("bits", 0)), " bits, not ", src.repo, "@", commit, " at ",
                std::to_string(request.bits), ": choose another output folder or delete it");
  if (state.empty()) state = {{"repo", src.repo}, {"commit", commit}, {"bits", request.bits}, {"shards", json::object()}, {"complete", false}};
  fs::create_directories(out / kWorkDir);
  write_state(state_file, state);

  // Side files (config, tokenizer, index) go through the normal cache: small, shared with HF tools.
  fs::path snapshot;
  if (!side.empty()) {
    DownloadRequest side_request{src.repo, commit, side, {}};
    snapshot = downloader.download(side_request, progress);
  }

  // Disk: the quantized output (bits/16 of BF16, plus norms) and one source shard at a time.
  auto done = [&](const RepoFile& f) {
    return state["shards"].contains(f.path) && fs::exists(out / state["shards"][f.path].value("file_name", ""));
  };
  uint64_t need = 0, largest = 0;
  for (const auto& f : shards)
    if (!done(f)) {
      need += f.size * uint64_t(request.bits) / 16 + f.size / 64;
      largest = std::max(largest, f.size);
    }
  require_disk_space(out, need + largest, src.repo + " quantized to Q" + std::to_string(request.bits));

  QuantizeOptions opts;
  opts.bits = request.bits;
  DownloadProgress report;
  for (const auto& f : shards) {
    report.files.push_back({f.path, 0, f.size, 0, done(f) ? FileState::Done : FileState::Queued, ""});
    report.bytes_total += f.size;
  }
  auto last_emit = std::chrono::steady_clock::now() - std::chrono::hours(1);
  auto t0 = std::chrono::steady_clock::now();
  uint64_t bytes_this_run = 0;
  auto emit = [&](bool force) {
    auto now = std::chrono::steady_clock::now();
    if (!progress || (!force && now - last_emit < downloader.progress_interval)) return;
    last_emit = now;
    report.bytes_done = 0;
    report.files_done = 0;
    for (const auto& f : report.files) {
      report.bytes_done += f.bytes_done;
      report.files_done += f.state == FileState::Done;
    }
    double secs = std::chrono::duration<double>(now - t0).count();
    report.bytes_per_second = secs > 0.5 ? double(bytes_this_run) / secs : 0;
    report.eta_seconds = report.bytes_per_second > 0 ? double(report.bytes_total - report.bytes_done) / report.bytes_per_second : -1;
    report.paused = downloader.control().paused();
    progress(report);
  };

  std::vector<QuantizedShard> results;
  for (size_t i = 0; i < shards.size(); ++i) {
    const RepoFile& f = shards[i];
    FileProgress& row = report.files[i];
    if (done(f)) {
      row.bytes_done = f.size;
      continue;
    }
    downloader.control().wait_while_paused();
    row.state = FileState::Checking;
    emit(true);
    const FileMetadata meta = client.file_metadata(src.repo, f.path, commit);
    BlobTarget target = blob_target_for(f, meta, commit);
    target.final_path = out / kWorkDir / (meta.etag + ".safetensors");
    target.lock_path = out / kWorkDir / (meta.etag + ".lock");
    BlobObserver observer;
    uint64_t previous = 0;
    observer.on_bytes = [&](uint64_t bytes) {
      bytes_this_run += bytes > previous ? bytes - previous : 0;
      previous = bytes;
      row.bytes_done = bytes;
      emit(false);
    };
    observer.on_state = [&](FileState st, const std::string& message) {
      row.state = st;
      row.message = message;
      emit(true);
    };
    fetch_blob_refreshing(client, src.repo, f.path, target, downloader.control(), observer);

    row.state = FileState::Quantizing;
    emit(true);
    opts.progress = [&](double, const std::string&) {
      if (downloader.control().cancelled()) throw_error(ErrorKind::Cancelled, "quantizing ", f.path, " cancelled");
    };
    fs::path dst = out / fs::path(f.path).filename();
    QuantizedShard q = quantize_shard(target.final_path, dst, opts);
    state["shards"][f.path] = {{"file_name", q.file_name}, {"tensors", q.tensors}, {"quantized", q.quantized},
                               {"bytes_in", q.bytes_in}, {"bytes_out", q.bytes_out}};
    write_state(state_file, state);  // before deleting the source: a crash here re-quantizes nothing
    std::error_code ec;
    fs::remove(target.final_path, ec);
    fs::remove(target.lock_path, ec);
    row.state = FileState::Done;
    row.bytes_done = f.size;
    emit(true);
  }

  for (const auto& f : shards) {
    const json& e = state["shards"][f.path];
    QuantizedShard q;
    q.file_name = e.value("file_name", "");
    q.tensors = e.value("tensors", std::vector<std::string>{});
    q.quantized = e.value("quantized", std::vector<std::string>{});
    q.bytes_in = e.value("bytes_in", uint64_t(0));
    q.bytes_out = e.value("bytes_out", uint64_t(0));
    results.push_back(std::move(q));
  }
  finish_quantized_dir(out, results, opts, snapshot);
  state["complete"] = true;
  write_state(state_file, state);
  std::error_code ec;
  fs::remove_all(out / kWorkDir, ec);
  emit(true);
  return out;
}

#endif

}  // namespace hlwq::hub
