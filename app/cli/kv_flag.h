#pragma once
// `--kv NAME`, the KV-cache mode flag every engine command takes (run, chat, logits, ppl, fit).
#include <string>

#include "args.h"
#include "core/error.h"
#include "models/backend_types.h"

namespace hlwq::cli {

inline KvConfig kv_option(const Args& args, KvConfig fallback = {}) {
  auto kv = args.value("kv");
  if (!kv) return fallback;
  auto parsed = parse_kv_name(*kv);
  if (!parsed)
    throw_error(ErrorKind::InvalidArgument, "--kv ", *kv, ": expected fp32, fp16, q5, q4, q3, q2 or kXvY (e.g. k16v4)");
  return *parsed;
}

}  // namespace hlwq::cli
