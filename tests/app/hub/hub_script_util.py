"""Shared plumbing of the script tests: start the mock Hub, run `hlwq download`, read its log."""
import hashlib
import json
import os
import random
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SKIP = 77


def random_file(path, size, seed):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    data = random.Random(seed).randbytes(size)
    with open(path, "wb") as f:
        f.write(data)
    return data


class Mock:
    def __init__(self, repos, extra=()):
        args = [sys.executable, os.path.join(HERE, "mock_hub.py"), "--exit-on-stdin-eof"]
        for r in repos:
            args += ["--repo", r]
        self.proc = subprocess.Popen(args + list(extra), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("PORT "):
            raise SystemExit("mock hub did not start: %r" % line)
        self.port = int(line.split()[1])
        self.endpoint = "http://127.0.0.1:%d" % self.port

    def faults(self, faults):
        req = urllib.request.Request(self.endpoint + "/_mock/faults", data=json.dumps(faults).encode(), method="POST")
        urllib.request.urlopen(req, timeout=10).read()

    def log(self):
        return json.loads(urllib.request.urlopen(self.endpoint + "/_mock/log", timeout=10).read())

    def stop(self):
        self.proc.stdin.close()
        self.proc.terminate()
        self.proc.wait(timeout=10)


def hub_env(mock, tmp):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_ENDPOINT=mock.endpoint, HF_HOME=os.path.join(tmp, "home"), HF_HUB_CACHE=os.path.join(tmp, "cache"))
    return env


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def wait_for(predicate, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise SystemExit("timed out waiting for " + what)


def size_of(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
