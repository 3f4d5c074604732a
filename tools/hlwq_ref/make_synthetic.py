#!/usr/bin/env python3
"""Synthetic checkpoints for the formats benchmarks (docs/PERFORMANCE.md, "## Formats").

  make_synthetic.py bf16   OUT_DIR GB   random BF16 Linears (plus one large "lm_head"), ~1 GB shards
  make_synthetic.py packed OUT_DIR GB   a valid hlwq-q5 repo of random codes, ~1 GB shards
Write these under /tmp, never into the repository.
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hlwq_ref as ref  # noqa: E402

SHARD_BYTES = 1 << 30
HIDDEN = 5120


def linear_shapes(total_bytes, bytes_per_weight):
    # One lm_head-sized tensor (65536 x 5120) first: the quantizer's memory bound is per tensor.
    shapes = [("lm_head.weight", (65536, HIDDEN))]
    used = 65536 * HIDDEN * bytes_per_weight
    i = 0
    while used < total_bytes:
        shapes.append(("model.layers.%d.mlp.up_proj.weight" % i, (17408, HIDDEN)))
        used += 17408 * HIDDEN * bytes_per_weight
        i += 1
    return shapes


def flush(out, shard, tensors, index):
    name = "model-%05d.safetensors" % shard
    ref.write_safetensors(os.path.join(out, name), tensors)
    for t in tensors:
        index[t[0]] = name


def main():
    kind, out, gb = sys.argv[1], sys.argv[2], float(sys.argv[3])
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(1)
    index, tensors, size, shard = {}, [], 0, 1
    bpw = 2 if kind == "bf16" else 5 / 8
    for name, (rows, cols) in linear_shapes(gb * 1e9, bpw):
        if kind == "bf16":
            w = (rng.standard_normal((rows, cols), dtype=np.float32) * 0.02)
            new = [(name, "BF16", [rows, cols], (w.view(np.uint32) >> 16).astype(np.uint16))]
        else:
            nb = cols // 128
            packed = rng.integers(0, 256, size=rows * nb * 80, dtype=np.uint8)
            norms = np.full((rows, nb), 0.25, dtype=np.float16)
            meta = np.array([rows, nb, 128, rows * nb * 128, cols], dtype=np.int64)
            new = [(name + "__packed", "U8", [packed.size], packed), (name + "__norms", "F16", [rows, nb], norms),
                   (name + "__meta", "I64", [5], meta)]
        nbytes = sum(t[3].nbytes for t in new)
        if tensors and size + nbytes > SHARD_BYTES:
            flush(out, shard, tensors, index)
            tensors, size, shard = [], 0, shard + 1
        tensors += new
        size += nbytes
    flush(out, shard, tensors, index)
    with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": index}, f)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump({"model_type": "synthetic"}, f)
    if kind == "packed":
        with open(os.path.join(out, "hlwq_config.json"), "w") as f:
            json.dump({"format": "hlwq-q5", "block_size": 128}, f)


if __name__ == "__main__":
    main()
