#!/usr/bin/env python3
"""Build tiny random Qwen3.5 checkpoints and transformers' fp32 reference outputs for them.

Each model is saved exactly like a real checkpoint (vision-wrapper config.json with text_config,
model.language_model.* tensor names, BF16 safetensors, tokenizer.json, chat template), with a
reference/ folder next to the weights:
  prompts.json        token ids of every prompt, the greedy prompt and its 64-token continuation,
                      and the smallest top-1/top-2 logit margin along it
  logits_<i>.npy      float32 [tokens, vocab]: transformers' logits at every position, computed
                      in fp32 from the bf16-rounded weights
With tools/hlwq_ref present, an HLWQ-Q5 copy of each model (<name>-hlwq-q5) is written by that
independent quantizer, with reference logits of the dequantized model.

Needs torch, transformers >= 5 (Qwen3_5ForCausalLM), safetensors, tokenizers; run from a venv
outside the repository:
  /opt/fixture-venv/bin/python tools/make_reference_model.py --corpus ../shared/data/corpus \
      --out tests/fixtures/qwen35
The committed fixtures are small, and CI never runs this script.
"""
import argparse
import json
import math
import os
import sys

import numpy as np

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]
QWEN35_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}"
                r"| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
BPE_VOCAB = 300          # bytes + merges; the special tokens follow
MODEL_VOCAB = 320        # embedding rows (padded past the tokenizer, as real Qwen models are)

CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}{{- '<think>\\n\\n</think>\\n\\n' }}"
    "{%- else %}{{- '<think>\\n' }}{%- endif %}"
    "{%- endif %}"
)

# Every Linear input dim is a multiple of 128 (HLWQ blocks); head dims are powers of two.
MODELS = {
    # The 27B's ratios: Hv/Hk = 3, head_dim 256, GQA 6 (24/4 -> 6/1); untied; default layer_types.
    # Two layers (DeltaNet, attention) keep it small.
    "ratio27b": dict(hidden_size=128, intermediate_size=128, num_hidden_layers=2, full_attention_interval=2,
                     num_attention_heads=6, num_key_value_heads=1, head_dim=256,
                     linear_num_key_heads=1, linear_num_value_heads=3,
                     linear_key_head_dim=128, linear_value_head_dim=128,
                     tie_word_embeddings=False, extra_tensors=True),
    # Tied like the 0.8B (Hv = Hk, GQA 4), smaller heads.
    "tied08b": dict(hidden_size=128, intermediate_size=128, num_hidden_layers=4,
                    num_attention_heads=4, num_key_value_heads=1, head_dim=64,
                    linear_num_key_heads=2, linear_num_value_heads=2,
                    linear_key_head_dim=64, linear_value_head_dim=64,
                    tie_word_embeddings=True),
    # A non-default layer_types pattern (attention first), Hv/Hk = 2, kernel 4.
    "layertypes": dict(hidden_size=128, intermediate_size=128, num_hidden_layers=5,
                       num_attention_heads=2, num_key_value_heads=1, head_dim=128,
                       linear_num_key_heads=2, linear_num_value_heads=4,
                       linear_key_head_dim=32, linear_value_head_dim=32,
                       layer_types=["full_attention", "linear_attention", "full_attention",
                                    "linear_attention", "linear_attention"],
                       tie_word_embeddings=False),
}


