"""`hlwq fit --json` against an independent count of the same model, written from the specs
(qwen35.md section 1, hlwq-format.md 4.4 and 5), not from the planner's code.

usage: check_fit_cli.py HLWQ_BINARY WORK_DIR
"""
import json
import subprocess
import sys
from pathlib import Path

MIB = 1 << 20
PAGE = 2 * MIB


def config_json(h, layers, heads, kvh, inter, hk, hv, tied):
    text = dict(model_type="qwen3_5_text", hidden_size=h, num_hidden_layers=layers, num_attention_heads=heads,
                num_key_value_heads=kvh, head_dim=256, linear_num_key_heads=hk, linear_num_value_heads=hv,
                linear_key_head_dim=128, linear_value_head_dim=128, linear_conv_kernel_dim=4,
                intermediate_size=inter, vocab_size=248320, rms_norm_eps=1e-6, max_position_embeddings=262144,
                rope_parameters=dict(rope_theta=1e7, partial_rotary_factor=0.25))
    return dict(architectures=["Qwen3_5ForConditionalGeneration"], model_type="qwen3_5", text_config=text,
                tie_word_embeddings=tied)


def independent(h, layers, heads, kvh, inter, hk, hv, bits, kv_bits):
    full = layers // 4
    lin = layers - full
    qkv = 2 * hk * 128 + hv * 128
    linear_params = (full * (h * 2 * heads * 256 + 2 * h * kvh * 256 + heads * 256 * h)
                     + lin * (h * qkv + h * hv * 128 + 2 * h * hv + hv * 128 * h)
                     + layers * 3 * h * inter + 248320 * h)
    dense = layers * 2 * h + full * 2 * 256 + lin * (4 * qkv + 2 * hv + 128) + h
    codebooks = (2 ** bits + 32 + 16 + 8 + 4) * 4  # fp32 centroids: weights, then KV widths 5..2
    weights = linear_params * bits // 8 + linear_params // 128 * 2 + dense * 4 + codebooks  # small vectors fp32
    vec = lambda b: 512 if b == 16 else 256 * b // 8 + 2
    kv_per_token = full * kvh * (vec(kv_bits) * 2)
    state = 2 * lin * (hv * 128 * 128 * 4 + 4 * qkv * 4)  # conv ring of kernel (4) rows; live + snapshot
    return weights, kv_per_token, state


def run(binary, *args):
    out = subprocess.run([binary, "fit", *args, "--json"], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def item(report, name):
    return next(i["bytes"] for i in report["plan"]["items"] if i["name"] == name)


def near_page(actual, expected, buffers):
    """Arena bytes rounded to 2 MiB; alignment adds < 256 bytes per buffer before rounding."""
    lo = (expected + PAGE - 1) // PAGE * PAGE
    hi = (expected + 256 * buffers + PAGE - 1) // PAGE * PAGE
    return lo <= actual <= hi


def main():
    binary, work = sys.argv[1], Path(sys.argv[2])
    work.mkdir(parents=True, exist_ok=True)
    failures = []
    sizes = {"27B": (5120, 64, 24, 4, 17408, 16, 48, False), "0.8B": (1024, 24, 8, 2, 3584, 16, 16, True)}
    for name, shape in sizes.items():
        model_dir = work / name
        model_dir.mkdir(exist_ok=True)
        (model_dir / "config.json").write_text(json.dumps(config_json(*shape)))
        for bits in (5, 4, 3):
            for kv_name, kv_bits in (("fp16", 16), ("q4", 4), ("q3", 3), ("q2", 2)):
                ctx = 4096 if name == "27B" else 32768
                r = run(binary, "-m", str(model_dir), "--vram-gb", "24", "--ctx", str(ctx), "--kv", kv_name,
                        "--bits", str(bits), "--embedding", "device")
                weights, kv_tok, state = independent(*shape[:7], bits, kv_bits)
                tag = f"{name} Q{bits} {kv_name}"
                plan = r["plan"]
                if plan["kv_bytes_per_token"] != kv_tok:
                    failures.append(f"{tag}: kv bytes/token {plan['kv_bytes_per_token']} != {kv_tok}")
                if not near_page(item(r, "weights"), weights, 1500):
                    failures.append(f"{tag}: weights {item(r, 'weights')} vs independent {weights}")
                if not near_page(item(r, "kv_cache"), kv_tok * ctx, 64):
                    failures.append(f"{tag}: kv_cache {item(r, 'kv_cache')} vs {kv_tok * ctx}")
                if not near_page(item(r, "recurrent_state"), state, 200):
                    failures.append(f"{tag}: state {item(r, 'recurrent_state')} vs {state}")
                if item(r, "embedding") != (248320 * shape[0] * 2 + PAGE - 1) // PAGE * PAGE:
                    failures.append(f"{tag}: embedding {item(r, 'embedding')}")
                total = sum(i["bytes"] for i in plan["items"])
                if total != plan["required_bytes"]:
                    failures.append(f"{tag}: items sum {total} != required {plan['required_bytes']}")
                fits = plan["required_bytes"] <= 24 * 1024 * MIB
                if fits != (r["verdict"] == "fits"):
                    failures.append(f"{tag}: verdict {r['verdict']} but required {plan['required_bytes']}")
                # Largest context: one more token's KV (bytes/token) must not fit where it stops.
                mode = next(m for m in r["per_kv_mode"] if m["kv"] == kv_name)
                if mode["max_context"] != r["max_context"]:
                    failures.append(f"{tag}: per-mode max {mode['max_context']} != {r['max_context']}")
                if fits and r["max_context"] < ctx:
                    failures.append(f"{tag}: fits at {ctx} but max_context {r['max_context']}")
    # Less memory never gives a longer context; fewer KV bits never a shorter one.
    last = None
    for gb in (17, 18, 20, 24, 32):
        r = run(binary, "-m", str(work / "27B"), "--vram-gb", str(gb), "--kv", "q3")
        ctxs = [m["max_context"] for m in r["per_kv_mode"]]
        if ctxs != sorted(ctxs):
            failures.append(f"{gb} GB: contexts per mode not increasing as bits fall: {ctxs}")
        if last is not None and r["max_context"] < last:
            failures.append(f"{gb} GB: max context {r['max_context']} < {last} at less memory")
        last = r["max_context"]
    for f in failures:
        print("FAIL", f)
    print(f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
