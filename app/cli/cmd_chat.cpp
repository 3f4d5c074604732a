// `hlwq chat -m MODEL`: an interactive, streaming terminal chat on the Session API.
// Commands: /exit, /reset, /kv MODE (converts the cache in place), /stats, /think on|off.
#if HLWQ_HAVE_SESSION

#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "args.h"
#include "command.h"
#include "core/error.h"
#include "generation_flags.h"

namespace hlwq::cli {
namespace {

Session* g_session = nullptr;

void on_sigint(int) {
  if (g_session) g_session->cancel();  // stops the answer within one token; a second ^C quits
  std::signal(SIGINT, SIG_DFL);
}

void print_stats(const SessionStats& s) {
  std::printf("[%s on %s] %s | prompt %.1f tok/s, generation %.2f tok/s, first token %.2f s\n"
              "context %d/%d | KV %s: %.1f KiB (fp16: %.1f KiB) | DeltaNet state %.1f KiB | weights %.1f MiB\n",
              s.backend.c_str(), s.device.c_str(), s.model_name.c_str(), s.prompt_tokens_per_s,
              s.generation_tokens_per_s, s.time_to_first_token_s, s.context_used, s.context_max,
              kv_name(s.kv).c_str(), s.memory.kv_used / 1024.0, s.memory.kv_used_fp16 / 1024.0,
              s.memory.recurrent_state / 1024.0, (s.memory.weights + s.memory.embedding) / 1048576.0);
}

int run_chat(const std::vector<std::string>& argv) {
  const Args args(argv, kGenerationValueFlags, {"help", "no-think", "greedy"});
  if (args.flag("help")) {
    std::printf("usage: hlwq chat -m MODEL [options]\n%s"
                "In the chat: /exit, /reset, /kv fp16|q4|q3|q2|kXvY, /stats, /think on|off\n",
                kGenerationUsage);
    return 0;
  }
  auto session = make_engine_session();
  session->load(load_options(args), [](double f, const std::string& what) {
    std::fprintf(stderr, "\r%3d%% %-60.60s", int(f * 100), what.c_str());
  });
  std::fprintf(stderr, "\r%70s\r", "");
  note_gpu_unused(session->stats().gpu_unused);
  GenerationOptions gen = generation_options(args);
  std::vector<ChatMessage> messages;
  if (auto sys = args.value("system")) messages.push_back({"system", *sys, "", nullptr, ""});
  g_session = session.get();
  const bool color = isatty(STDOUT_FILENO);
  std::printf("%s loaded on %s. /exit to quit.\n", session->stats().model_name.c_str(), session->stats().device.c_str());
  std::string line;
  for (;;) {
    std::printf(color ? "\x1b[1m> \x1b[0m" : "> ");
    std::fflush(stdout);
    if (!std::getline(std::cin, line)) break;
    if (line.empty()) continue;
    if (line == "/exit" || line == "/quit") break;
    try {
      if (line == "/reset") {
        messages.resize(args.value("system") ? 1 : 0);
        session->reset();
        continue;
      }
      if (line == "/stats") {
        print_stats(session->stats());
        continue;
      }
      if (line.rfind("/think", 0) == 0) {
        gen.enable_thinking = line.find("off") == std::string::npos;
        std::printf("thinking %s\n", gen.enable_thinking ? "on" : "off");
        continue;
      }
      if (line.rfind("/kv ", 0) == 0) {
        auto kv = parse_kv_name(line.substr(4));
        if (!kv) {
          std::printf("unknown KV mode '%s' (fp16, q4, q3, q2, kXvY)\n", line.substr(4).c_str());
          continue;
        }
        session->set_kv(*kv);
        const auto s = session->stats();
        std::printf("KV cache now %s: %.1f KiB for %d tokens\n", kv_name(s.kv).c_str(), s.memory.kv_used / 1024.0,
                    s.context_used);
        continue;
      }
      messages.push_back({"user", line, "", nullptr, ""});
      std::signal(SIGINT, on_sigint);
      bool in_thinking = false;
      const ChatResult r = session->chat(messages, gen, [&](const StreamEvent& e) {
        const bool thinking = e.channel == StreamEvent::Channel::Thinking;
        if (thinking != in_thinking) {
          std::fputs(thinking ? (color ? "\x1b[2m" : "<think>\n") : (color ? "\x1b[0m\n" : "\n</think>\n"), stdout);
          in_thinking = thinking;
        }
        std::fputs(e.text.c_str(), stdout);
        std::fflush(stdout);
      });
      std::signal(SIGINT, SIG_DFL);
      if (in_thinking) std::fputs(color ? "\x1b[0m" : "\n</think>", stdout);
      std::printf("%s\n", r.stop_reason == "cancelled" ? " [stopped]" : "");
      messages.push_back({"assistant", r.answer, r.reasoning, nullptr, ""});
    } catch (const Error& e) {
      std::signal(SIGINT, SIG_DFL);
      std::fprintf(stderr, "error (%s): %s\n", to_string(e.kind()), e.what());
      if (!messages.empty() && messages.back().role == "user") messages.pop_back();
    }
  }
  g_session = nullptr;
  return 0;
}

HLWQ_COMMAND("chat", "interactive streaming chat in the terminal", run_chat);

}  // namespace
}  // namespace hlwq::cli

#endif
