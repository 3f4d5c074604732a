// `hlwq download REPO`: fetch a model from the Hugging Face Hub into the shared HF cache, or
// quantize a BF16 source shard by shard while downloading (--quantize BITS).
#if HLWQ_HAVE_HUB

#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "args.h"
#include "command.h"
#include "core/error.h"
#include "hub/downloader.h"
#include "hub/quantizing_download.h"

namespace hlwq::cli {
namespace {

std::string human_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u ? "%.2f %s" : "%.0f %s", bytes, units[u]);
  return buf;
}

std::string clock_text(double seconds) {
  if (seconds < 0) return "--:--";
  long s = long(seconds + 0.5);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  return buf;
}

// One line, rewritten in place on a terminal; a new line every few updates otherwise (logs).
class ProgressLine {
 public:
  explicit ProgressLine(bool quiet) : quiet_(quiet), tty_(::isatty(2)) {}
  void operator()(const hub::DownloadProgress& p) {
    if (quiet_) return;
    last_ = p;
    printed_last_ = false;
    if (!tty_ && ++calls_ % 8 != 0) return;
    print(p);
  }
  void finish() {
    if (!quiet_ && !printed_last_ && !last_.files.empty()) print(last_);
    if (!quiet_ && tty_) std::fprintf(stderr, "\n");
  }

 private:
  void print(const hub::DownloadProgress& p) {
    printed_last_ = true;
    double pct = p.bytes_total ? 100.0 * double(p.bytes_done) / double(p.bytes_total) : 100.0;
    std::string current;
    for (const auto& f : p.files)
      if (f.state != hub::FileState::Done && f.state != hub::FileState::Queued) {
        current = f.path + " (" + hub::to_string(f.state) + (f.message.empty() ? "" : ": " + f.message) + ")";
        break;
      }
    std::fprintf(stderr, "%s%5.1f%%  %s / %s  %s/s  ETA %s  files %d/%zu%s  %s%s", tty_ ? "\r\033[K" : "", pct,
                 human_bytes(double(p.bytes_done)).c_str(), human_bytes(double(p.bytes_total)).c_str(),
                 human_bytes(p.bytes_per_second).c_str(), clock_text(p.eta_seconds).c_str(), p.files_done, p.files.size(),
                 p.paused ? " [paused]" : "", current.c_str(), tty_ ? "" : "\n");
    std::fflush(stderr);
  }

  bool quiet_, tty_;
  long calls_ = 0;
  hub::DownloadProgress last_;
  bool printed_last_ = true;
};

int run_download(const std::vector<std::string>& argv) {
  Args args(argv, {"revision", "include", "exclude", "quantize", "cache", "output", "parallel"},
            {"quiet", "help"});
  if (args.flag("help") || args.positionals().size() != 1) {
    std::fprintf(args.flag("help") ? stdout : stderr,
                 "usage: hlwq download REPO [--revision REV] [--include GLOB]... [--exclude GLOB]...\n"
                 "                          [--quantize BITS] [--output DIR] [--cache DIR] [--parallel N] [--quiet]\n"
                 "Downloads org/name from the Hugging Face Hub (HF_ENDPOINT, HF_TOKEN, HF_HOME, HF_HUB_CACHE,\n"
                 "HF_HUB_OFFLINE) into the shared HF cache and prints the local folder. --quantize BITS fetches a\n"
                 "BF16 checkpoint one shard at a time and keeps only the HLWQ-quantized result (--output DIR).\n"
                 "Interrupted downloads resume where they stopped.\n");
    return args.flag("help") ? 0 : 2;
  }
  hub::HubSettings settings = hub::HubSettings::from_environment();
  if (auto cache = args.value("cache")) settings.cache_dir = *cache;
  settings.parallel_files = args.int_or("parallel", settings.parallel_files);
  if (settings.parallel_files < 1 || settings.parallel_files > 32)
    throw_error(ErrorKind::InvalidArgument, "--parallel ", std::to_string(settings.parallel_files), ": use 1..32");

  hub::DownloadRequest request;
  request.repo = args.positionals()[0];
  request.revision = args.value_or("revision", "main");
  request.include = args.values("include");
  request.exclude = args.values("exclude");

  hub::Downloader downloader(settings);
  ProgressLine line(args.flag("quiet"));
  auto progress = [&](const hub::DownloadProgress& p) { line(p); };
  std::filesystem::path result;
  if (args.value("quantize")) {
    hub::QuantizeRequest q;
    q.source = request;
    q.bits = args.int_or("quantize", 5);
    if (auto out = args.value("output")) q.output_dir = *out;
    result = hub::download_and_quantize(downloader, q, progress);
  } else {
    if (args.value("output")) throw_error(ErrorKind::InvalidArgument, "--output only applies with --quantize");
    result = downloader.download(request, progress);
  }
  line.finish();
  std::printf("%s\n", result.string().c_str());
  return 0;
}

}  // namespace

HLWQ_COMMAND("download", "download a model from the Hugging Face Hub (optionally quantizing)", run_download);

}  // namespace hlwq::cli

#endif  // HLWQ_HAVE_HUB
