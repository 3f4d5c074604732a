#!/usr/bin/env python3
"""Cross-checks the engine's HLWQ files against hlwq_ref (independent numpy implementation).

usage: crosscheck.py FORMATS_TOOL [HLWQ_CLI]   (tests/engine/formats/formats_tool, app/cli/hlwq)
 1. our quantizer's output: codes bit-exact and norms fp16-exact against hlwq_ref, per
    (bits, codebook, scale), on random tensors (Gaussian, heavy-tailed, odd widths);
 2. files hlwq_ref wrote (public hlwq-q5 without codebook, ours with one, legacy
    polar_engine_v5) read by the engine match hlwq_ref's own dequantization.
Exit 0 on success, 1 on a mismatch, 77 when numpy is missing.
"""
import json
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
except ImportError:
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hlwq_ref as ref  # noqa: E402

RNG = np.random.default_rng(20261127)
FAILURES = []


def check(ok, what):
    if not ok:
        FAILURES.append(what)
        print("FAIL:", what)


def bf16_round(a):
    bits = ref.f32_to_bf16_bits(a)
    return (bits.astype(np.uint32) << 16).view(np.float32), bits


def random_source(d):
    """A small random BF16 checkpoint in two shards; returns {name: float32 values}."""
    os.makedirs(d)
    shapes = {
        "model.embed_tokens.weight": (50, 256),
        "model.layers.0.input_layernorm.weight": (256,),
        "model.layers.0.self_attn.q_proj.weight": (64, 256),
        "model.layers.0.mlp.down_proj.weight": (256, 200),       # padded final block
        "model.layers.0.mlp.up_proj.weight": (48, 1024),
        "model.layers.0.linear_attn.conv1d.weight": (16, 1, 4),
        "model.layers.0.linear_attn.A_log": (4,),
        "lm_head.weight": (50, 256),
    }
    values = {}
    for i, (name, shape) in enumerate(shapes.items()):
        if i % 3 == 0:
            v = RNG.standard_t(3, size=shape) * 0.02  # heavy tails
        elif i % 3 == 1:
            v = RNG.standard_normal(shape) * 0.05
        else:
            v = RNG.standard_normal(shape) * np.exp(RNG.standard_normal(shape[-1:]))  # uneven columns
        values[name] = v.astype(np.float32)
    if "model.layers.0.self_attn.q_proj.weight" in values:
        values["model.layers.0.self_attn.q_proj.weight"][3, :128] = 0.0  # an all-zero block
    shards = [[], []]
    index = {}
    for i, (name, v) in enumerate(values.items()):
        rounded, bits = bf16_round(v)
        values[name] = rounded
        fn = "model-%05d-of-00002.safetensors" % (i % 2 + 1)
        shards[i % 2].append((name, "BF16", list(v.shape), bits))
        index[name] = fn
    for i, s in enumerate(shards):
        ref.write_safetensors(os.path.join(d, "model-%05d-of-00002.safetensors" % (i + 1)), s, {"format": "pt"})
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": index}, f)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump({"model_type": "qwen3_5_text"}, f)
    return values


def is_linear(name, shape):
    return len(shape) == 2 and name.endswith(".weight") and not any(
        p in name for p in ("embed", "norm", "conv1d", "A_log", "dt_bias"))


