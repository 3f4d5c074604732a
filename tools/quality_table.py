#!/usr/bin/env python3
"""Build the perplexity table of docs/QUALITY.md with our engine (`hlwq quantize` + `hlwq ppl`).

  tools/quality_table.py --hlwq build/app/cli/hlwq --model BF16_DIR --text FILE [--max-tokens 4096]
Every weight variant is quantized from the same BF16 checkpoint into a temporary folder; KV modes
run on the default Q5 model. Prints a markdown table; the transformers reference comes from
tools/quality_reference.py hf-ppl with the same window.
"""
import argparse
import json
import os
import re
import subprocess
import tempfile

WEIGHTS = [(None, None, None), (5, "converged", "norm"), (5, "converged", "mse"), (5, "reference-loader", "norm"),
           (5, "reference-quantizer", "norm"), (4, "converged", "norm"), (4, "converged", "mse"),
           (3, "converged", "norm"), (3, "converged", "mse")]
KV = ["fp16", "q4", "q3", "q2", "k16v4", "k16v2", "k4v2"]


def ppl(hlwq, model, text, args, kv=None):
    cmd = [hlwq, "ppl", "-m", model, text, "--ctx", str(args.ctx), "--stride", str(args.stride),
           "--max-tokens", str(args.max_tokens), "--backend", "cpu"]
    if kv:
        cmd += ["--kv", kv]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    m = re.search(r"perplexity\s+([0-9.]+)", out)
    if not m:
        raise SystemExit(f"could not read perplexity from: {out}")
    return float(m.group(1))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hlwq", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--text", required=True)
    p.add_argument("--ctx", type=int, default=512)
    p.add_argument("--stride", type=int, default=256)
    p.add_argument("--max-tokens", type=int, default=4096)
    p.add_argument("--json", help="also write the numbers here")
    args = p.parse_args()
    rows, q5_default = [], None
    with tempfile.TemporaryDirectory() as tmp:
        for bits, book, scale in WEIGHTS:
            model = args.model
            if bits:
                model = os.path.join(tmp, f"q{bits}-{book}-{scale}")
                subprocess.run([args.hlwq, "quantize", args.model, model, "--bits", str(bits), "--codebook", book,
                                "--scale", scale, "--quiet"], check=True)
                if (bits, book, scale) == (5, "converged", "norm"):
                    q5_default = model
            rows.append({"weights": f"Q{bits} {book} {scale}" if bits else "BF16", "kv": "fp16",
                         "ppl": ppl(args.hlwq, model, args.text, args)})
            print(rows[-1], flush=True)
        for kv in KV[1:]:
            rows.append({"weights": "Q5 converged norm", "kv": kv, "ppl": ppl(args.hlwq, q5_default, args.text, args, kv)})
            print(rows[-1], flush=True)
    base = rows[0]["ppl"]
    print("\n| weights | KV | perplexity | vs BF16 |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['weights']} | {r['kv']} | {r['ppl']:.3f} | {100 * (r['ppl'] / base - 1):+.2f}% |")
    if args.json:
        json.dump(rows, open(args.json, "w"), indent=1)


if __name__ == "__main__":
    main()
