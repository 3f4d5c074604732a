#pragma once
// tokenizer.json "normalizer": text rewrites applied before splitting (NFC for Qwen, the
// Prepend/Replace sequence of sentencepiece-style BPE files).
#include <memory>
#include <string>

#include "tokenizer/json_fields.h"

namespace hlwq {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(std::string& text) const = 0;  // text is valid UTF-8
};

// nullptr for a JSON null. Throws Error{Tokenizer} naming the field for unknown types.
std::unique_ptr<Normalizer> make_normalizer(const tokjson::Json& j, const tokjson::Where& where);

}  // namespace hlwq
