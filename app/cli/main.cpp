// `hlwq`: the command-line face of the engine. Subcommands register themselves (command.h).
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "command.h"
#include "core/error.h"
#include "hlwq/version.h"

namespace hlwq::cli {

static std::vector<Command>& registry() {
  static std::vector<Command> list;
  return list;
}

const std::vector<Command>& commands() { return registry(); }

Registrar::Registrar(Command command) { registry().push_back(command); }

static void print_usage() {
  std::printf("hlwq %s: run HLWQ-quantized models\n\nusage: hlwq <command> [options]\n\ncommands:\n", kVersion);
  auto list = commands();
  std::sort(list.begin(), list.end(), [](const Command& a, const Command& b) { return std::string(a.name) < b.name; });
  for (const auto& c : list) std::printf("  %-12s %s\n", c.name, c.summary);
  std::printf("\n  --version    print the version\n  --help       this text\n");
}

}  // namespace hlwq::cli

int main(int argc, char** argv) {
  using namespace hlwq::cli;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    print_usage();
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "--version" || args[0] == "version") {
    std::printf("hlwq %s\n", hlwq::kVersion);
    return 0;
  }
  for (const auto& c : commands()) {
    if (args[0] == c.name) {
      try {
        return c.run(std::vector<std::string>(args.begin() + 1, args.end()));
      } catch (const hlwq::Error& e) {
        std::fprintf(stderr, "hlwq %s: %s: %s\n", c.name, hlwq::to_string(e.kind()), e.what());
        return 1;
      } catch (const std::exception& e) {
        std::fprintf(stderr, "hlwq %s: %s\n", c.name, e.what());
        return 1;
      }
    }
  }
  std::fprintf(stderr, "hlwq: unknown command '%s' (see hlwq --help)\n", args[0].c_str());
  return 2;
}
