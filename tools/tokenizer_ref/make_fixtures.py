#!/usr/bin/env python3
"""Reference fixtures for the C++ tokenizer's differential tests, made with Hugging Face
`tokenizers` (and `sentencepiece` when installed).

The shared Qwen2 files have vocab.json + merges.txt but no tokenizer.json, so this builds real
tokenizer.json files with the `tokenizers` library, using Qwen2's exact pipeline (NFC, Split
regex isolated, ByteLevel without its own regex, ByteLevel decoder, ChatML added tokens):

  qwen2/        Qwen2/Qwen3 regex, merges as "a b" strings, Qwen3's 26 added tokens
  qwen35/       Qwen3.5 regex (adds \\p{M}), plus added tokens that exercise every flag, plus a
                sweep over every code point (unicode_sweep)
  qwen2_pairs/  as qwen2 but merges as ["a", "b"] pairs (the newer serialisation)
  llama3/       Llama 3's pipeline shape on the same vocabulary: \p{N}{1,3} regex, ignore_merges,
                no normalizer, a TemplateProcessing post-processor (encode adds no BOS)
  spbpe/        sentencepiece-style tokenizer.json trained here (Prepend/Replace normalizer,
                byte_fallback, unk, Replace/ByteFallback/Fuse/Strip decoder)
  metaspace/    as spbpe but with the Metaspace pre-tokenizer (prepend_scheme "first") and decoder
  spm/          a small sentencepiece model trained here on a corpus slice (if importable)

qwen2 and qwen35 also get plain_spans.bin: chat prompts with special-token strings inside
their messages (plain_span_cases.py).

Each folder gets cases.bin: the texts (corpus chunks from every book plus hand-made hard
cases) with the ids the reference library gives, and decode cases: id sequences (random,
including ones that split UTF-8 characters) with the reference's decoded text.

cases.bin format (little endian): records of
  u8 kind (0 = encode, and decoding the ids gives the text back; 4 = encode where the
           reference does not round-trip (a record of kind 2 follows with its decode);
           1 = encode with special tokens split as text; 2 = decode;
           3 = decode skipping special tokens), u32 text_len, text, u32 n_ids, i32 ids[n]
"""
import argparse
import json
import os
import random
import struct
import sys

from plain_span_cases import write_plain_span_cases
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
               r"|\s*[\r\n]+|\s+(?!\S)|\s+")
LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN35_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}"
                r"| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

# Qwen3's added tokens (ids follow the 151,643 BPE tokens): (content, special).
QWEN3_ADDED = [
    ("<|endoftext|>", True), ("<|im_start|>", True), ("<|im_end|>", True),
    ("<|object_ref_start|>", True), ("<|object_ref_end|>", True), ("<|box_start|>", True),
    ("<|box_end|>", True), ("<|quad_start|>", True), ("<|quad_end|>", True),
    ("<|vision_start|>", True), ("<|vision_end|>", True), ("<|vision_pad|>", True),
    ("<|image_pad|>", True), ("<|video_pad|>", True), ("<tool_call>", False),
    ("</tool_call>", False), ("<|fim_prefix|>", False), ("<|fim_middle|>", False),
    ("<|fim_suffix|>", False), ("<|fim_pad|>", False), ("<|repo_name|>", False),
    ("<|file_sep|>", False), ("<tool_response>", False), ("</tool_response>", False),
    ("<think>", False), ("</think>", False),
]

# Extra tokens for the flag semantics (lstrip/rstrip/single_word/normalized, special or not).
FLAG_TOKENS = [
    AddedToken("<mask>", special=True, lstrip=True, rstrip=True, single_word=False, normalized=False),
    AddedToken("[WORD]", special=False, single_word=True, normalized=False),
    AddedToken("café au lait", special=False, normalized=True),  # NFC-normalised before matching
    AddedToken("<sep>", special=False, rstrip=True, normalized=False),
    AddedToken("ü", special=False, lstrip=True, single_word=True, normalized=True),
]

