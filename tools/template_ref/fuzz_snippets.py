"""Writes a snippet file (the format of tests/engine/chat/snippets.json) of randomly mutated
real chat templates, each with a generated conversation as its variables. Rendering them with
both jinja2 and hlwq finds differences in corner cases no hand-written snippet covers.

Usage: fuzz_snippets.py OUT.json SEED COUNT TEMPLATE..."""
import json
import random
import sys

import conversations

MUTATIONS = ["{{", "}}", "(", ")", "[", "]", "|", "|length", " is ", " not ", ".", ":", "::-1", " + ", " ~ ",
             "loop.", " if ", " else ", "*", "-", "0", "|trim", "|tojson", "|string", "|list", "|first", "|last",
             "|reverse", "|join", " in ", "[1:]", "[::-1]", "|items", ".strip()", ".split()", "|upper"]


def main():
    out_path, seed, count, paths = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
    rng = random.Random(seed)
    sources = []
    for p in sorted(paths):
        with open(p, encoding="utf-8", newline="") as f:
            sources.append(f.read())
    cases = conversations.cases()
    snippets = []
    for i in range(count):
        s = rng.choice(sources)
        for _ in range(rng.randint(1, 2)):
            pos = rng.randrange(len(s))
            op = rng.randrange(3)
            if op == 0:
                s = s[:pos] + s[pos + rng.randint(1, 6):]
            elif op == 1:
                s = s[:pos] + rng.choice(MUTATIONS) + s[pos:]
            else:
                a = rng.randrange(len(s))
                s = s[:pos] + s[a:a + rng.randint(1, 30)] + s[pos:]
        c = rng.choice(cases)
        v = {"messages": c["messages"], "tools": c.get("tools"), "documents": None,
             "add_generation_prompt": c["add_generation_prompt"]}
        for k in ("bos_token", "eos_token", "enable_thinking"):
            if k in c:
                v[k] = c[k]
        snippets.append({"name": f"fuzz{seed}-{i}", "template": s, "vars": v})
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(snippets, f, ensure_ascii=False)


if __name__ == "__main__":
    main()
