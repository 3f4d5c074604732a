"""`hlwq fit --repo` against the local mock Hub (tests/app/hub/mock_hub.py): the remote answer
must equal the answer for the same files on disk, the HLWQ repo's bits must come from its
hlwq_config.json, the download size from the Hub's file sizes, and nothing but the small JSON
files may be fetched (the weights stay on the server).

usage: check_fit_repo.py HLWQ_BINARY MOCK_HUB_PY WORK_DIR
"""
import json
import os
import shutil
import subprocess
import sys
import urllib.request

binary, mock_py, work = sys.argv[1], sys.argv[2], sys.argv[3]
shutil.rmtree(work, ignore_errors=True)
repo_dir = os.path.join(work, "repo")
os.makedirs(repo_dir)
text = dict(model_type="qwen3_5_text", hidden_size=2048, num_hidden_layers=24, num_attention_heads=8,
            num_key_value_heads=2, head_dim=256, linear_num_key_heads=16, linear_num_value_heads=16,
            linear_key_head_dim=128, linear_value_head_dim=128, linear_conv_kernel_dim=4, intermediate_size=6144,
            vocab_size=248320, max_position_embeddings=262144)
files = {
    "config.json": json.dumps(dict(model_type="qwen3_5", text_config=text, tie_word_embeddings=True)).encode(),
    "hlwq_config.json": json.dumps({"format": "hlwq-q4", "block_size": 128}).encode(),
    "model.safetensors": os.urandom(3 << 20),  # stands in for the weights: only its size matters
    "tokenizer.json": b"{}",
    "model_int4.pt": os.urandom(1 << 20),      # a pickle: never part of what we download
}
for name, data in files.items():
    with open(os.path.join(repo_dir, name), "wb") as f:
        f.write(data)

mock = subprocess.Popen([sys.executable, mock_py, "--exit-on-stdin-eof", "--repo", "org/tiny-hlwq=" + repo_dir],
                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
failures = []
try:
    line = mock.stdout.readline().decode()
    if not line.startswith("PORT "):
        sys.exit("mock hub did not start: %r" % line)
    endpoint = "http://127.0.0.1:%d" % int(line.split()[1])
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_ENDPOINT=endpoint, HF_HOME=os.path.join(work, "home"))
    common = ["--vram-gb", "8", "--ctx", "16384", "--kv", "q3", "--json"]
    remote = json.loads(subprocess.run([binary, "fit", "--repo", "org/tiny-hlwq", *common], env=env, check=True,
                                       capture_output=True, text=True).stdout)
    local = json.loads(subprocess.run([binary, "fit", "-m", repo_dir, *common], env=env, check=True,
                                      capture_output=True, text=True).stdout)
    if remote["plan"]["model"]["weight_bits"] != 4 or not remote["plan"]["model"]["prequantized"]:
        failures.append("bits/prequantized not from hlwq_config.json: %s" % remote["plan"]["model"])
    expected_download = sum(len(d) for n, d in files.items() if not n.endswith(".pt"))
    if remote.get("download_bytes") != expected_download:
        failures.append("download_bytes %s != %d" % (remote.get("download_bytes"), expected_download))
    for key in ("verdict", "max_context", "per_kv_mode", "best_weight_bits"):
        if remote[key] != local[key]:
            failures.append("%s differs: remote %s, local %s" % (key, remote[key], local[key]))
    if remote["plan"]["required_bytes"] != local["plan"]["required_bytes"]:
        failures.append("required_bytes differ")
    log = json.loads(urllib.request.urlopen(endpoint + "/_mock/log", timeout=10).read())
    fetched = [e["path"] for e in log if e.get("method") == "GET" and "/resolve/" in e.get("path", "")]
    if not any(p.endswith("/config.json") for p in fetched):
        failures.append("config.json not fetched through resolve/ (log: %s)" % fetched)
    if any(p.endswith(".safetensors") or p.endswith(".pt") for p in fetched):
        failures.append("weights were fetched: %s" % fetched)
    missing = subprocess.run([binary, "fit", "--repo", "org/absent", *common], env=env, capture_output=True, text=True)
    if missing.returncode == 0 or "org/absent" not in missing.stderr:
        failures.append("a missing repo must fail naming it: rc %d, %s" % (missing.returncode, missing.stderr))
finally:
    mock.stdin.close()
    mock.terminate()
    mock.wait(timeout=10)
for f in failures:
    print("FAIL", f)
print("%d failures" % len(failures))
sys.exit(1 if failures else 0)
