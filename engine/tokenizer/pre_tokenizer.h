#pragma once
// tokenizer.json "pre_tokenizer": splits normalized text into the pieces the model encodes
// one by one (Qwen: a Split regex, then ByteLevel's byte-to-character mapping).
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/json_fields.h"

namespace hlwq {

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Rewrites `pieces` (valid UTF-8, none empty) into the next list. at_text_start: pieces[0]
  // begins the whole input (some schemes prepend a marker only there).
  virtual void pre_tokenize(std::vector<std::string>& pieces, bool at_text_start) const = 0;
  // Whether the pieces come out in GPT-2's byte-level alphabet (decides how ids map to bytes).
  virtual bool is_byte_level() const { return false; }
};

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const tokjson::Json& j, const tokjson::Where& where);

}  // namespace hlwq
