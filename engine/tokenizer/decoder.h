#pragma once
// tokenizer.json "decoder": turns each token's vocabulary spelling back into the bytes it
// stands for. Decoders work token by token (with the token's position), so decoding can
// stream; the final UTF-8 repair happens once over the concatenation (tokenizer.cpp).
#include <cstddef>
#include <memory>
#include <string>

#include "tokenizer/json_fields.h"

namespace hlwq {

class Decoder {
 public:
  virtual ~Decoder() = default;
  // index: the token's position among the tokens being decoded (0 = first).
  virtual void decode(std::string& token, std::size_t index) const = 0;
  virtual bool has_byte_fallback() const { return false; }  // turns <0xXX> tokens into bytes
};

std::unique_ptr<Decoder> make_decoder(const tokjson::Json& j, const tokjson::Where& where);

}  // namespace hlwq
