#!/usr/bin/env python3
"""Independent references for docs/QUALITY.md.

  cosine MODEL_DIR            weight-reconstruction cosine similarity per tensor type, for every
                              bit width x codebook x scale, with tools/hlwq_ref (numpy, from the spec)
  hf-ppl MODEL_DIR TEXT       perplexity with transformers (fp32 from the stored BF16 weights), the
                              same sliding window as `hlwq ppl`: windows of --ctx tokens every --stride
                              tokens, each token scored once, with the context its window gives it.
"""
import argparse
import collections
import json
import math
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "hlwq_ref"))


def tensor_type(name):
    m = re.search(r"\.(self_attn|linear_attn|mlp)\.(\w+)\.weight$", name)
    return f"{m.group(1)}.{m.group(2)}" if m else None


def cosine(args):
    import numpy as np
    import hlwq_ref as ref
    tensors = ref.read_model_dir(args.model)
    configs = [(5, "converged", "norm"), (5, "converged", "mse"), (5, "reference-loader", "norm"),
               (5, "reference-quantizer", "norm"), (4, "converged", "norm"), (4, "converged", "mse"),
               (3, "converged", "norm"), (3, "converged", "mse"), (2, "converged", "norm")]
    rows = collections.defaultdict(dict)
    for bits, book_name, scale in configs:
        book = ref.codebook(book_name, bits)
        sums = collections.defaultdict(lambda: [0.0, 0.0, 0.0])  # dot, |w|^2, |w_hat|^2
        for name, entry in tensors.items():
            kind = tensor_type(name)
            if kind is None:
                continue
            w = ref.to_f32(entry)
            if w.ndim != 2:  # conv1d stays dense (spec 4.4)
                continue
            codes, norms = ref.quantize_matrix(w, book, scale)
            w_hat = ref.dequantize_matrix(codes, norms, book, w.shape[1])
            s = sums[kind]
            s[0] += float(np.sum(w.astype(np.float64) * w_hat))
            s[1] += float(np.sum(w.astype(np.float64) ** 2))
            s[2] += float(np.sum(w_hat.astype(np.float64) ** 2))
        for kind, (d, a, b) in sums.items():
            rows[kind][f"Q{bits} {book_name} {scale}"] = d / math.sqrt(a * b)
    print(json.dumps(rows, indent=1) if args.json else "")
    if not args.json:
        cols = [f"Q{b} {n} {s}" for b, n, s in configs]
        print("| tensor | " + " | ".join(cols) + " |")
        print("|---" * (len(cols) + 1) + "|")
        for kind in sorted(rows):
            print(f"| {kind} | " + " | ".join(f"{rows[kind][c]:.5f}" for c in cols) + " |")


def hf_ppl(args):
    import torch
    from tokenizers import Tokenizer
    from transformers import AutoModelForCausalLM
    torch.set_num_threads(os.cpu_count())
    tok = Tokenizer.from_file(os.path.join(args.model, "tokenizer.json"))
    with open(args.text, encoding="utf-8", newline="") as f:  # bytes as they are: `hlwq ppl` sees \r too
        ids = tok.encode(f.read()).ids[: args.max_tokens]
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
    model.eval()
    nll, count, prev_end = 0.0, 0, 0
    with torch.no_grad():
        for begin in range(0, len(ids) - 1, args.stride):
            end = min(begin + args.ctx, len(ids))
            x = torch.tensor(ids[begin:end])[None]
            logits = model(x).logits.float()[0]
            first = max(prev_end - begin, 0)
            lp = torch.log_softmax(logits[first:-1], dim=-1)
            tgt = x[0, first + 1:]
            nll -= lp.gather(1, tgt[:, None]).sum().item()
            count += tgt.numel()
            prev_end = end
            if end == len(ids):
                break
    print(json.dumps({"model": args.model, "text": args.text, "tokens": len(ids), "scored": count,
                      "ctx": args.ctx, "stride": args.stride, "ppl": math.exp(nll / count)}))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("cosine")
    c.add_argument("model")
    c.add_argument("--json", action="store_true")
    h = sub.add_parser("hf-ppl")
    h.add_argument("model")
    h.add_argument("text")
    h.add_argument("--ctx", type=int, default=512)
    h.add_argument("--stride", type=int, default=256)
    h.add_argument("--max-tokens", type=int, default=16384)
    args = p.parse_args()
    cosine(args) if args.cmd == "cosine" else hf_ppl(args)


if __name__ == "__main__":
    main()
