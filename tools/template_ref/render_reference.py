"""Independent reference for hlwq's chat templates: renders with python3-jinja2 configured
exactly as Hugging Face transformers does (transformers/utils/chat_template_utils.py):
ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True) with the loopcontrols
extension, transformers' own tojson filter, and the raise_exception / strftime_now globals;
render(messages=..., tools=..., documents=None, add_generation_prompt=..., **special tokens,
**kwargs).

Usage:
  render_reference.py conversations OUT.json TEMPLATE...   64+ conversations x each template
  render_reference.py snippets IN.json OUT.json            small templates with their variables
"""
import json
import sys
from datetime import datetime

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

import conversations


def make_env():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return datetime.now().strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def render(env, source, variables, compiled=None):
    try:
        template = compiled if compiled is not None else env.from_string(source)
        return {"ok": True, "output": template.render(**variables)}
    except Exception as e:  # the C++ side must fail too; the message is informative only
        return {"ok": False, "error": f"{type(e).__name__}: {e}"}


def case_variables(case):
    v = {"messages": case["messages"], "tools": case.get("tools"), "documents": None,
         "add_generation_prompt": case["add_generation_prompt"]}
    for key in ("bos_token", "eos_token", "enable_thinking"):
        if key in case:
            v[key] = case[key]
    return v


def main():
    env = make_env()
    mode = sys.argv[1]
    if mode == "conversations":
        out_path, templates = sys.argv[2], sys.argv[3:]
        all_cases = conversations.cases()
        results = []
        for path in templates:
            with open(path, encoding="utf-8", newline="") as f:
                source = f.read()
            compiled = env.from_string(source)  # every real template compiles
            for case in all_cases:
                r = render(env, source, case_variables(case), compiled)
                r.update({"template": path, "case": case["id"]})
                results.append(r)
        doc = {"cases": all_cases, "results": results}
    elif mode == "snippets":
        with open(sys.argv[2], encoding="utf-8") as f:
            snippets = json.load(f)
        results = []
        for s in snippets:
            r = render(env, s["template"], s.get("vars", {}))
            r["name"] = s["name"]
            results.append(r)
        doc = {"results": results}
        out_path = sys.argv[3]
    else:
        sys.exit(f"unknown mode {mode}")
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main()
