"""Independent numpy implementation of /work/shared/specs/hlwq-format.md (sections 1-4).

Written from the spec, not from the C++ code: its own safetensors reader/writer, Hadamard
transform, codebooks, packings and file layouts. Used by crosscheck.py to check the engine
bit for bit. The only shared convention is the float32 operation order documented in
docs/FORMATS.md ("Exact arithmetic"), which makes bit-exact comparison possible.
"""
import json
import os
import struct

import numpy as np

BLOCK = 128

# Spec section 2, positive halves.
_TABLES = {
    ("converged", 5): [0.065890, 0.198052, 0.331378, 0.466700, 0.604934, 0.747136, 0.894565, 1.048783,
                       1.211804, 1.386340, 1.576228, 1.787233, 2.028728, 2.317739, 2.691120, 3.260732],
    ("converged", 4): [0.128395, 0.388048, 0.656759, 0.942340, 1.256231, 1.618046, 2.069017, 2.732590],
    ("converged", 3): [0.245094, 0.756005, 1.343909, 2.151946],
    ("converged", 2): [0.452780, 1.510418],
    ("reference-loader", 5): [0.087992, 0.264068, 0.440432, 0.617322, 0.795051, 0.974056, 1.154962, 1.338679,
                              1.526562, 1.720652, 1.924106, 2.141992, 2.382909, 2.662872, 3.016919, 3.551609],
    ("reference-loader", 4): [0.131758, 0.397897, 0.672392, 0.962641, 1.279740, 1.643042, 2.093563, 2.754355],
    ("reference-loader", 3): [0.245095, 0.756006, 1.343911, 2.151947],
    ("reference-loader", 2): [0.452780, 1.510418],
    ("reference-quantizer", 5): [0.087778, 0.263401, 0.439243, 0.615489, 0.792392, 0.970315, 1.149795, 1.331628,
                                 1.517017, 1.707795, 1.906813, 2.118635, 2.350928, 2.617656, 2.948092, 3.423144],
}


def codebook(name, bits):
    half = np.array(_TABLES[(name, bits)], dtype=np.float32)
    return np.concatenate([-half[::-1], half]).astype(np.float32)


