// `hlwq run`: one answer to one prompt, streamed (through the Session, like the app), or raw
// token ids in and out (`--ids 1,2,3 --greedy -n N --print-ids`, straight on a backend).
#if HLWQ_HAVE_SESSION

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "args.h"
#include "command.h"
#include "core/error.h"
#include "generation_flags.h"
#include "models/sampler.h"
#include "session/model_loader.h"
#include "tokenizer/tokenizer.h"

namespace hlwq::cli {
namespace {

void print_usage(FILE* f) {
  std::fprintf(f,
               "usage: hlwq run -m MODEL -p PROMPT [options]\n"
               "       hlwq run -m MODEL --ids 1,2,3 [--greedy] [-n N] [--print-ids] [options]\n"
               "  -p, --prompt TEXT       the user message\n"
               "  --system TEXT           a system message\n"
               "  --ids LIST              raw token ids instead of a chat prompt\n"
               "  --greedy                temperature 0\n"
               "  --print-ids             print generated ids (comma separated) instead of text\n"
               "  --stats                 print speed and memory to stderr\n%s",
               kGenerationUsage);
}

int run_ids(const Args& args) {
  const auto ids = parse_token_ids(*args.value("ids"));
  const GenerationOptions g = generation_options(args);
  LoadOptions lo = load_options(args);
  const LoadedModel m = load_model(lo.model, lo.backend == BackendKind::Cpu ? 0 : lo.quantize_bits);
  BackendOptions bo;
  bo.context_length = std::max<int>(lo.context_length, int(ids.size()) + g.max_new_tokens);
  bo.kv = lo.kv;
  bo.threads = lo.threads;
  std::string gpu_unused;
  auto backend = make_backend(lo.backend, m.source, bo, &gpu_unused);
  note_gpu_unused(gpu_unused);
  std::vector<float> logits(static_cast<size_t>(m.source.config.vocab_size));
  backend->forward(ids, 0, logits.data(), 1);
  std::vector<int32_t> history = ids, out;
  const uint64_t seed = g.sampling.seed ? g.sampling.seed : 0x5eed;
  int32_t next = sample_token(logits, g.sampling, history, sampling_uniform(seed, 0));
  for (int i = 0; i < g.max_new_tokens; ++i) {
    out.push_back(next);
    history.push_back(next);
    if (!args.flag("ignore-eos") && std::find(m.eos_ids.begin(), m.eos_ids.end(), next) != m.eos_ids.end()) break;
    if (i + 1 == g.max_new_tokens) break;
    next = backend->decode_and_sample(next, int(history.size()) - 1, g.sampling, history,
                                      sampling_uniform(seed, uint64_t(i + 1)));
  }
  if (args.flag("print-ids")) {
    for (size_t i = 0; i < out.size(); ++i) std::printf("%s%d", i ? "," : "", out[i]);
    std::printf("\n");
  } else {
    auto tok = Tokenizer::load(m.dir);
    std::printf("%s\n", tok->decode(out).c_str());
  }
  return 0;
}

int run_run(const std::vector<std::string>& argv) {
  auto value_flags = kGenerationValueFlags;
  value_flags.insert({"p", "prompt", "ids"});
  const Args args(argv, value_flags, {"help", "greedy", "print-ids", "no-think", "stats", "ignore-eos"});
  if (args.flag("help")) {
    print_usage(stdout);
    return 0;
  }
  if (args.value("ids")) return run_ids(args);
  const auto prompt = args.value("prompt") ? args.value("prompt") : args.value("p");
  if (!prompt) {
    print_usage(stderr);
    return 2;
  }
  auto session = make_engine_session();
  const bool tty = isatty(STDERR_FILENO);
  session->load(load_options(args), [&](double f, const std::string& what) {
    if (tty) std::fprintf(stderr, "\r%3d%% %-60.60s", int(f * 100), what.c_str());
  });
  if (tty) std::fprintf(stderr, "\r%70s\r", "");
  note_gpu_unused(session->stats().gpu_unused);
  std::vector<ChatMessage> messages;
  if (auto sys = args.value("system")) messages.push_back({"system", *sys, "", nullptr, ""});
  messages.push_back({"user", *prompt, "", nullptr, ""});
  const bool color = isatty(STDOUT_FILENO);
  bool in_thinking = false;
  const ChatResult r = session->chat(messages, generation_options(args), [&](const StreamEvent& e) {
    const bool thinking = e.channel == StreamEvent::Channel::Thinking;
    if (thinking != in_thinking) {
      std::fputs(thinking ? (color ? "\x1b[2m<think>\n" : "<think>\n") : (color ? "</think>\x1b[0m\n\n" : "</think>\n\n"), stdout);
      in_thinking = thinking;
    }
    std::fputs(e.text.c_str(), stdout);
    std::fflush(stdout);
  });
  if (in_thinking) std::fputs(color ? "</think>\x1b[0m\n" : "</think>\n", stdout);
  std::printf("\n");
  if (args.flag("stats")) {
    const auto& s = r.stats;
    std::fprintf(stderr,
                 "[%s on %s] prompt %d tok %.1f tok/s, generated %d tok %.2f tok/s, first token %.2f s, stop: %s\n"
                 "context %d/%d, KV %s %.1f KiB used (fp16 would be %.1f KiB), state %.1f KiB\n",
                 s.backend.c_str(), s.device.c_str(), s.prompt_tokens, s.prompt_tokens_per_s, s.generated_tokens,
                 s.generation_tokens_per_s, s.time_to_first_token_s, r.stop_reason.c_str(), s.context_used,
                 s.context_max, kv_name(s.kv).c_str(), s.memory.kv_used / 1024.0, s.memory.kv_used_fp16 / 1024.0,
                 s.memory.recurrent_state / 1024.0);
  }
  return 0;
}

HLWQ_COMMAND("run", "answer one prompt (or continue raw token ids) with a model", run_run);

}  // namespace
}  // namespace hlwq::cli

#endif