def check_our_quantizer(tool, work, src, values, cli=None):
    cases = [(5, "converged", "norm"), (5, "converged", "mse"), (5, "reference-loader", "norm"),
             (5, "reference-quantizer", "norm"), (4, "converged", "norm"), (3, "converged", "mse"),
             (2, "converged", "norm")]
    for bits, book_name, scale in cases:
        dst = os.path.join(work, "ours-q%d-%s-%s" % (bits, book_name, scale))
        if cli and (bits, book_name, scale) == (5, "converged", "norm"):
            # The user-facing command: same bytes as the library call it wraps.
            subprocess.run([cli, "quantize", src, dst, "--quiet"], check=True)
            info = json.loads(subprocess.run([cli, "inspect", dst, "--json"], check=True,
                                             capture_output=True, text=True).stdout)
            check(info["format"] == "hlwq-q5" and info["quantized_tensors"] == 4, "hlwq inspect: " + str(info))
        else:
            subprocess.run([tool, "quantize", src, dst, str(bits), book_name, scale], check=True)
        with open(os.path.join(dst, "hlwq_config.json")) as f:
            cfg = json.load(f)
        book = ref.codebook(book_name, bits)
        tag = "q%d %s %s" % (bits, book_name, scale)
        check(cfg["format"] == "hlwq-q%d" % bits and cfg["block_size"] == 128, tag + ": config format")
        check(np.array_equal(np.array(cfg["codebook"], dtype=np.float32), book), tag + ": stored codebook")
        check(cfg["scale"] == scale, tag + ": stored scale")
        t = ref.read_model_dir(dst)
        codes_total = codes_diff = norms_diff = 0
        for name, v in values.items():
            if not is_linear(name, v.shape):
                check(name in t and t[name][2] == ref.f32_to_bf16_bits(v).tobytes(), tag + ": dense " + name)
                continue
            check(name not in t, tag + ": " + name + " left dense")
            codes, norms = ref.quantize_matrix(v, book, scale)
            packed = ref.pack_be(codes.reshape(-1), bits)
            got_packed = ref.as_array(t[name + "__packed"])
            got_codes = ref.unpack_be(got_packed, bits, codes.size)
            codes_total += codes.size
            codes_diff += int(np.count_nonzero(got_codes != codes.reshape(-1)))
            check(got_packed.tobytes() == packed.tobytes() or codes_diff > 0, tag + ": packing of " + name)
            got_norms = ref.as_array(t[name + "__norms"]).view(np.uint16)
            norms_diff += int(np.count_nonzero(got_norms != norms))
            meta = ref.as_array(t[name + "__meta"])
            nb = -(-v.shape[1] // 128)
            check(list(meta) == [v.shape[0], nb, 128, v.shape[0] * nb * 128, v.shape[1]], tag + ": meta " + name)
            # The file decodes to a faithful copy: relative error near the table's MSE.
            w = ref.dequantize_matrix(got_codes, got_norms, book, v.shape[1])
            rel = float(np.sum((w - v) ** 2) / max(np.sum(v.astype(np.float64) ** 2), 1e-30))
            check(rel < {5: 0.005, 4: 0.015, 3: 0.05, 2: 0.16}[bits], "%s: %s error %.5f" % (tag, name, rel))
        print("%-32s codes %d/%d differ, norms differ: %d" % (tag, codes_diff, codes_total, norms_diff))
        check(codes_diff == 0, tag + ": codes not bit-exact")
        check(norms_diff == 0, tag + ": norms not fp16-exact")


def dequantize_with_tool(tool, model, out):
    subprocess.run([tool, "dequantize", model, out], check=True)
    return {n: ref.to_f32(e) for n, e in ref.read_safetensors(out).items()}


def check_files_we_read(tool, work, values):
    # Public-style hlwq-q5 (no codebook: the engine must use the reference-loader table), and
    # ours with an explicit converged codebook and MSE scales.
    for label, cfg, book, scale in [
        ("public", {"format": "hlwq-q5", "block_size": 128}, ref.codebook("reference-loader", 5), "norm"),
        ("explicit", {"format": "hlwq-q4", "block_size": 128, "scale": "mse",
                      "codebook": [float(x) for x in ref.codebook("converged", 4)]}, ref.codebook("converged", 4), "mse"),
    ]:
        d = os.path.join(work, "ref-" + label)
        os.makedirs(d)
        bits = int(cfg["format"][-1])
        tensors = []
        for name, v in values.items():
            if is_linear(name, v.shape):
                tensors += ref.hlwq_tensors(name, v, book, bits, scale)
            else:
                tensors.append((name, "BF16", list(v.shape), ref.f32_to_bf16_bits(v)))
        ref.write_safetensors(os.path.join(d, "model.safetensors"), tensors)
        with open(os.path.join(d, "hlwq_config.json" if label == "explicit" else "polar_config.json"), "w") as f:
            json.dump(cfg, f)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump({}, f)
        _, expect = ref.read_hlwq_dir(d)
        got = dequantize_with_tool(tool, d, os.path.join(work, "deq-" + label + ".safetensors"))
        for name, e in expect.items():
            g = got.get(name)
            ok = g is not None and g.shape == e.shape and np.array_equal(g, e)
            diff = float(np.max(np.abs(g - e))) if g is not None and g.shape == e.shape else float("nan")
            check(ok, "%s: engine reads %s differently (max diff %g)" % (label, name, diff))
        print("%-32s %d tensors read identically" % ("ref-written " + label, len(expect)))


def check_legacy(tool, work):
    d = os.path.join(work, "legacy")
    os.makedirs(d)
    rows, nb = 6, 3
    tensors, layers, expect = [], {}, {}
    for prefix, bits, kind in [("a.q5", 5, "packed_q5"), ("a.q4", 4, "packed"), ("a.q3", 3, "int8")]:
        book = ref.codebook("reference-loader", bits)
        w = RNG.standard_normal((rows, nb * 128)).astype(np.float32)
        codes, norms = ref.quantize_matrix(w, book)
        flat = codes.reshape(-1)
        if kind == "packed_q5":
            tensors.append((prefix + ".codes", "U8", [flat.size * 5 // 8], ref.pack_le5(flat)))
        elif kind == "packed":
            tensors.append((prefix + ".codes", "U8", [flat.size // 2], ref.pack_nibbles(flat)))
        else:
            tensors.append((prefix + ".codes", "I8", [rows, nb * 128], codes.astype(np.int8)))
        tensors.append((prefix + ".norms", "F16", [rows, nb], norms))
        ct = (book.astype(np.float64) / np.sqrt(128)).astype(np.float32)
        tensors.append((prefix + ".ct_scaled", "F32", [1 << bits], ct))
        layers[prefix] = {"in_features": nb * 128, "out_features": rows, "in_features_padded": nb * 128,
                          "n_blocks": nb, "bits": bits, "packed": kind == "packed", "packed_q5": kind == "packed_q5"}
        book_read = (ct.astype(np.float64) * np.sqrt(128)).astype(np.float32)
        expect[prefix + ".weight"] = ref.dequantize_matrix(codes, norms, book_read, nb * 128)
    ref.write_safetensors(os.path.join(d, "model.safetensors"), tensors)
    with open(os.path.join(d, "polar_config.json"), "w") as f:
        json.dump({"format": "polar_engine_v5", "block_size": 128, "layers": layers}, f)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump({}, f)
    got = dequantize_with_tool(tool, d, os.path.join(work, "deq-legacy.safetensors"))
    for name, e in expect.items():
        g = got.get(name)
        ok = g is not None and g.shape == e.shape and np.allclose(g, e, rtol=1e-6, atol=1e-7)
        check(ok, "legacy: engine reads %s differently" % name)
    print("%-32s %d layers read identically" % ("ref-written polar_engine_v5", len(expect)))


def main():
    if len(sys.argv) not in (2, 3):
        print(__doc__)
        return 2
    tool = os.path.abspath(sys.argv[1])
    cli = os.path.abspath(sys.argv[2]) if len(sys.argv) == 3 else None
    with tempfile.TemporaryDirectory(prefix="hlwq-crosscheck-") as work:
        src = os.path.join(work, "src")
        values = random_source(src)
        check_our_quantizer(tool, work, src, values, cli)
        check_files_we_read(tool, work, values)
        check_legacy(tool, work)
    print("crosscheck:", "OK" if not FAILURES else "%d failures" % len(FAILURES))
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
