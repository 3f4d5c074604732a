#!/usr/bin/env python3
"""Turn the trained demo model (transformers' flat Qwen3_5ForCausalLM output) into a checkpoint laid
out like the real Qwen3.5 releases: vision-wrapper config.json with text_config, tensors named
model.language_model.*, one BF16 model.safetensors, tokenizer.json, ChatML chat template.

  python3 tools/package_demo_model.py --hf .train/hf --tokenizer .train/tokenizer.json --out DIR
Only numpy and the standard library: safetensors is simple enough to read and write directly.
"""
import argparse
import json
import os
import shutil
import struct


from train_demo_model import CHAT_TEMPLATE, HELD_OUT



def read_safetensors(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        base = 8 + n
        out = {}
        for name, info in header.items():
            if name == "__metadata__":
                continue
            a, b = info["data_offsets"]
            f.seek(base + a)
            out[name] = (info["dtype"], info["shape"], f.read(b - a))
    return out


def write_safetensors(path, tensors):
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name in sorted(tensors):
        dtype, shape, data = tensors[name]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)  # keep tensor data 8-byte aligned, as safetensors writers do
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for name in sorted(tensors):
            f.write(tensors[name][2])


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--hf", required=True)
    p.add_argument("--tokenizer", required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args()

    index = json.load(open(os.path.join(args.hf, "model.safetensors.index.json")))
    tensors = {}
    for shard in sorted(set(index["weight_map"].values())):
        for name, t in read_safetensors(os.path.join(args.hf, shard)).items():
            assert name.startswith("model."), name
            tensors["model.language_model." + name[len("model."):]] = t
    os.makedirs(args.out, exist_ok=True)
    write_safetensors(os.path.join(args.out, "model.safetensors"), tensors)

    tok = json.load(open(args.tokenizer))
    ids = {t["content"]: t["id"] for t in tok["added_tokens"]}
    eos = [ids["<|im_end|>"], ids["<|endoftext|>"]]
    text = json.load(open(os.path.join(args.hf, "config.json")))
    for k in ("architectures", "transformers_version", "dtype", "use_cache"):
        text.pop(k, None)
    text["eos_token_id"] = eos
    config = {
        "architectures": ["Qwen3_5ForConditionalGeneration"],
        "model_type": "qwen3_5",
        "text_config": text,
        "tie_word_embeddings": text["tie_word_embeddings"],
        "dtype": "bfloat16",
        "transformers_version": "5.17.0",
    }
    json.dump(config, open(os.path.join(args.out, "config.json"), "w"), indent=2)
    json.dump({"eos_token_id": eos, "do_sample": True, "temperature": 0.8, "top_k": 40, "top_p": 0.95,
               "repetition_penalty": 1.1},
              open(os.path.join(args.out, "generation_config.json"), "w"), indent=2)
    shutil.copy(args.tokenizer, os.path.join(args.out, "tokenizer.json"))
    json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "eos_token": "<|im_end|>",
               "pad_token": "<|endoftext|>", "bos_token": None, "model_max_length": 32768,
               "chat_template": CHAT_TEMPLATE},
              open(os.path.join(args.out, "tokenizer_config.json"), "w"), indent=2)
    with open(os.path.join(args.out, "chat_template.jinja"), "w") as f:
        f.write(CHAT_TEMPLATE)
    report = json.load(open(os.path.join(args.hf, "training_report.json")))
    with open(os.path.join(args.out, "README.md"), "w") as f:
        f.write(f"""# hlwq-demo-19m

A {report['params']/1e6:.1f}M-parameter Qwen3.5-architecture language model (3 Gated DeltaNet layers then one
gated-attention layer, twice; tied embeddings; 8192-token byte-level BPE) trained from scratch by
`tools/train_demo_model.py` for {report['train_seconds']:.0f} s on one {report['gpu']} over public-domain
books from Project Gutenberg ({report['tokens_seen']/1e6:.0f}M tokens seen). It writes English prose in a 19th-century
voice; it has no instruction tuning, so it continues text rather than answering questions.
Held-out books (never trained on): {', '.join(HELD_OUT)}; held-out perplexity
{report['heldout_ppl_fp32_from_bf16']:.2f} (transformers, fp32 from the BF16 weights, context {report['eval_ctx']}).
Training data: public domain. Weights: same licence as HLWQ Chat.
""")
    print(f"wrote {args.out}: {len(tensors)} tensors")


if __name__ == "__main__":
    main()
