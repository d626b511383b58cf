"""Local stand-ins for the Hugging Face Hub, for the tests of `vaekit push` and
`load_run("hf://...")` (conftest.py puts this folder on sys.path). Nothing here reaches the network.

- `FakeHub` replaces the write side of `huggingface_hub.HfApi` (create_repo, create_branch,
  upload_folder): each repository's files are kept per branch in memory, each upload is a commit.
  Every call is first bound to the real method's signature, so a keyword the real API lacks fails.
- `FakeHub.to_cache` writes what `snapshot_download` would have left in the Hugging Face cache
  after downloading a pushed repository: models--USER--REPO/{blobs, snapshots/COMMIT, refs/BRANCH}.
- `HubServer` is an HTTP server on 127.0.0.1 that answers every request with one error, the way
  the Hub does (status and X-Error-Code), so huggingface_hub raises its own exceptions.
"""

from __future__ import annotations

import fnmatch
import hashlib
import http.server
import inspect
import json
import os
import threading
from pathlib import Path
from types import SimpleNamespace

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
# A digits run in a few seconds, with a sample grid (samples.png) as the quick-start run has one
QUICK = ["--train.epochs=2", "--data.limit=200", "--train.batch_size=50", "--model.latent_dim=4",
         "--model.encoder.hidden=[32]", "--model.decoder.hidden=[32]", "--train.sample_grid=16",
         "--train.sample_sampler=prior", "--train.report=false", "--train.progress=false"]
LFS = (".safetensors", ".pt", ".png")  # what the Hub stores through LFS: blobs named by their SHA-256


def train_digits(out: Path, *overrides: str) -> Path:
    """A tiny digits run in `out`, trained by `vaekit train`, with eval_test.json from `vaekit evaluate`."""
    from cli_helpers import cli

    code, _, err = cli("train", CONFIGS / "digits.yaml", "--out", out, *QUICK, *overrides)
    assert code == 0, err
    code, _, err = cli("evaluate", out, "-k", "5", "--limit", "50")
    assert code == 0, err
    return out


class FakeHub:
    """Repositories in memory: {repo_id: {"private": bool, "branches": {name: {path: bytes}},
    "heads": {name: commit}}}; `calls` lists (method, kwargs, token) in order."""

    METHODS = ("create_repo", "create_branch", "upload_folder")

    def __init__(self) -> None:
        self.repos: dict[str, dict] = {}
        self.calls: list[tuple[str, dict, object]] = []

    def install(self, monkeypatch) -> "FakeHub":
        from huggingface_hub import HfApi

        for name in self.METHODS:
            monkeypatch.setattr(HfApi, name, self._method(name, getattr(HfApi, name)))
        return self

    def _method(self, name: str, real):
        def call(api, *args, **kwargs):
            bound = inspect.signature(real).bind(api, *args, **kwargs)  # TypeError for an argument the Hub lacks
            given = {k: v for k, v in bound.arguments.items() if k not in ("self", "kwargs")}
            self.calls.append((name, given, api.token))
            return getattr(self, f"_{name}")(**given)

        return call

    def _create_repo(self, repo_id: str, private: bool | None = None, exist_ok: bool = False, **_) -> str:
        if repo_id in self.repos:
            assert exist_ok, "create_repo without exist_ok on an existing repository: the Hub answers 409"
        else:
            self.repos[repo_id] = {"private": bool(private), "branches": {"main": {}}, "heads": {"main": "0" * 40}}
        return f"https://huggingface.co/{repo_id}"

    def _create_branch(self, repo_id: str, branch: str, exist_ok: bool = False, **_) -> None:
        repo = self.repos[repo_id]
        if branch in repo["branches"]:
            assert exist_ok, "create_branch without exist_ok on an existing branch: the Hub answers 409"
            return
        repo["branches"][branch] = dict(repo["branches"]["main"])
        repo["heads"][branch] = repo["heads"]["main"]

    def _upload_folder(self, repo_id: str, folder_path, revision: str | None = None, commit_message: str | None = None,
                       delete_patterns=None, **_) -> SimpleNamespace:
        assert repo_id in self.repos, "upload_folder to a missing repository: the Hub answers 404"
        branch = revision or "main"
        assert branch in self.repos[repo_id]["branches"], f"upload_folder to a missing branch {branch}"
        files = self.repos[repo_id]["branches"][branch]
        uploaded = {p.relative_to(folder_path).as_posix(): p.read_bytes()
                    for p in sorted(Path(folder_path).rglob("*")) if p.is_file()}
        patterns = [delete_patterns] if isinstance(delete_patterns, str) else list(delete_patterns or [])
        for name in list(files):  # as the Hub does: matched files not in this upload go; .gitattributes stays
            if name not in uploaded and name != ".gitattributes" and any(fnmatch.fnmatch(name, p) for p in patterns):
                del files[name]
        files.update(uploaded)
        digest = hashlib.sha1(self.repos[repo_id]["heads"][branch].encode())
        for name in sorted(files):
            digest.update(name.encode() + b"\0" + files[name])
        oid = digest.hexdigest()
        self.repos[repo_id]["heads"][branch] = oid
        self.repos[repo_id].setdefault("messages", []).append(commit_message)
        return SimpleNamespace(oid=oid, commit_url=f"https://huggingface.co/{repo_id}/commit/{oid}")

    def files(self, repo_id: str, branch: str = "main") -> dict[str, bytes]:
        return self.repos[repo_id]["branches"][branch]

    def to_cache(self, cache: Path, repo_id: str, branch: str = "main", patterns: list[str] | None = None,
                 ref: bool = True) -> Path:
        """Write a branch's files (those matching `patterns`; all by default) into the Hugging Face
        cache `cache` as snapshot_download lays them out; `ref` writes refs/BRANCH (a download by
        commit hash writes none). Returns the snapshot folder."""
        commit = self.repos[repo_id]["heads"][branch]
        files = {n: b for n, b in self.files(repo_id, branch).items()
                 if patterns is None or any(fnmatch.fnmatch(n, p) for p in patterns)}
        return write_cache(cache, repo_id, commit, files, branch if ref else None)


def write_cache(cache: Path, repo_id: str, commit: str, files: dict[str, bytes], branch: str | None = "main") -> Path:
    """huggingface_hub's cache layout: blobs named by their etag (an LFS file's SHA-256, a git
    blob's SHA-1), the snapshot's files as relative links to them, the branch's ref holding the
    commit (no newline, as huggingface_hub writes it)."""
    storage = Path(cache) / ("models--" + repo_id.replace("/", "--"))
    snapshot = storage / "snapshots" / commit
    (storage / "blobs").mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        etag = (hashlib.sha256(data).hexdigest() if name.endswith(LFS)
                else hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest())
        (storage / "blobs" / etag).write_bytes(data)
        link = snapshot / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(storage / "blobs" / etag, link.parent))
    if branch is not None:
        (storage / "refs").mkdir(exist_ok=True)
        (storage / "refs" / branch).write_text(commit)
    return snapshot


class HubServer:
    """An HTTP server on 127.0.0.1 answering every request with `status` and the Hub's error
    headers; `url` is its endpoint. Use as a context manager."""

    def __init__(self, status: int, error_code: str | None = None, message: str = "an error of the fake Hub") -> None:
        answer = (status, error_code, message)
        self.requests: list[str] = []
        requests = self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                requests.append(f"{self.command} {self.path}")
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                body = json.dumps({"error": answer[2]}).encode()
                self.send_response(answer[0])
                if answer[1]:
                    self.send_header("X-Error-Code", answer[1])
                self.send_header("X-Error-Message", answer[2])
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _answer

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "HubServer":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
