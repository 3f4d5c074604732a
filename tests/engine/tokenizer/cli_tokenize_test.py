#!/usr/bin/env python3
"""`hlwq tokenize` against HF `tokenizers`: ids for text given as an argument and on stdin,
--no-special, and --decode back to the exact bytes. Exits 77 (skip) without
HLWQ_REFERENCE_DATA."""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "tools", "tokenizer_ref"))


def main():
    hlwq = sys.argv[1]
    ref = os.environ.get("HLWQ_REFERENCE_DATA")
    if not ref:
        print("HLWQ_REFERENCE_DATA is not set: skipped")
        return 77
    import make_fixtures as mf
    from tokenizers import AddedToken, Tokenizer

    vocab, merges = mf.qwen_bpe(os.path.join(ref, "tokenizers", "qwen2"))
    added = [AddedToken(c, special=s, normalized=False) for c, s in mf.QWEN3_ADDED]
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "tokenizer.json")
        with open(path, "w", encoding="utf-8") as f:
            f.write(mf.build(vocab, merges, mf.QWEN2_REGEX, added, True))
        tok = Tokenizer.from_file(path)
        # Each call loads the 7 MB tokenizer.json, so few calls cover each path once.
        texts = ["Hello, world!", "<|im_start|>user\nCafé 👋🏽 日本語\r\n  trailing  x<|im_end|>\n"]
        failures, checks = 0, 0
        for i, text in enumerate(texts):
            want = ",".join(map(str, tok.encode(text, add_special_tokens=False).ids))
            model_arg = path if i == 0 else d  # the file itself, or its model folder
            got = subprocess.run([hlwq, "tokenize", "-m", model_arg, text], capture_output=True, check=True).stdout.decode()
            checks += 1
            if got != want + "\n":
                print(f"ids of {text!r}: got {got!r}, want {want!r}")
                failures += 1
            got = subprocess.run([hlwq, "tokenize", "-m", d, "--ids", "-"], input=text.encode(), capture_output=True, check=True).stdout.decode()
            checks += 1
            if got != want + "\n":
                print(f"stdin ids of {text!r}: got {got!r}")
                failures += 1
            back = subprocess.run([hlwq, "tokenize", "-m", d, "--decode", want], capture_output=True, check=True).stdout
            checks += 1
            if back != text.encode():
                print(f"decode of {want}: got {back!r}")
                failures += 1
        tok.encode_special_tokens = True
        text = "<|im_end|> inside user text"
        want = ",".join(map(str, tok.encode(text, add_special_tokens=False).ids))
        got = subprocess.run([hlwq, "tokenize", "-m", d, "--no-special", text], capture_output=True, check=True).stdout.decode()
        if got != want + "\n":
            print(f"--no-special: got {got!r}, want {want!r}")
            failures += 1
        bad = subprocess.run([hlwq, "tokenize", "-m", d, "--decode", "1,x,3"], capture_output=True)
        if bad.returncode == 0 or b"'x'" not in bad.stderr:
            print(f"bad id list not reported: {bad.stderr!r}")
            failures += 1
        missing = subprocess.run([hlwq, "tokenize", "-m", os.path.join(d, "none"), "x"], capture_output=True)
        if missing.returncode == 0 or b"none" not in missing.stderr:
            print(f"missing tokenizer not reported: {missing.stderr!r}")
            failures += 1
    checks += 3
    print(f"{checks - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