HARD_CASES = [
    "", " ", "  ", "\n", "\r\n", "\r\n\r\n", "a\r\nb", "\t\t", "   leading", "trailing   ",
    "Hello, world!", "Hello world\n\n\nNext paragraph.", "x" * 5000, " " * 300, "\n" * 50,
    "a" + " " * 100 + "b", "tabs\t\tand  spaces \t \n mixed", "\u00a0non\u00a0breaking\u3000ideographic",
    "\u180emongolian\u180e", "\u2028line\u2029para\u0085nel",
    "你好，世界！这是一个测试。", "日本語のテキスト、カタカナ、ひらがな。", "한국어 텍스트입니다", "中文English混合mixed文本",
    "👋🏽 Hello 👨‍👩‍👧‍👦 family 🏳️‍🌈 flag 🇩🇪🇯🇵", "😀😃😄😁😆😅😂🤣", "❤️‍🔥 ZWJ ‍ lone ZWJ",
    "e\u0301 cafe\u0301 Cafe\u0301 \u0065\u0308\u0304 a\u0328\u0301", "ñ vs n\u0303, Å vs A\u030a, Ω vs \u2126",
    "\u0915\u094d\u0937 हिन्दी भाषा", "ภาษาไทย", "z̷̢̛̫͚͙̪̲̖̦̙̓̀̈́̈́̿̏a̶̡̧͎l̵g̸o̷",
    "مرحبا بالعالم", "שלום עולם", "\u202eRTL override\u202c", "mixed עברית and English", "ﷺ ﷽",
    "def f(x):\n    return x**2  # square\n\n\tif x != 0:\n\t\tpass\n",
    "for (int i = 0; i < n; ++i) { sum += a[i]; }\r\n", "std::vector<int32_t> v{1,2,3};",
    "<html><body class=\"x\">&amp;&lt;</body></html>", "{\"key\": [1, 2.5e-3, null, true]}",
    "    indented\n        more\n\n\n", "1234567890 3.14159 -42 1,000,000 0x1F 1e10 ١٢٣ ½ ²",
    "12345678901234567890123456789012345678901234567890", "Ⅻ ⅻ ① ⑳ ０１２",
    "I'm you're he's we've they'll she'd I'M YOU'RE 'S 'T 'Re Don't ſ 'ſ 'K 'k",
    "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", "text<|endoftext|>more",
    "<|im_start|><|im_end|><|endoftext|>", "<|im_start", "<|im_end|", "|im_end|>", "<<|im_end|>>",
    "<think>\nreasoning\n</think>\n\nanswer", "<tool_call>\n{\"name\": \"f\"}\n</tool_call>",
    "a <mask> b", "a<mask>b", "  <mask>  ", "x [WORD] y", "x[WORD]y", "[WORD]", "é[WORD]",
    "I want café au lait please", "I want cafe\u0301 au lait please", "a<sep>   b", "über ü ü",
    "n ü", "xü", "ü\u0308", "\ufeffBOM at start", "a\x00b\x01c\x7f", "\U0001f600" * 20,
    "Ünïcödé Çà Ëï Œ œ ß ẞ ﬁ ﬂ ﬃ", "Ǆ ǅ ǆ Ϊ ΐ ᾯ", "the quick brown fox jumps over the lazy dog " * 20,
    "!!!???...,,,;;;:::---___***", "''''''\"\"\"\"", "\\n\\t\\r", "a\u200bb\u200cc\u200dd\u2060e",
    "\U00010000\U0010fffd\ue000", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕄𝕒𝕥𝕙 𝟙𝟚𝟛",
    "\u00ea\u0301 e\u0302\u0301 \u1e17 o\u0328\u0304 \u01ed", "\u1100\u1161\u11a8 \u1100\u1161 \uac00\u11a8",
    "<|im_end|>\u0301x", "a\u0301<|im_start|>\u0308", "\u0301\u0301 leading marks", "x\u0335\u0301\u0316y",
    "q\u0307\u0323 \u1e0b\u0323 d\u0323\u0307", "\u212b \u2126 \u0958 \ufb2c \U0001d15e",
]


# Blocks where characters assigned in Unicode 11-15 make HF's older Unicode tables (NFC
# combining classes, regex classes) disagree with utf8proc 2.8 / PCRE2: measured with
# unicode_sweep() over every code point; the C++ side is not expected to copy older tables.
NEWER_UNICODE_BLOCKS = [(0x0880, 0x0900), (0x0E80, 0x0EC0), (0x1AC0, 0x1B00), (0x1DC0, 0x1E00),
                        (0x10F40, 0x10FC0), (0x11800, 0x11840), (0x1D2C0, 0x1D300), (0x1E4C0, 0x1E500)]


def unicode_sweep():
    """Every code point from U+0080 to U+31FFF (no surrogates), each as a word start, after a
    letter, before a digit, and next to its neighbours: a check of every Unicode class and
    NFC decision the pipeline makes."""
    cps = [c for c in range(0x80, 0x32000) if not (0xD800 <= c < 0xE000)
           and not any(a <= c < b for a, b in NEWER_UNICODE_BLOCKS)]
    return ["".join(f"{chr(c)}a {chr(c)}1 x{chr(c)}" for c in cps[i:i + 64]) for i in range(0, len(cps), 64)]


