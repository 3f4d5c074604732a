#!/usr/bin/env python3
"""A local Hugging Face Hub for tests (standard library only).

Serves repos from folders with the real endpoints and headers (../shared/specs/hf-hub.md):
tree listing with Link paging, model info with blobs, search, HEAD/GET on resolve/ with an
absolute 302 to a CDN on another host name (localhost vs 127.0.0.1) for LFS files, a relative
307 or a 200 for small files, X-Error-Code errors, Range/206/416. Faults (ignored Range,
dropped connections, a corrupted byte, 429/5xx, throttling) are set on the command line or
with POST /_mock/faults. GET /_mock/log returns every request seen (method, path, host,
authorization, range, status). Prints "PORT <n>" once listening; stops on SIGTERM or when
its stdin closes, so a crashed test never leaves it behind.
"""
import argparse
import hashlib
import json
import os
import signal
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def git_blob_sha1(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class Repo:
    def __init__(self, repo_id, folder, lfs_threshold):
        self.id = repo_id
        self.commit = hashlib.sha1(("commit:" + repo_id).encode()).hexdigest()
        self.files = {}
        for root, _, names in os.walk(folder):
            for name in sorted(names):
                full = os.path.join(root, name)
                path = os.path.relpath(full, folder).replace(os.sep, "/")
                data = open(full, "rb").read()
                lfs = path.endswith(".safetensors") or len(data) >= lfs_threshold
                self.files[path] = {
                    "data": data,
                    "size": len(data),
                    "sha1": git_blob_sha1(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "lfs": lfs,
                }
        self.by_sha256 = {f["sha256"]: f for f in self.files.values()}
        self.by_sha1 = {f["sha1"]: f for f in self.files.values()}

    def tree(self):
        entries, dirs = [], set()
        for path in sorted(self.files):
            parts = path.split("/")
            for i in range(1, len(parts)):
                d = "/".join(parts[:i])
                if d not in dirs:
                    dirs.add(d)
                    entries.append({"type": "directory", "oid": hashlib.sha1(d.encode()).hexdigest(), "size": 0, "path": d})
            f = self.files[path]
            e = {"type": "file", "oid": f["sha1"], "size": f["size"], "path": path}
            if f["lfs"]:
                e["lfs"] = {"oid": f["sha256"], "size": f["size"], "pointerSize": 134}
            entries.append(e)
        return entries

    def info(self, gated):
        siblings = []
        for path in sorted(self.files):
            f = self.files[path]
            s = {"rfilename": path, "size": f["size"], "blobId": f["sha1"]}
            if f["lfs"]:
                s["lfs"] = {"size": f["size"], "sha256": f["sha256"], "pointerSize": 134}
            siblings.append(s)
        return {"_id": "x", "id": self.id, "modelId": self.id, "sha": self.commit, "gated": gated, "private": False,
                "downloads": 10, "likes": 1, "tags": ["license:apache-2.0", "safetensors"], "pipeline_tag": "text-generation",
                "cardData": {"license": "apache-2.0"}, "siblings": siblings}


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.log = []
        self.faults = {}
        self.repos = {}
        self.gated = set()
        self.token = None
        self.page_size = 1000
        self.port = 0
        self.small_redirect = "none"  # "none" (200) or "307" (relative redirect to resolve-cache)
        self.weak_etags = False

    def take(self, key):
        """Consumes one unit of a counted fault; returns its value or None."""
        with self.lock:
            f = self.faults.get(key)
            if not f:
                return None
            if isinstance(f, list):
                v = f.pop(0)
                return v
            return f


STATE = State()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    # -- plumbing -------------------------------------------------------------
    def record(self, status):
        with STATE.lock:
            STATE.log.append({"method": self.command, "path": self.path, "host": self.headers.get("Host", ""),
                              "authorization": self.headers.get("Authorization"), "range": self.headers.get("Range"),
                              "status": status})

    def reply(self, status, body=b"", headers=None, content_type="application/json"):
        self.record(status)
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def error(self, status, code, message, extra=None):
        headers = {"X-Error-Code": code, "X-Error-Message": message}
        headers.update(extra or {})
        self.reply(status, json.dumps({"error": message}).encode(), headers)

    def authorized(self):
        return STATE.token is not None and self.headers.get("Authorization") == "Bearer " + STATE.token

    def find_repo(self, org, name):
        rid = org + "/" + name
        repo = STATE.repos.get(rid)
        if repo is None:
            self.error(401, "RepoNotFound", "Repository not found")
            return None
        if rid in STATE.gated:
            self.error(403 if self.authorized() else 401, "GatedRepo",
                       "Access to model %s is restricted. You must have access to it and be authenticated to access it." % rid)
            return None
        return repo

    def check_revision(self, repo, rev):
        if rev in ("main", repo.commit, "refs/pr/1"):
            return True
        self.error(404, "RevisionNotFound", "Invalid rev id: " + rev)
        return False

    def injected_status(self):
        status = STATE.take("status_sequence")
        if status is None:
            return False
        extra = {"Retry-After": str(STATE.faults.get("retry_after", 1))} if status == 429 else {}
        self.error(status, "", "injected", extra)
        return True

    # -- routes ---------------------------------------------------------------
    def do_POST(self):
        if self.path == "/_mock/faults":
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with STATE.lock:
                STATE.faults = json.loads(body or b"{}")
            self.reply(200, b"{}")
        elif self.path == "/_mock/clear_log":
            with STATE.lock:
                STATE.log = []
            self.reply(200, b"{}")
        else:
            self.reply(404, b"{}")

    def do_HEAD(self):
        self.route()

    def do_GET(self):
        self.route()

    def route(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        # Split BEFORE unquoting: an unencoded "/" in a revision would shift every segment.
        parts = [urllib.parse.unquote(p) for p in url.path.split("/")[1:]]
        if parts[:2] == ["_mock", "log"]:
            with STATE.lock:
                body = json.dumps(STATE.log).encode()
            return self.reply(200, body)
        if parts[:1] == ["cdn"] and len(parts) == 2:
            return self.cdn(parts[1])
        if parts[:2] == ["api", "models"] and len(parts) == 2:
            return self.search(query)
        if parts[:3] == ["api", "resolve-cache", "models"] and len(parts) >= 7:
            repo = self.find_repo(parts[3], parts[4])
            if repo:
                self.small_file(repo, "/".join(parts[6:]))
            return
        if parts[:2] == ["api", "models"] and len(parts) >= 4:
            repo = self.find_repo(parts[2], parts[3])
            if not repo:
                return
            rest = parts[4:]
            if not rest:
                return self.reply(200, json.dumps(repo.info(STATE.repos_gated_flag(repo.id))).encode())
            if rest[0] == "revision" and len(rest) == 2:
                if self.check_revision(repo, rest[1]):
                    self.reply(200, json.dumps(repo.info(STATE.repos_gated_flag(repo.id))).encode())
                return
            if rest[0] == "tree" and len(rest) >= 2:
                if self.check_revision(repo, rest[1]):
                    self.tree(repo, query)
                return
            return self.reply(404, b"{}")
        if len(parts) >= 5 and parts[2] == "resolve":
            repo = self.find_repo(parts[0], parts[1])
            if not repo or not self.check_revision(repo, parts[3]):
                return
            return self.resolve(repo, "/".join(parts[4:]))
        self.reply(404, b"{}")

    def search(self, query):
        term = query.get("search", [""])[0].lower()
        limit = int(query.get("limit", ["20"])[0])
        hits = [r.info(STATE.repos_gated_flag(r.id)) for r in STATE.repos.values() if term in r.id.lower()][:limit]
        for h in hits:
            h.pop("siblings")
        self.reply(200, json.dumps(hits).encode())

    def tree(self, repo, query):
        entries = repo.tree()
        start = int(query.get("cursor", ["0"])[0])
        page = entries[start:start + STATE.page_size]
        headers = {}
        if start + STATE.page_size < len(entries):
            host = self.headers.get("Host")
            base = self.path.split("?")[0]
            headers["Link"] = '<http://%s%s?recursive=true&expand=false&cursor=%d>; rel="next"' % (host, base, start + STATE.page_size)
        self.reply(200, json.dumps(page).encode(), headers)

    def resolve(self, repo, path):
        f = repo.files.get(path)
        if f is None:
            return self.error(404, "EntryNotFound", "Entry not found", {"X-Repo-Commit": repo.commit})
        if self.injected_status():
            return
        if f["lfs"]:
            # The Hub's 302 carries the metadata; the CDN (another host name) carries none.
            location = "http://localhost:%d/cdn/%s?X-Amz-Signature=abc" % (STATE.port, f["sha256"])
            return self.reply(302, b"", {"Location": location, "X-Repo-Commit": repo.commit,
                                         "X-Linked-Etag": '"%s"' % f["sha256"], "X-Linked-Size": str(f["size"]),
                                         "ETag": '"%s"' % f["sha1"]}, content_type=None)
        if STATE.small_redirect == "307":
            location = "/api/resolve-cache/models/%s/%s/%s" % (repo.id, repo.commit, urllib.parse.quote(path))
            return self.reply(307, b"", {"Location": location, "X-Repo-Commit": repo.commit}, content_type=None)
        self.small_file(repo, path)

    def small_file(self, repo, path):
        f = repo.files.get(path)
        if f is None:
            return self.error(404, "EntryNotFound", "Entry not found")
        etag = ('W/"%s"' if STATE.weak_etags else '"%s"') % f["sha1"]
        self.content(f["data"], {"ETag": etag, "X-Repo-Commit": repo.commit})

    def cdn(self, sha256):
        host = self.headers.get("Host", "")
        if not host.startswith("localhost"):
            return self.reply(400, b"cdn is only served as localhost")
        f = None
        for r in STATE.repos.values():
            f = f or r.by_sha256.get(sha256)
        if f is None:
            return self.reply(404, b"NoSuchKey", content_type="text/plain")
        if self.injected_status():
            return
        expired = STATE.take("cdn_status")
        if expired not in (None, 200):  # 200: this request passes
            return self.reply(expired, b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
                              content_type="application/xml")
        self.content(f["data"], {"ETag": '"%s"' % sha256[:32]})

    def content(self, data, headers):
        """Bytes with Range, 416 and the configured faults."""
        data = bytearray(data)
        corrupt = STATE.faults.get("corrupt_offset")
        if corrupt is not None and corrupt < len(data):
            data[corrupt] ^= 0xFF
        size = len(data)
        rng = self.headers.get("Range")
        start = 0
        status = 200
        if rng and not STATE.faults.get("ignore_range"):
            first = int(rng.split("=")[1].split("-")[0])
            if first >= size:
                return self.reply(416, b"", dict(headers, **{"Content-Range": "bytes */%d" % size}), content_type=None)
            start, status = first, 206
            headers = dict(headers, **{"Content-Range": "bytes %d-%d/%d" % (start, size - 1, size)})
        body = bytes(data[start:])
        self.record(status)
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command == "HEAD":
            return
        drop = STATE.take("drop_after")
        throttle = STATE.faults.get("throttle_bps")
        sent, chunk = 0, 16384
        try:
            while sent < len(body):
                n = min(chunk, len(body) - sent)
                if drop is not None and sent + n > drop:
                    n = drop - sent
                    self.wfile.write(body[sent:sent + n])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)  # a dropped connection mid-body
                    return
                self.wfile.write(body[sent:sent + n])
                sent += n
                if throttle:
                    self.wfile.flush()
                    time.sleep(n / throttle)
        except (BrokenPipeError, ConnectionResetError):
            pass


def repos_gated_flag(self, rid):
    return "manual" if rid in self.gated else False


State.repos_gated_flag = repos_gated_flag


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", action="append", default=[], help="org/name=FOLDER")
    ap.add_argument("--gated", action="append", default=[])
    ap.add_argument("--token")
    ap.add_argument("--page-size", type=int, default=1000)
    ap.add_argument("--lfs-threshold", type=int, default=1 << 20)
    ap.add_argument("--small-redirect", choices=["none", "307"], default="none")
    ap.add_argument("--weak-etags", action="store_true")
    ap.add_argument("--faults", default="{}", help="JSON, same as POST /_mock/faults")
    ap.add_argument("--manifest", help="write path -> {size, sha1, sha256, lfs} per repo here")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--exit-on-stdin-eof", action="store_true", help="stop when the parent closes our stdin")
    args = ap.parse_args()
    for spec in args.repo:
        rid, folder = spec.split("=", 1)
        STATE.repos[rid] = Repo(rid, folder, args.lfs_threshold)
    STATE.gated = set(args.gated)
    STATE.token = args.token
    STATE.page_size = args.page_size
    STATE.small_redirect = args.small_redirect
    STATE.weak_etags = args.weak_etags
    STATE.faults = json.loads(args.faults)
    if args.manifest:
        manifest = {rid: {"commit": r.commit, "files": {p: {k: v for k, v in f.items() if k != "data"} for p, f in r.files.items()}}
                    for rid, r in STATE.repos.items()}
        with open(args.manifest, "w") as out:
            json.dump(manifest, out)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    STATE.port = server.server_address[1]
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))

    def watch_stdin():
        try:
            while sys.stdin.read(1):
                pass
        except Exception:
            pass
        os._exit(0)

    if args.exit_on_stdin_eof:
        threading.Thread(target=watch_stdin, daemon=True).start()
    print("PORT %d" % STATE.port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
