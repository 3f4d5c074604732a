#!/usr/bin/env python3
"""Train the bundled demo model: a ~17M-parameter Qwen3.5-architecture LM on public-domain books.

Two stages, because the GPU machine has no internet and no ../shared:
  prepare  (here):        train a byte-level BPE tokenizer with `tokenizers` on the training books,
                          tokenize train and held-out books to uint16 arrays, write them to --work.
  train    (GPU machine): train Qwen3_5ForCausalLM (transformers) on those arrays for a fixed wall
                          time, save a real BF16 checkpoint (sharded < 16 MB), the loss curve,
                          held-out perplexity and a few samples.
Whole books are held out for evaluation (HELD_OUT), never seen in training.

Reproduce (docs/TRAINING.md):
  python3 tools/train_demo_model.py prepare --corpus ../shared/data/corpus --work .train
  (device) python3 tools/train_demo_model.py train --work .train --out $OUT --seconds 300
"""
import argparse
import json
import math
import os
import re
import sys
import time

HELD_OUT = ["alice_in_wonderland.txt", "treasure_island.txt"]
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>",
                  "<tool_call>", "</tool_call>"]
# Qwen3.5's pre-tokenizer regex (qwen35.md section 6): the demo tokenizer works like the real one.
QWEN35_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}"
                r"| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
VOCAB_SIZE = 8192

# Small but the real architecture: 3 DeltaNet layers then 1 gated-attention layer, twice;
# Hv/Hk = 2 like the bigger Qwen3.5 sizes; every Linear input dim a multiple of 128 (HLWQ blocks);
# head dims are powers of two (Hadamard for KV codes).
MODEL = dict(
    vocab_size=VOCAB_SIZE, hidden_size=384, intermediate_size=1024, num_hidden_layers=8,
    num_attention_heads=4, num_key_value_heads=2, head_dim=128,
    linear_num_key_heads=4, linear_num_value_heads=8, linear_key_head_dim=64, linear_value_head_dim=64,
    linear_conv_kernel_dim=4, full_attention_interval=4, rms_norm_eps=1e-6,
    max_position_embeddings=32768, tie_word_embeddings=True,
)

CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    # The demo model never learned to think: its answer always follows an empty think block,
    # whatever enable_thinking says, so every token streams as answer text.
    "{%- if add_generation_prompt %}"
    "{{- '<|im_start|>assistant\\n<think>\\n\\n</think>\\n\\n' }}"
    "{%- endif %}"
)


def strip_gutenberg(text):
    """Keep the book, drop Project Gutenberg's licence header and footer."""
    start = re.search(r"\*\*\* ?START OF (THE|THIS) PROJECT GUTENBERG[^\n]*\n", text)
    if start:
        text = text[start.end():]
    end = re.search(r"\*\*\* ?END OF (THE|THIS) PROJECT GUTENBERG", text)
    if end:
        text = text[: end.start()]
    return text.replace("\r\n", "\n").strip() + "\n"


def read_books(corpus):
    books = {}
    for name in sorted(os.listdir(corpus)):
        if name.endswith(".txt"):
            with open(os.path.join(corpus, name), encoding="utf-8") as f:
                books[name] = strip_gutenberg(f.read())
    return books