def build_tokenizer(corpus_dir):
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    with open(os.path.join(corpus_dir, "pride_and_prejudice.txt"), encoding="utf-8") as f:
        text = f.read()[:200000]
    tok = Tokenizer(models.BPE(unk_token=None, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN35_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=BPE_VOCAB, min_frequency=2,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=[], show_progress=False)
    tok.train_from_iterator(text.split("\n\n"), trainer=trainer)
    tok.add_special_tokens(SPECIAL_TOKENS)
    assert tok.get_vocab_size() <= MODEL_VOCAB
    return tok


def text_config(spec, tok):
    keys = {k: v for k, v in spec.items() if k != "extra_tensors"}
    cfg = dict(model_type="qwen3_5_text", vocab_size=MODEL_VOCAB, linear_conv_kernel_dim=4,
               rms_norm_eps=1e-6, max_position_embeddings=4096, hidden_act="silu",
               rope_parameters=dict(rope_type="default", rope_theta=10000000.0, partial_rotary_factor=0.25),
               eos_token_id=tok.token_to_id("<|im_end|>"), **keys)
    if "layer_types" not in cfg:
        cfg.setdefault("full_attention_interval", 4)
    return cfg


def randomise(model, seed):
    """Every parameter random, norms, A_log, dt_bias and conv included, then rounded to bf16."""
    import torch
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("A_log"):
                v = torch.empty(p.shape).uniform_(math.log(0.05), math.log(1.0), generator=g)
            elif name.endswith("dt_bias"):
                v = torch.randn(p.shape, generator=g) * 0.5
            elif "conv1d" in name:
                v = torch.randn(p.shape, generator=g) * 0.5
            elif name.endswith("linear_attn.norm.weight"):   # plain weight
                v = 1.0 + torch.randn(p.shape, generator=g) * 0.2
            elif p.dim() == 1:                                # (1 + w) norms: w is an offset
                v = torch.randn(p.shape, generator=g) * 0.2
            elif "embed_tokens" in name:
                v = torch.randn(p.shape, generator=g)
            elif name == "lm_head.weight":
                v = torch.randn(p.shape, generator=g) * (2.0 / math.sqrt(p.shape[1]))
            else:
                v = torch.randn(p.shape, generator=g) / math.sqrt(p.shape[1])
            p.copy_(v.to(torch.bfloat16).to(torch.float32))


def make_model(spec, tok, seed):
    import torch
    from transformers import Qwen3_5ForCausalLM, Qwen3_5TextConfig
    cfg_dict = text_config(spec, tok)
    cfg = Qwen3_5TextConfig(**{k: v for k, v in cfg_dict.items() if k != "model_type"})
    cfg._attn_implementation = "eager"
    torch.manual_seed(seed)
    model = Qwen3_5ForCausalLM(cfg).to(torch.float32).eval()
    randomise(model, seed)
    if "layer_types" not in cfg_dict:  # the engine derives them from the interval: same rule?
        every = cfg_dict["full_attention_interval"]
        rule = ["full_attention" if (i + 1) % every == 0 else "linear_attention" for i in range(cfg.num_hidden_layers)]
        assert list(cfg.layer_types) == rule, (cfg.layer_types, rule)
    if spec["tie_word_embeddings"]:
        model.tie_weights()
    return model, cfg_dict


def save_checkpoint(model, cfg_dict, spec, tok, out_dir):
    import torch
    from safetensors.torch import save_file
    os.makedirs(out_dir, exist_ok=True)
    tensors = {}
    for name, p in model.state_dict().items():
        if spec["tie_word_embeddings"] and name == "lm_head.weight":
            continue  # tied checkpoints store the embedding once
        if name.startswith("model."):
            name = "model.language_model." + name[len("model."):]
        tensors[name] = p.detach().to(torch.bfloat16).contiguous()
    if spec.get("extra_tensors"):  # what real wrappers also carry; a text engine ignores them
        tensors["model.visual.patch_embed.proj.weight"] = torch.zeros(4, 4, dtype=torch.bfloat16)
        tensors["mtp.fc.weight"] = torch.zeros(4, 4, dtype=torch.bfloat16)
    save_file(tensors, os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})
    config = {
        "architectures": ["Qwen3_5ForConditionalGeneration"],
        "model_type": "qwen3_5",
        "tie_word_embeddings": spec["tie_word_embeddings"],
        "text_config": cfg_dict,
        "vision_config": {"model_type": "qwen3_5", "depth": 1, "hidden_size": 4},
        "transformers_version": "5.17.0",
    }
    write_json(os.path.join(out_dir, "config.json"), config)
    write_json(os.path.join(out_dir, "generation_config.json"),
               {"eos_token_id": [tok.token_to_id("<|im_end|>"), tok.token_to_id("<|endoftext|>")]})
    save_tokenizer_files(tok, out_dir)


def save_tokenizer_files(tok, out_dir):
    tok.save(os.path.join(out_dir, "tokenizer.json"))
    with open(os.path.join(out_dir, "chat_template.jinja"), "w", encoding="utf-8") as f:
        f.write(CHAT_TEMPLATE)
    write_json(os.path.join(out_dir, "tokenizer_config.json"),
               {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "tokenizer_class": "Qwen2Tokenizer"})


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")


def prompts_for(tok, rng):
    chat = "<|im_start|>user\nWhat is the name of the eldest Miss Bennet?<|im_end|>\n<|im_start|>assistant\n<think>\n"
    return [
        tok.encode("It is a truth universally acknowledged").ids[:6],
        tok.encode(chat).ids,
        [int(x) for x in rng.integers(0, tok.get_vocab_size(), size=130)],  # crosses two 64-token chunks
    ]


def all_logits(model, ids):
    import torch
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].to(torch.float32).numpy()


def greedy(model, prompt, n):
    """Greedy decoding with transformers' cache (its recurrent DeltaNet form); returns ids and
    the smallest top-2 margin relative to max|logit|, so tests know the continuation is not
    decided by rounding."""
    import torch
    ids = []
    margin = float("inf")
    with torch.no_grad():
        out = model(torch.tensor([prompt]), use_cache=True)
        for _ in range(n):
            last = out.logits[0, -1].to(torch.float32).numpy()
            top2 = np.sort(last)[-2:]
            margin = min(margin, float((top2[1] - top2[0]) / np.abs(last).max()))
            ids.append(int(np.argmax(last)))
            out = model(torch.tensor([[ids[-1]]]), past_key_values=out.past_key_values, use_cache=True)
    return ids, margin


