#pragma once
// Reference fixtures made by tools/tokenizer_ref/make_fixtures.py with HF `tokenizers` and
// `sentencepiece`: built once per build tree (under a file lock, as ctest runs tests in
// parallel) and read as records of text + ids.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace hlwq::test {

struct Case {
  int kind;  // see make_fixtures.py: 0 encode+round trip, 1 encode special-as-text, 2 decode, 3 decode skipping special, 4 encode only
  std::string text;
  std::vector<int32_t> ids;
};

// The fixture folder, or nullopt (with *why set) when HLWQ_REFERENCE_DATA is unset.
std::optional<std::filesystem::path> reference_fixtures(std::string* why);
std::vector<Case> read_cases(const std::filesystem::path& file);

// A chat prompt from plain_span_cases.py: the byte ranges of its message contents, the
// special-token strings inside them, and the reference ids.
struct PromptCase {
  std::string text;
  std::vector<Tokenizer::ByteRange> contents, forged;
  std::vector<int32_t> ids;
};
std::vector<PromptCase> read_prompt_cases(const std::filesystem::path& file);

// The first 64 ids, comma-separated, for failure messages.
std::string show_ids(const std::vector<int32_t>& ids);

}  // namespace hlwq::test
