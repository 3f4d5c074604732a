// `hlwq tokenize`: text -> ids (or ids -> text with --decode) with a model's own tokenizer, for
// users debugging prompts and for tests.
#if HLWQ_HAVE_TOKENIZER
#include <charconv>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "args.h"
#include "command.h"
#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace hlwq::cli {
namespace {

constexpr const char* kUsage =
    "usage: hlwq tokenize -m MODEL_DIR_OR_TOKENIZER [--ids] [--no-special] TEXT|-\n"
    "       hlwq tokenize -m MODEL_DIR_OR_TOKENIZER --decode [--skip-special] IDS|-\n"
    "  prints the ids of TEXT comma-separated on one line (--ids, the default), or with --decode\n"
    "  the text of IDS (\"1,2,3\") with its bytes unchanged. '-' reads standard input.\n"
    "  --no-special    special-token strings in TEXT stay plain text\n"
    "  --skip-special  leave special tokens out of decoded text\n";

std::string read_stdin() {
  std::ios::sync_with_stdio(false);
  std::cin >> std::noskipws;
  return {std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
}

std::vector<int32_t> parse_ids(const std::string& text) {
  std::vector<int32_t> ids;
  std::size_t i = 0;
  auto separator = [](char c) { return c == ',' || c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '[' || c == ']'; };
  while (i < text.size()) {
    if (separator(text[i])) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < text.size() && !separator(text[j])) ++j;
    int32_t id = 0;
    auto [end, ec] = std::from_chars(text.data() + i, text.data() + j, id);
    if (ec != std::errc() || end != text.data() + j)
      throw_error(ErrorKind::InvalidArgument, "'", text.substr(i, j - i), "' is not a token id (expected comma-separated integers)");
    ids.push_back(id);
    i = j;
  }
  return ids;
}

int run_tokenize(const std::vector<std::string>& argv) {
  const Args args(argv, {"m", "model"}, {"ids", "decode", "no-special", "skip-special", "help"});
  if (args.flag("help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  const auto model = args.value("m") ? args.value("m") : args.value("model");
  if (!model || args.positionals().size() != 1) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  if (args.flag("decode") && args.flag("ids")) throw_error(ErrorKind::InvalidArgument, "--ids and --decode exclude each other");
  const std::string input = args.positionals()[0] == "-" ? read_stdin() : args.positionals()[0];
  const auto tokenizer = Tokenizer::load(*model);
  if (args.flag("decode")) {
    const std::string text = tokenizer->decode(parse_ids(input), args.flag("skip-special"));
    std::fwrite(text.data(), 1, text.size(), stdout);
    return 0;
  }
  const auto ids = tokenizer->encode(input, !args.flag("no-special"));
  std::string line;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i) line += ',';
    line += std::to_string(ids[i]);
  }
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stdout);
  return 0;
}

}  // namespace

HLWQ_COMMAND("tokenize", "text <-> token ids with a model's tokenizer", run_tokenize);

}  // namespace hlwq::cli
#endif
