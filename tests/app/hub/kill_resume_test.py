#!/usr/bin/env python3
"""SIGKILL `hlwq download` in the middle of a transfer, start it again: the second run resumes
with Range from the bytes the first one left, and the file completes and verifies.
usage: kill_resume_test.py HLWQ_BINARY"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile

from hub_script_util import Mock, hub_env, random_file, sha256, size_of, wait_for


def main():
    hlwq = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="hlwq-kill-resume-")
    mock = None
    try:
        data = random_file(os.path.join(tmp, "repo", "model-00001-of-00001.safetensors"), 3_000_000, 7)
        random_file(os.path.join(tmp, "repo", "config.json"), 400, 8)
        mock = Mock(["org/killme=" + os.path.join(tmp, "repo")], ["--faults", '{"throttle_bps": 1500000}'])
        env = hub_env(mock, tmp)
        blob = os.path.join(tmp, "cache", "models--org--killme", "blobs", sha256(data))
        partial = blob + ".incomplete"

        first = subprocess.Popen([hlwq, "download", "org/killme", "--quiet"], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: size_of(partial) >= 600_000 or first.poll() is not None, 60, "the partial file to grow")
        if first.poll() is not None:
            raise SystemExit("hlwq download ended before it could be killed (rc %s)" % first.returncode)
        first.send_signal(signal.SIGKILL)
        first.wait()
        kept = size_of(partial)
        assert not os.path.exists(blob), "a killed download left a file under the final name"
        assert 0 < kept < len(data), kept
        assert os.path.exists(partial + ".json"), "no sidecar beside the partial file"

        mock.faults({})
        second = subprocess.run([hlwq, "download", "org/killme", "--quiet"], env=env, capture_output=True, timeout=120)
        assert second.returncode == 0, second.stderr.decode()
        snapshot = second.stdout.decode().strip()
        with open(os.path.join(snapshot, "model-00001-of-00001.safetensors"), "rb") as f:
            got = f.read()
        assert sha256(got) == sha256(data), "resumed file differs from the source"
        assert not os.path.exists(partial), "partial file left behind"
        ranges = [e["range"] for e in mock.log() if e["path"].startswith("/cdn/") and e["range"]]
        assert ranges == ["bytes=%d-" % kept], "expected one Range request from byte %d, got %r" % (kept, ranges)
        print("kill-and-resume: killed at %d of %d bytes, resumed from there" % (kept, len(data)))
    finally:
        if mock:
            mock.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
