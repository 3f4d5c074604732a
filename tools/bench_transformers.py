#!/usr/bin/env python3
"""Baseline for `hlwq bench`: transformers' Qwen3_5ForCausalLM in bf16 with random weights,
the same Qwen3.5 size, on the same GPU, timed the same way (CUDA events, warm-up, median).

    python3 tools/bench_transformers.py --model 27B --json out.json

Decode: greedy steps with the model's own cache after a short prompt. Prefill: one forward over
N random tokens. No flash-linear-attention / causal-conv1d kernels are assumed: whatever
transformers falls back to on this machine is the baseline, and the JSON says which it found.
"""
import argparse
import importlib.util
import json
import statistics
import time

import torch

# hidden, layers, heads, kv_heads, Hk, Hv, intermediate, tied (qwen35.md section 1)
PRESETS = {
    "27B": (5120, 64, 24, 4, 16, 48, 17408, False),
    "9B": (4096, 32, 16, 4, 16, 32, 12288, False),
    "4B": (2560, 32, 16, 4, 16, 32, 9216, True),
    "2B": (2048, 24, 8, 2, 16, 16, 6144, True),
    "0.8B": (1024, 24, 8, 2, 16, 16, 3584, True),
}


def make_config(name):
    from transformers import Qwen3_5TextConfig

    h, layers, heads, kv, hk, hv, inter, tied = PRESETS[name]
    return Qwen3_5TextConfig(
        vocab_size=248320, hidden_size=h, intermediate_size=inter, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=kv, head_dim=256,
        linear_num_key_heads=hk, linear_num_value_heads=hv, linear_key_head_dim=128,
        linear_value_head_dim=128, linear_conv_kernel_dim=4, tie_word_embeddings=tied,
        layer_types=["full_attention" if (i + 1) % 4 == 0 else "linear_attention" for i in range(layers)],
        rms_norm_eps=1e-6, max_position_embeddings=262144,
    )


def timed(fn, repeats, warmup):
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    out = []
    for i in range(warmup + repeats):
        start.record()
        fn()
        end.record()
        end.synchronize()
        if i >= warmup:
            out.append(start.elapsed_time(end))
    return statistics.median(out), out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="27B", choices=sorted(PRESETS))
    ap.add_argument("--decode-steps", type=int, default=16)
    ap.add_argument("--prefill", default="512,4096")
    ap.add_argument("--json")
    args = ap.parse_args()

    from transformers import Qwen3_5ForCausalLM

    torch.manual_seed(0)
    t0 = time.time()
    with torch.device("cuda"):
        torch.set_default_dtype(torch.bfloat16)
        model = Qwen3_5ForCausalLM(make_config(args.model)).eval()
    torch.cuda.synchronize()
    params = sum(p.numel() for p in model.parameters())
    result = {
        "card": torch.cuda.get_device_name(0), "model": args.model, "dtype": "bf16",
        "params": params, "torch": torch.__version__,
        "transformers": __import__("transformers").__version__,
        "fla_installed": importlib.util.find_spec("fla") is not None,
        "causal_conv1d_installed": importlib.util.find_spec("causal_conv1d") is not None,
        "build_s": time.time() - t0,
    }
    print(f"transformers {args.model} bf16: {params / 1e9:.2f} G params on {result['card']}", flush=True)

    vocab = model.config.vocab_size
    with torch.inference_mode():
        prompt = torch.randint(0, vocab, (1, 16), device="cuda")
        state = {}

        def prime():
            out = model(input_ids=prompt, use_cache=True)
            state["pkv"] = out.past_key_values
            state["tok"] = out.logits[:, -1:].argmax(-1)

        def step():
            out = model(input_ids=state["tok"], past_key_values=state["pkv"], use_cache=True)
            state["pkv"] = out.past_key_values
            state["tok"] = out.logits[:, -1:].argmax(-1)

        prime()
        med, all_ms = timed(step, args.decode_steps, 3)
        result["decode"] = {"context": 16, "ms_per_token": med, "tokens_per_s": 1e3 / med, "ms_all": all_ms}
        print(f"decode (context ~16): {med:.2f} ms/token = {1e3 / med:.2f} tok/s", flush=True)
        state.clear()
        result["prefill"] = []
        for n in [int(x) for x in args.prefill.split(",") if x]:
            ids = torch.randint(0, vocab, (1, n), device="cuda")
            try:
                med, all_ms = timed(lambda: model(input_ids=ids, use_cache=False), 2, 1)
                result["prefill"].append({"tokens": n, "ms": med, "tokens_per_s": n / (med * 1e-3)})
                print(f"prefill {n}: {med:.1f} ms = {n / (med * 1e-3):.0f} tok/s", flush=True)
            except torch.OutOfMemoryError as e:
                result["prefill"].append({"tokens": n, "error": f"out of memory: {e}"})
                print(f"prefill {n}: out of memory", flush=True)
                torch.cuda.empty_cache()
    result["peak_vram_bytes"] = torch.cuda.max_memory_allocated()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