def qwen_bpe(ref_dir):
    with open(os.path.join(ref_dir, "vocab.json"), encoding="utf-8") as f:
        vocab = json.load(f)
    merges = []
    with open(os.path.join(ref_dir, "merges.txt"), encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#version"):
                continue
            a, b = line.split(" ")
            merges.append((a, b))
    return vocab, merges


def build(vocab, merges, regex, added, merges_as_strings, llama3=False):
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, dropout=None, unk_token=None,
                               continuing_subword_prefix="", end_of_word_suffix="",
                               fuse_unk=False, byte_fallback=False, ignore_merges=llama3))
    if llama3:
        tok.post_processor = processors.TemplateProcessing(
            single="<|endoftext|> $A", pair="<|endoftext|> $A <|endoftext|> $B",
            special_tokens=[("<|endoftext|>", 151643)])
    else:
        tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(regex), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    tok.add_tokens(added)
    doc = json.loads(tok.to_str())
    m = doc["model"]["merges"]
    if merges_as_strings:
        doc["model"]["merges"] = [" ".join(p) if isinstance(p, list) else p for p in m]
    else:
        doc["model"]["merges"] = [p.split(" ", 1) if isinstance(p, str) else p for p in m]
    return json.dumps(doc, ensure_ascii=False, indent=1)


def corpus_chunks(corpus_dir, budget_per_book, rng):
    """Paragraph-aligned chunks (blank lines, CRLF and BOM kept) from every book."""
    out = []
    for name in sorted(os.listdir(corpus_dir)):
        if not name.endswith(".txt"):
            continue
        with open(os.path.join(corpus_dir, name), "rb") as f:
            text = f.read().decode("utf-8")
        sep = "\r\n\r\n" if "\r\n" in text else "\n\n"
        paras = text.split(sep)
        # Spread samples over the whole book: random starting paragraphs, 1..6 paragraphs each.
        taken, guard = 0, 0
        starts = [0]  # the head, with its BOM
        while taken < budget_per_book and guard < 100000:
            guard += 1
            i = starts.pop() if starts else rng.randrange(len(paras))
            n = rng.randint(1, 6)
            chunk = sep.join(paras[i:i + n])
            if i + n < len(paras):
                chunk += sep
            out.append(chunk)
            taken += len(chunk.encode("utf-8"))
    return out


def write_cases(path, records):
    with open(path, "wb") as f:
        for kind, text, ids in records:
            b = text.encode("utf-8")
            f.write(struct.pack("<BI", kind, len(b)))
            f.write(b)
            f.write(struct.pack("<I", len(ids)))
            f.write(struct.pack("<%di" % len(ids), *ids))


def decode_cases(tok, encoded, vocab_size, rng):
    """Reference decodes: ids of real text cut at arbitrary points (splits UTF-8 characters),
    and random ids over the whole vocabulary, added tokens included."""
    out = []
    for ids in encoded[:300]:
        if not ids:
            continue
        a = rng.randrange(len(ids))
        b = rng.randrange(a, len(ids)) + 1
        out.append(ids[a:b])
    for _ in range(300):
        out.append([rng.randrange(vocab_size) for _ in range(rng.randint(1, 40))])
    recs = []
    for ids in out:
        recs.append((2, tok.decode(ids, skip_special_tokens=False), ids))
        recs.append((3, tok.decode(ids, skip_special_tokens=True), ids))
    return recs


def trained_sp_style(corpus_dir, metaspace):
    """A small sentencepiece-style BPE tokenizer.json trained with `tokenizers` itself."""
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    if metaspace:
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first", split=True)
        tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="first", split=True)
    else:
        tok.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
        tok.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(),
                                         decoders.Strip(" ", 1, 0)])
    special = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % i for i in range(256)]
    trainer = trainers.BpeTrainer(vocab_size=1500, special_tokens=special, show_progress=False,
                                  limit_alphabet=120)
    lines = []
    for name in sorted(os.listdir(corpus_dir))[:4]:
        if name.endswith(".txt"):
            with open(os.path.join(corpus_dir, name), encoding="utf-8-sig") as f:
                lines += [l for l in f.read(60000).splitlines() if l.strip()]
    tok.train_from_iterator(lines, trainer)
    tok.add_tokens([AddedToken("<|im_start|>", special=True, normalized=False),
                    AddedToken("<|im_end|>", special=True, normalized=False)])
    return tok.to_str()


