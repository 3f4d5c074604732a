#!/usr/bin/env python3
"""`hlwq download` on a tiny tmpfs: the space check refuses a file that cannot fit, and a disk
that fills up mid-transfer (ENOSPC) gives a clear error with no half file under the final name;
after space is freed the download resumes and verifies.
Runs in a private mount namespace (unshare -m as root, unshare -rm otherwise); exits 77 (skip)
where neither is allowed.
usage: disk_full_test.py HLWQ_BINARY"""
import os
import shutil
import subprocess
import sys
import tempfile

from hub_script_util import SKIP, Mock, hub_env, random_file, sha256, size_of, wait_for


def inside(hlwq):
    tmp = tempfile.mkdtemp(prefix="hlwq-disk-full-")
    mnt = os.path.join(tmp, "small-disk")
    os.makedirs(mnt)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt]).returncode != 0:
        print("cannot mount a tmpfs here")
        sys.exit(SKIP)
    mock = None
    try:
        big = random_file(os.path.join(tmp, "big", "model.safetensors"), 3_000_000, 1)
        fits = random_file(os.path.join(tmp, "fits", "model.safetensors"), 1_500_000, 2)
        mock = Mock(["org/big=" + os.path.join(tmp, "big"), "org/fits=" + os.path.join(tmp, "fits")])
        env = hub_env(mock, tmp)
        cache = os.path.join(mnt, "cache")

        # 1. Refused before the first byte: 3 MB into 2 MB.
        r = subprocess.run([hlwq, "download", "org/big", "--cache", cache, "--quiet"], env=env, capture_output=True, timeout=60)
        err = r.stderr.decode()
        assert r.returncode != 0 and "not enough disk space" in err, err
        assert not [e for e in mock.log() if e["path"].startswith("/cdn/")], "bytes were requested despite the space check"

        # 2. The disk fills up mid-transfer (another program takes the space).
        mock.faults({"throttle_bps": 1_000_000})
        blob = os.path.join(cache, "models--org--fits", "blobs", sha256(fits))
        p = subprocess.Popen([hlwq, "download", "org/fits", "--cache", cache, "--quiet"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_for(lambda: size_of(blob + ".incomplete") >= 300_000 or p.poll() is not None, 60, "the download to start")
        filler = os.path.join(mnt, "filler")
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            while os.write(fd, b"\0" * 65536) > 0:
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        out, err = p.communicate(timeout=60)
        err = err.decode()
        assert p.returncode != 0, "download succeeded on a full disk"
        assert "disk full" in err and "model.safetensors" in err, err
        assert not os.path.exists(blob), "half file under the final name"
        snap = os.path.join(cache, "models--org--fits", "snapshots")
        for root, _, names in os.walk(snap):
            assert "model.safetensors" not in names, "snapshot link to an unfinished blob"

        # 3. Space freed: the next run resumes and verifies.
        os.remove(filler)
        mock.faults({})
        r = subprocess.run([hlwq, "download", "org/fits", "--cache", cache, "--quiet"], env=env, capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr.decode()
        with open(os.path.join(r.stdout.decode().strip(), "model.safetensors"), "rb") as f:
            assert sha256(f.read()) == sha256(fits)
        print("disk-full: refused early, ENOSPC reported as: " + err.strip().splitlines()[-1])
    finally:
        if mock:
            mock.stop()
        subprocess.run(["umount", mnt])
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    if len(sys.argv) > 2 and sys.argv[2] == "--inside":
        return inside(sys.argv[1])
    unshare = shutil.which("unshare")
    if not unshare:
        sys.exit(SKIP)
    flags = ["-m"] if os.geteuid() == 0 else ["-rm"]
    if subprocess.run([unshare] + flags + ["true"], stderr=subprocess.DEVNULL).returncode != 0:
        print("no private mount namespace allowed here")
        sys.exit(SKIP)
    r = subprocess.run([unshare] + flags + [sys.executable, os.path.abspath(__file__), sys.argv[1], "--inside"])
    sys.exit(r.returncode)


if __name__ == "__main__":
    main()
