// `hlwq logits -m MODEL --ids 1,2,3 --out FILE.npy`: fp32 logits at every input position, as a
// float32 .npy [tokens, vocab]. The reference tests and the GPU checks compare against it.
#if HLWQ_HAVE_SESSION

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "args.h"
#include "kv_flag.h"
#include "command.h"
#include "core/error.h"
#include "session/model_loader.h"

namespace hlwq::cli {
namespace {

const char* kUsage =
    "usage: hlwq logits -m MODEL --ids 1,2,3 --out FILE.npy [--kv fp32|fp16|q4|q3|q2|kXvY]\n"
    "                   [--backend cpu|cuda|auto] [--threads N]\n";

void write_npy(const std::string& path, const std::vector<float>& data, size_t rows, size_t cols) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(rows) + ", " +
                       std::to_string(cols) + "), }";
  header.append(63 - (10 + header.size()) % 64, ' ');
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  if (!out) throw_error(ErrorKind::Io, path, ": cannot open for writing");
  out.write("\x93NUMPY\x01\x00", 8);
  const uint16_t len = uint16_t(header.size());
  out.write(reinterpret_cast<const char*>(&len), 2);
  out << header;
  out.write(reinterpret_cast<const char*>(data.data()), std::streamsize(data.size() * sizeof(float)));
  if (!out) throw_error(ErrorKind::Io, path, ": write failed");
}

int run_logits(const std::vector<std::string>& argv) {
  const Args args(argv, {"m", "model", "ids", "out", "kv", "backend", "threads"}, {"help"});
  if (args.flag("help")) {
    std::printf("%s", kUsage);
    return 0;
  }
  const auto model = args.value("model") ? args.value("model") : args.value("m");
  if (!model || !args.value("ids") || !args.value("out")) {
    std::fprintf(stderr, "%s", kUsage);
    return 2;
  }
  const auto ids = parse_token_ids(*args.value("ids"));
  BackendOptions bo;
  bo.context_length = int(ids.size());
  bo.threads = args.int_or("threads", 0);
  bo.kv = kv_option(args, KvConfig::uniform(32));  // exact by default: this command is a reference
  const BackendKind kind = parse_backend_kind(args.value_or("backend", "cpu"));
  const LoadedModel m = load_model(*model, kind == BackendKind::Cpu ? 0 : 5);
  auto backend = make_backend(kind, m.source, bo);
  const size_t vocab = size_t(m.source.config.vocab_size);
  std::vector<float> logits(ids.size() * vocab);
  backend->forward(ids, 0, logits.data(), int(ids.size()));
  write_npy(*args.value("out"), logits, ids.size(), vocab);
  std::fprintf(stderr, "%zu x %zu logits (%s, KV %s) -> %s\n", ids.size(), vocab, backend->name().c_str(),
               kv_name(backend->kv()).c_str(), args.value("out")->c_str());
  return 0;
}

HLWQ_COMMAND("logits", "fp32 logits of token ids as a .npy file (reference checks)", run_logits);

}  // namespace
}  // namespace hlwq::cli

#endif