def hf_fixture(out_dir, name, tok_json, texts, rng, random_decodes=True, prompts=0):
    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "tokenizer.json")
    with open(path, "w", encoding="utf-8") as f:
        f.write(tok_json)
    tok = Tokenizer.from_file(path)  # encode with exactly the file under test
    encoded = [e.ids for e in tok.encode_batch(texts, add_special_tokens=False)]
    recs = []
    for t, ids in zip(texts, encoded):
        back = tok.decode(ids, skip_special_tokens=False)
        recs.append((0 if back == t else 4, t, ids))
        if back != t:
            recs.append((2, back, ids))
    tok.encode_special_tokens = True
    hard = [t for t in texts if "<" in t]
    for t, e in zip(hard, tok.encode_batch(hard, add_special_tokens=False)):
        recs.append((1, t, e.ids))
    tok.encode_special_tokens = False
    if random_decodes:
        recs += decode_cases(tok, encoded, tok.get_vocab_size(with_added_tokens=True), rng)
    write_cases(os.path.join(d, "cases.bin"), recs)
    if prompts:
        write_plain_span_cases(tok, os.path.join(d, "plain_spans.bin"), texts, random.Random(name), prompts)
    return len(recs)


def spm_fixture(out_dir, corpus_dir, texts, rng):
    try:
        import sentencepiece as spm
    except ImportError:
        return None
    d = os.path.join(out_dir, "spm")
    os.makedirs(d, exist_ok=True)
    train = os.path.join(d, "train.txt")
    with open(train, "w", encoding="utf-8") as f:
        for name in sorted(os.listdir(corpus_dir))[:6]:
            if name.endswith(".txt"):
                with open(os.path.join(corpus_dir, name), encoding="utf-8-sig") as g:
                    f.write(g.read(150000))
        f.write("\n".join(HARD_CASES[:60]))
    spm.SentencePieceTrainer.train(
        input=train, model_prefix=os.path.join(d, "tokenizer"), vocab_size=3000,
        model_type="bpe", byte_fallback=True, character_coverage=0.9995,
        user_defined_symbols=["<|im_start|>", "<|im_end|>"], minloglevel=2, num_threads=1)
    sp = spm.SentencePieceProcessor(model_file=os.path.join(d, "tokenizer.model"))
    recs = []
    for t in texts:
        ids = sp.encode(t)
        back = sp.decode(ids)
        recs.append((0 if back == t else 4, t, ids))
        if back != t:
            recs.append((2, back, ids))
    for _ in range(300):
        ids = [rng.randrange(sp.get_piece_size()) for _ in range(rng.randint(1, 30))]
        recs.append((2, sp.decode(ids), ids))
    write_cases(os.path.join(d, "cases.bin"), recs)
    return len(recs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reference", required=True, help="shared data folder (HLWQ_REFERENCE_DATA)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--bytes-per-book", type=int, default=200000)
    args = ap.parse_args()
    rng = random.Random(1234)
    corpus = os.path.join(args.reference, "corpus")
    texts = HARD_CASES + corpus_chunks(corpus, args.bytes_per_book, rng)

    vocab, merges = qwen_bpe(os.path.join(args.reference, "tokenizers", "qwen2"))
    qwen3 = [AddedToken(c, special=s, normalized=False) for c, s in QWEN3_ADDED]
    counts = {
        "qwen2": hf_fixture(args.out, "qwen2", build(vocab, merges, QWEN2_REGEX, qwen3, True), texts, rng, prompts=400),
        "qwen35": hf_fixture(args.out, "qwen35",
                             build(vocab, merges, QWEN35_REGEX, qwen3 + FLAG_TOKENS, True), texts + unicode_sweep(), rng,
                             prompts=200),
        "qwen2_pairs": hf_fixture(args.out, "qwen2_pairs",
                                  build(vocab, merges, QWEN2_REGEX, qwen3, False), texts, rng),
    }
    counts["llama3"] = hf_fixture(args.out, "llama3", build(vocab, merges, LLAMA3_REGEX, qwen3, False, llama3=True),
                                  texts, rng)
    sp_texts = texts[:600] + HARD_CASES
    counts["spbpe"] = hf_fixture(args.out, "spbpe", trained_sp_style(corpus, False), sp_texts, rng)
    counts["metaspace"] = hf_fixture(args.out, "metaspace", trained_sp_style(corpus, True), sp_texts, rng)
    n = spm_fixture(args.out, corpus, texts[:400] + HARD_CASES, rng)
    if n is not None:
        counts["spm"] = n
    print(json.dumps(counts))


if __name__ == "__main__":
    sys.exit(main())