def write_reference(model, tok, out_dir, prompts, greedy_prompt):
    ref = os.path.join(out_dir, "reference")
    os.makedirs(ref, exist_ok=True)
    for i, p in enumerate(prompts):
        np.save(os.path.join(ref, f"logits_{i}.npy"), all_logits(model, p).astype(np.float32))
    cont, margin = greedy(model, greedy_prompt, 64)
    write_json(os.path.join(ref, "prompts.json"), {
        "prompts": prompts,
        "greedy_prompt": greedy_prompt,
        "greedy_continuation": cont,
        "greedy_min_relative_margin": margin,
        "note": "transformers fp32 logits from the bf16-rounded weights (tools/make_reference_model.py)",
    })
    return margin


def pick_greedy_prompt(model, tok, rng):
    """A prompt whose 64-step greedy path has clear argmax margins (random weights can tie)."""
    best = None
    for attempt in range(12):
        p = [int(x) for x in rng.integers(0, tok.get_vocab_size(), size=8)]
        _, margin = greedy(model, p, 64)
        if best is None or margin > best[1]:
            best = (p, margin)
        if margin > 2e-3:
            break
    return best[0]


def is_linear(name, shape):
    """spec 4.4: every Linear of the text model (lm_head included) is quantized; embeddings,
    norms, conv1d, A_log, dt_bias stay BF16; the vision tower and mtp are left as they are."""
    return (len(shape) == 2 and name.endswith(".weight") and not name.startswith(("model.visual.", "mtp."))
            and not any(p in name for p in ("embed_tokens", "norm", "conv1d")))


def hlwq_copy(name, spec, tok, out_root, prompts, greedy_prompt):
    """HLWQ-Q5 copy written by tools/hlwq_ref (independent of the C++ quantizer), and the
    reference logits of the model its codes decode to."""
    import torch
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "hlwq_ref"))
    import hlwq_ref as ref
    src = os.path.join(out_root, name)
    dst = os.path.join(out_root, name + "-hlwq-q5")
    os.makedirs(dst, exist_ok=True)
    book = ref.codebook("converged", 5)
    tensors = []
    for tname, entry in ref.read_safetensors(os.path.join(src, "model.safetensors")).items():
        dtype, shape, raw = entry
        if is_linear(tname, shape):
            tensors += ref.hlwq_tensors(tname, ref.to_f32(entry), book, 5)
        else:
            tensors.append((tname, dtype, shape, raw))
    ref.write_safetensors(os.path.join(dst, "model.safetensors"), tensors, {"format": "pt"})
    write_json(os.path.join(dst, "hlwq_config.json"), {
        "format": "hlwq-q5", "block_size": 128, "bits": 5, "codebook": [float(x) for x in book],
        "scale": "norm", "producer": "tools/hlwq_ref (make_reference_model.py)"})
    for fn in ("config.json", "generation_config.json"):
        with open(os.path.join(src, fn)) as f:
            write_json(os.path.join(dst, fn), json.load(f))
    save_tokenizer_files(tok, dst)
    # The reference model: every tensor as the HLWQ files decode it (read back independently).
    _, decoded = ref.read_hlwq_dir(dst)
    qmodel, _ = make_model(spec, tok, 0)
    with torch.no_grad():
        params = dict(qmodel.named_parameters())
        for tname, arr in decoded.items():
            pname = tname.replace("model.language_model.", "model.")
            if pname in params:
                params[pname].copy_(torch.from_numpy(np.asarray(arr, dtype=np.float32)).reshape(params[pname].shape))
        if spec["tie_word_embeddings"]:
            qmodel.tie_weights()
    m = write_reference(qmodel, tok, dst, prompts, greedy_prompt)
    print(f"{name}-hlwq-q5: greedy margin {m:.2e}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True, help="folder with pride_and_prejudice.txt (../shared/data/corpus)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", nargs="*", help="model names to build (default: all)")
    args = ap.parse_args()
    import torch
    torch.set_num_threads(2)
    tok = build_tokenizer(args.corpus)
    for seed, (name, spec) in enumerate(MODELS.items(), start=1):
        if args.only and name not in args.only:
            continue
        model, cfg_dict = make_model(spec, tok, seed)
        out_dir = os.path.join(args.out, name)
        save_checkpoint(model, cfg_dict, spec, tok, out_dir)
        rng = np.random.default_rng(seed)
        prompts = prompts_for(tok, rng)
        greedy_prompt = pick_greedy_prompt(model, tok, rng)
        m = write_reference(model, tok, out_dir, prompts, greedy_prompt)
        print(f"{name}: greedy margin {m:.2e}")
        hlwq_copy(name, spec, tok, args.out, prompts, greedy_prompt)


if __name__ == "__main__":
    main()