def build_tokenizer(train_texts):
    from tokenizers import Tokenizer, Regex, decoders, models, normalizers, pre_tokenizers, trainers
    tok = Tokenizer(models.BPE(unk_token=None, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN35_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE - len(SPECIAL_TOKENS), min_frequency=2,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=[], show_progress=False)
    tok.train_from_iterator(train_texts, trainer=trainer)
    tok.add_special_tokens(SPECIAL_TOKENS)
    return tok


def prepare(args):
    import numpy as np
    books = read_books(args.corpus)
    missing = [b for b in HELD_OUT if b not in books]
    if missing:
        sys.exit(f"prepare: held-out books missing from {args.corpus}: {missing}")
    train = {k: v for k, v in books.items() if k not in HELD_OUT}
    tok = build_tokenizer(list(train.values()))
    os.makedirs(args.work, exist_ok=True)
    tok.save(os.path.join(args.work, "tokenizer.json"))
    eot = tok.token_to_id("<|endoftext|>")

    # Paragraphs are encoded separately, so re-insert the "\n\n" they were split on.
    nl2 = tok.encode("\n\n").ids

    def encode_book(text):
        out = []
        for para in text.split("\n\n"):
            out.extend(tok.encode(para).ids)
            out.extend(nl2)
        out.append(eot)
        return out

    train_ids = np.array([i for t in train.values() for i in encode_book(t)], dtype=np.uint16)
    held_ids = np.array([i for b in HELD_OUT for i in encode_book(books[b])], dtype=np.uint16)
    train_ids.tofile(os.path.join(args.work, "train.u16"))
    held_ids.tofile(os.path.join(args.work, "heldout.u16"))
    with open(os.path.join(args.work, "heldout.txt"), "w", encoding="utf-8") as f:
        f.write("".join(books[b] for b in HELD_OUT))
    meta = {"train_books": sorted(train), "held_out_books": HELD_OUT, "train_tokens": int(train_ids.size),
            "heldout_tokens": int(held_ids.size), "vocab_size": tok.get_vocab_size(),
            "train_bytes": sum(len(t.encode()) for t in train.values())}
    with open(os.path.join(args.work, "prepare.json"), "w") as f:
        json.dump(meta, f, indent=2)
    print(json.dumps(meta, indent=2))


def make_config():
    from transformers import Qwen3_5TextConfig
    layer_types = ["full_attention" if (i + 1) % MODEL["full_attention_interval"] == 0 else "linear_attention"
                   for i in range(MODEL["num_hidden_layers"])]
    kw = {k: v for k, v in MODEL.items() if k != "full_attention_interval"}
    cfg = Qwen3_5TextConfig(layer_types=layer_types, **kw)
    return cfg


def _torch():
    import torch  # only the GPU stage needs it
    return torch


def evaluate(model, ids, ctx, stride, device):
    """Sliding-window perplexity: every token scored once with up to ctx-1 tokens of context."""
    torch = _torch()
    model.eval()
    nll, count = 0.0, 0
    with torch.no_grad():
        prev_end = 0
        for begin in range(0, len(ids) - 1, stride):
            end = min(begin + ctx, len(ids))
            x = torch.tensor(ids[begin:end], dtype=torch.long, device=device)[None]
            logits = model(x).logits.float()
            score_from = prev_end - begin if begin > 0 else 0
            lp = torch.log_softmax(logits[0, score_from:-1], dim=-1)
            tgt = x[0, score_from + 1:]
            nll -= lp.gather(1, tgt[:, None]).sum().item()
            count += tgt.numel()
            prev_end = end
            if end == len(ids):
                break
    return math.exp(nll / count), count


def train(args):
    import numpy as np
    torch = _torch()
    from transformers import Qwen3_5ForCausalLM
    torch.manual_seed(1234)
    device = args.device
    data = torch.from_numpy(np.fromfile(os.path.join(args.work, "train.u16"), dtype=np.uint16).astype(np.int64))
    held = np.fromfile(os.path.join(args.work, "heldout.u16"), dtype=np.uint16).astype(np.int64)
    cfg = make_config()
    model = Qwen3_5ForCausalLM(cfg).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"params {n_params/1e6:.2f}M, train tokens {data.numel()}", flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.1)
    data = data.to(device)
    seq, batch = args.seq, args.batch
    curve, t0, step = [], time.time(), 0
    model.train()
    while True:
        elapsed = time.time() - t0
        if elapsed > args.seconds:
            break
        frac = elapsed / args.seconds
        lr = args.lr * min(1.0, (step + 1) / 200) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        starts = torch.randint(0, data.numel() - seq - 1, (batch,), device=device)
        idx = starts[:, None] + torch.arange(seq + 1, device=device)[None]
        chunk = data[idx]
        with torch.autocast(device, dtype=torch.bfloat16):
            out = model(chunk[:, :-1])
            loss = torch.nn.functional.cross_entropy(out.logits.float().reshape(-1, cfg.vocab_size),
                                                     chunk[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 50 == 0:
            curve.append({"step": step, "seconds": round(time.time() - t0, 1), "loss": round(loss.item(), 4),
                          "lr": lr, "tokens": (step + 1) * batch * seq})
            print(curve[-1], flush=True)
        step += 1
    train_seconds = time.time() - t0
    model = model.to(torch.bfloat16)
    os.makedirs(args.out, exist_ok=True)
    model.save_pretrained(args.out, max_shard_size="12MB", safe_serialization=True)
    # Held-out perplexity of the saved bf16 weights, computed in fp32 (the reference for QUALITY.md).
    model32 = Qwen3_5ForCausalLM.from_pretrained(args.out, torch_dtype=torch.float32).to(device)
    ppl, scored = evaluate(model32, held[: args.eval_tokens], args.eval_ctx, args.eval_stride, device)
    samples = []
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(os.path.join(args.work, "tokenizer.json"))
    for prompt in ["It was a dark and stormy night", "The old man said to", "Chapter I\n\n"]:
        x = torch.tensor([tok.encode(prompt).ids], device=device)
        y = model32.generate(x, max_new_tokens=60, do_sample=False)
        samples.append({"prompt": prompt, "greedy": tok.decode(y[0].tolist())})
    report = {"params": n_params, "steps": step, "train_seconds": round(train_seconds, 1),
              "seq": seq, "batch": batch, "lr": args.lr, "tokens_seen": step * batch * seq,
              "heldout_ppl_fp32_from_bf16": ppl, "heldout_tokens_scored": scored,
              "eval_ctx": args.eval_ctx, "eval_stride": args.eval_stride,
              "gpu": torch.cuda.get_device_name() if device == "cuda" else "cpu", "torch": torch.__version__,
              "transformers": __import__("transformers").__version__, "curve": curve, "samples": samples}
    with open(os.path.join(args.out, "training_report.json"), "w") as f:
        json.dump(report, f, indent=1)
    print(json.dumps({k: v for k, v in report.items() if k != "curve"}, indent=1))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="stage", required=True)
    a = sub.add_parser("prepare")
    a.add_argument("--corpus", required=True)
    a.add_argument("--work", required=True)
    b = sub.add_parser("train")
    b.add_argument("--work", required=True)
    b.add_argument("--out", required=True)
    b.add_argument("--seconds", type=float, default=300)
    b.add_argument("--seq", type=int, default=512)
    b.add_argument("--batch", type=int, default=32)
    b.add_argument("--lr", type=float, default=2e-3)
    b.add_argument("--eval-tokens", type=int, default=60000)
    b.add_argument("--eval-ctx", type=int, default=512)
    b.add_argument("--eval-stride", type=int, default=256)
    b.add_argument("--device", default="cuda")
    args = p.parse_args()
    prepare(args) if args.stage == "prepare" else train(args)


if __name__ == "__main__":
    main()
