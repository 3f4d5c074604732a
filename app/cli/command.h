#pragma once
// Each `hlwq` subcommand lives in its own cmd_NAME.cpp and registers itself with
// HLWQ_COMMAND, so adding a command never touches main.cpp.
#include <string>
#include <vector>

namespace hlwq::cli {

using CommandFn = int (*)(const std::vector<std::string>& args);  // args after the command name

struct Command {
  const char* name;
  const char* summary;  // one line for `hlwq --help`
  CommandFn run;
};

const std::vector<Command>& commands();

struct Registrar {
  explicit Registrar(Command command);
};

}  // namespace hlwq::cli

#define HLWQ_COMMAND(NAME, SUMMARY, FN) \
  static const ::hlwq::cli::Registrar hlwq_command_registrar_##FN{{NAME, SUMMARY, FN}}
