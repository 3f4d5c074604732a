"""`hlwq template` against python3-jinja2 (transformers' settings): the printed prompt must be
byte-identical, for template files, a model directory with tokenizer_config.json, and the
--thinking / --no-generation-prompt / --tools options. Exit 77 (skip) without reference data."""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tools", "template_ref"))
import conversations  # noqa: E402
import render_reference  # noqa: E402


def main():
    hlwq = sys.argv[1]
    ref = os.environ.get("HLWQ_REFERENCE_DATA")
    if not ref:
        print("HLWQ_REFERENCE_DATA not set: skipped")
        return 77
    env = render_reference.make_env()
    templates = sorted(os.path.join(ref, "chat-templates", f) for f in os.listdir(os.path.join(ref, "chat-templates"))
                       if f.endswith(".jinja"))
    cases = conversations.cases()[:12]
    failures = checked = 0
    with tempfile.TemporaryDirectory() as tmp:
        for path in templates:
            with open(path, encoding="utf-8", newline="") as f:
                source = f.read()
            model_dir = os.path.join(tmp, os.path.basename(path) + ".model")
            os.mkdir(model_dir)
            with open(os.path.join(model_dir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
                json.dump({"chat_template": source, "eos_token": "<|im_end|>"}, f, ensure_ascii=False)
            for i, case in enumerate(cases):
                variables = render_reference.case_variables(case)
                cmd = [hlwq, "template", "-m", path]
                if i % 2:  # every other case through the model-directory route
                    cmd = [hlwq, "template", "-m", model_dir]
                    variables["eos_token"] = "<|im_end|>"
                    variables.pop("bos_token", None)
                messages_file = os.path.join(tmp, "messages.json")
                with open(messages_file, "w", encoding="utf-8") as f:
                    json.dump(case["messages"], f, ensure_ascii=False)
                cmd += ["--messages", messages_file]
                if "tools" in case:
                    tools_file = os.path.join(tmp, "tools.json")
                    with open(tools_file, "w", encoding="utf-8") as f:
                        json.dump(case["tools"], f, ensure_ascii=False)
                    cmd += ["--tools", tools_file]
                if not case["add_generation_prompt"]:
                    cmd.append("--no-generation-prompt")
                if "enable_thinking" in case:
                    cmd += ["--thinking", "on" if case["enable_thinking"] else "off"]
                if i % 2 == 0 and ("bos_token" in variables or "eos_token" in variables):
                    variables.pop("bos_token", None)  # a bare .jinja file has no special tokens
                    variables.pop("eos_token", None)
                expected = render_reference.render(env, source, variables)
                got = subprocess.run(cmd, capture_output=True)
                checked += 1
                if expected["ok"]:
                    ok = got.returncode == 0 and got.stdout == expected["output"].encode("utf-8")
                else:
                    ok = got.returncode == 1 and b"chat template" in got.stderr
                if not ok:
                    failures += 1
                    print(f"FAIL {path} {case['id']}: rc={got.returncode} stderr={got.stderr.decode()[:300]}")
    print(f"{checked} CLI renders checked, {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