# ---------------------------------------------------------------- transform
def hadamard_unnormalised(x):
    """Sylvester order-128 transform of the last axis (entries +-1), float32 butterflies:
    stage h pairs element j with j+h inside each group of 2h, giving (a+b, a-b)."""
    x = np.array(x, dtype=np.float32, copy=True)
    lead = x.shape[:-1]
    h = 1
    while h < BLOCK:
        v = x.reshape(lead + (BLOCK // (2 * h), 2, h))
        a = v[..., 0, :].copy()
        b = v[..., 1, :].copy()
        v[..., 0, :] = a + b
        v[..., 1, :] = a - b
        x = v.reshape(lead + (BLOCK,))
        h *= 2
    return x


def hadamard_matrix():
    """The normalised matrix, built by the recursive definition (used only to test the butterflies)."""
    h = np.array([[1.0]])
    while h.shape[0] < BLOCK:
        h = np.block([[h, h], [h, -h]])
    return h / np.sqrt(BLOCK)


# ---------------------------------------------------------------- quantization
def f16_bits(x32):
    return np.asarray(x32, dtype=np.float32).astype(np.float16).view(np.uint16)


def quantize_blocks(blocks, book, scale="norm"):
    """blocks: float32 [n, 128]. Returns (codes uint8 [n,128], scale fp16 bits uint16 [n])."""
    blocks = np.asarray(blocks, dtype=np.float32)
    norm = np.sqrt(np.sum(blocks.astype(np.float64) ** 2, axis=1)).astype(np.float32)
    if not np.all(np.isfinite(norm)):
        raise ValueError("non-finite block")
    n = np.maximum(norm, np.float32(1e-10))
    t = hadamard_unnormalised(blocks)
    inv = (np.float32(1.0) / n).astype(np.float32)
    z = (t * inv[:, None]).astype(np.float32)
    mids = ((book[:-1] + book[1:]) * np.float32(0.5)).astype(np.float32)
    # code = number of midpoints strictly below z (ties go to the lower centroid)
    codes = np.searchsorted(mids, z, side="left").astype(np.uint8)
    if scale == "norm":
        return codes, f16_bits(n)
    c = book[codes].astype(np.float64)
    zc = np.sum(z.astype(np.float64) * c, axis=1)
    cc = np.sum(c * c, axis=1)
    s = (n.astype(np.float64) * zc / cc).astype(np.float32)
    return codes, f16_bits(s)


def dequantize_blocks(codes, scale_bits, book):
    v = book[codes.astype(np.int64)].astype(np.float32)
    t = hadamard_unnormalised(v)
    s = (scale_bits.view(np.float16).astype(np.float32) * np.float32(1.0 / BLOCK)).astype(np.float32)
    return (t * s[:, None]).astype(np.float32)


def quantize_matrix(w, book, scale="norm"):
    """w: [out, in] float32 -> (codes [out, nb*128], norms uint16 [out, nb])."""
    out, inn = w.shape
    nb = -(-inn // BLOCK)
    padded = np.zeros((out, nb * BLOCK), dtype=np.float32)
    padded[:, :inn] = w
    codes, s = quantize_blocks(padded.reshape(-1, BLOCK), book, scale)
    return codes.reshape(out, nb * BLOCK), s.reshape(out, nb)


def dequantize_matrix(codes, norms, book, cols):
    out, nb = norms.shape
    w = dequantize_blocks(codes.reshape(-1, BLOCK), norms.reshape(-1), book).reshape(out, nb * BLOCK)
    return w[:, :cols]


# ---------------------------------------------------------------- packings
def pack_be(codes, bits):
    """MSB-first bitstream (spec 3.1): groups of 8 codes -> `bits` bytes."""
    c = codes.reshape(-1, 8).astype(np.uint64)
    word = np.zeros(c.shape[0], dtype=np.uint64)
    for i in range(8):
        word = (word << np.uint64(bits)) | c[:, i]
    out = np.zeros((c.shape[0], bits), dtype=np.uint8)
    for b in range(bits):
        out[:, b] = ((word >> np.uint64(8 * (bits - 1 - b))) & np.uint64(0xFF)).astype(np.uint8)
    return out.reshape(-1)


def unpack_be(data, bits, n):
    d = np.asarray(data, dtype=np.uint8)[: n // 8 * bits].reshape(-1, bits).astype(np.uint64)
    word = np.zeros(d.shape[0], dtype=np.uint64)
    for b in range(bits):
        word = (word << np.uint64(8)) | d[:, b]
    out = np.zeros((d.shape[0], 8), dtype=np.uint8)
    mask = np.uint64((1 << bits) - 1)
    for i in range(8):
        out[:, i] = ((word >> np.uint64(bits * (7 - i))) & mask).astype(np.uint8)
    return out.reshape(-1)


def pack_le5(codes):
    """Legacy packed_q5 (spec 3.2): sum(c_i << 5i), little-endian 5 bytes."""
    c = codes.reshape(-1, 8).astype(np.uint64)
    word = np.zeros(c.shape[0], dtype=np.uint64)
    for i in range(8):
        word |= c[:, i] << np.uint64(5 * i)
    out = np.zeros((c.shape[0], 5), dtype=np.uint8)
    for b in range(5):
        out[:, b] = ((word >> np.uint64(8 * b)) & np.uint64(0xFF)).astype(np.uint8)
    return out.reshape(-1)


def pack_nibbles(codes):
    """Legacy half-block nibbles: byte i of a block = code[64+i] << 4 | code[i]."""
    c = codes.reshape(-1, BLOCK).astype(np.uint8)
    return ((c[:, 64:] << 4) | c[:, :64]).astype(np.uint8).reshape(-1)


# ---------------------------------------------------------------- safetensors
_DT = {"BF16": (np.uint16, 2), "F16": (np.float16, 2), "F32": (np.float32, 4), "U8": (np.uint8, 1),
       "I8": (np.int8, 1), "I32": (np.int32, 4), "I64": (np.int64, 8)}


def read_safetensors(path):
    """-> {name: (dtype string, shape list, raw bytes)}"""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        out[name] = (info["dtype"], list(info["shape"]), data[base + b: base + e])
    return out


def as_array(entry):
    dtype, shape, raw = entry
    return np.frombuffer(raw, dtype=_DT[dtype][0]).reshape(shape)


def to_f32(entry):
    dtype = entry[0]
    a = as_array(entry)
    if dtype == "BF16":
        return (a.astype(np.uint32) << 16).view(np.float32)
    return a.astype(np.float32)


def write_safetensors(path, tensors, metadata=None):
    """tensors: list of (name, dtype string, shape, numpy array or bytes)."""
    header = {}
    if metadata:
        header["__metadata__"] = metadata
    blobs = []
    off = 0
    for name, dtype, shape, arr in tensors:
        raw = arr if isinstance(arr, bytes) else np.ascontiguousarray(arr).tobytes()
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def read_model_dir(d):
    """Every tensor of a directory of shards."""
    out = {}
    for fn in sorted(os.listdir(d)):
        if fn.endswith(".safetensors"):
            out.update(read_safetensors(os.path.join(d, fn)))
    return out


def f32_to_bf16_bits(a):
    u = np.asarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = u + np.uint64(0x7FFF) + ((u >> np.uint64(16)) & np.uint64(1))
    return (u >> np.uint64(16)).astype(np.uint16)


# ---------------------------------------------------------------- spec 4.1 layout
def hlwq_tensors(name, w, book, bits, scale="norm"):
    """The three spec 4.1 tensors of one quantized Linear."""
    codes, norms = quantize_matrix(w, book, scale)
    out, nb = norms.shape
    meta = np.array([out, nb, BLOCK, out * nb * BLOCK, w.shape[1]], dtype=np.int64)
    packed = pack_be(codes.reshape(-1), bits)
    return [(name + "__packed", "U8", [packed.size], packed), (name + "__norms", "F16", [out, nb], norms),
            (name + "__meta", "I64", [5], meta)]


def read_hlwq_dir(d):
    """Reads a spec 4.1/4.3 directory: {P: dequantized float32 matrix} plus dense tensors as float32."""
    cfg_path = os.path.join(d, "hlwq_config.json")
    if not os.path.exists(cfg_path):
        cfg_path = os.path.join(d, "polar_config.json")
    with open(cfg_path) as f:
        cfg = json.load(f)
    bits = int(cfg["format"][len("hlwq-q"):])
    book = np.array(cfg["codebook"], dtype=np.float32) if "codebook" in cfg else codebook("reference-loader", bits)
    t = read_model_dir(d)
    out = {}
    for name in t:
        if name.endswith("__packed"):
            p = name[: -len("__packed")]
            meta = as_array(t[p + "__meta"])
            rows, nb, blk, total = (int(x) for x in meta[:4])
            assert blk == BLOCK and total == rows * nb * BLOCK
            cols = int(meta[4]) if meta.size == 5 else nb * BLOCK
            codes = unpack_be(as_array(t[name]), bits, total)
            norms = as_array(t[p + "__norms"]).view(np.uint16)
            out[p] = dequantize_matrix(codes, norms, book, cols)
        elif not (name.endswith("__norms") or name.endswith("__meta")):
            out[name] = to_f32(t[name])
    return cfg, out
