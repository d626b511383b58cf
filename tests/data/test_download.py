"""Data-dir resolution, atomic checked downloads (file:// URLs only) and SHA256SUMS checks."""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from vaekit.config import DataConfig
from vaekit.data.download import Remote, data_root, fetch, locate, resolve_path, search_dirs, verify_sums
from vaekit.errors import DataError


def published(tmp_path: Path, content: bytes = b"published bytes\n") -> Remote:
    """A 'published' file served by a file:// URL, with its true SHA-256."""
    src = tmp_path / "server" / "file.bin"
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_bytes(content)
    return Remote(src.as_uri(), hashlib.sha256(content).hexdigest())


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_data_root_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("VAEKIT_DATA_DIR", str(tmp_path / "env"))
    assert data_root(DataConfig(data_dir=str(tmp_path / "cfg"))) == tmp_path / "cfg"
    assert data_root(DataConfig()) == tmp_path / "env"
    monkeypatch.delenv("VAEKIT_DATA_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data_root(DataConfig()) == tmp_path / "home" / ".cache" / "vaekit" / "data"


def test_search_dirs_order(tmp_path):
    dirs = search_dirs(DataConfig(data_dir=str(tmp_path), path=str(tmp_path / "p")), "mnist", ["/sys/x"])
    assert dirs == [tmp_path / "p", tmp_path / "mnist", tmp_path, Path("/sys/x")]


def test_fetch_good_checksum(tmp_path):
    remote = published(tmp_path)
    dest = tmp_path / "data" / "file.bin"
    assert fetch(remote, dest) == dest
    assert dest.read_bytes() == b"published bytes\n"
    assert leftovers(dest.parent) == ["file.bin"]  # no temporary file left behind


def test_fetch_bad_checksum_leaves_nothing(tmp_path):
    remote = Remote(published(tmp_path).url, "0" * 64)
    dest = tmp_path / "data" / "file.bin"
    with pytest.raises(DataError, match="SHA-256"):
        fetch(remote, dest)
    assert leftovers(dest.parent) == []


def test_fetch_offline(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(urllib.request, "urlopen", fail)
    dest = tmp_path / "data" / "file.bin"
    with pytest.raises(DataError) as err:
        fetch(Remote("http://example.invalid/file.bin", "0" * 64), dest, "file.bin")
    message = str(err.value)
    assert "could not download http://example.invalid/file.bin (no route to host)" in message
    assert f"put file.bin in {dest.parent} or pass --data-dir" in message
    assert "\n" not in message
    assert leftovers(dest.parent) == []


def test_fetch_cut_mid_stream_leaves_nothing(tmp_path, monkeypatch):
    class Broken:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def __init__(self):
            self.calls = 0

        def read(self, n):
            self.calls += 1
            if self.calls > 1:
                raise ConnectionResetError("connection reset")
            return b"partial"

    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: Broken())
    dest = tmp_path / "data" / "file.bin"
    with pytest.raises(DataError, match="connection reset"):
        fetch(Remote("http://example.invalid/f", "0" * 64), dest)
    assert leftovers(dest.parent) == []


def test_locate_without_download_says_where_it_looked(tmp_path):
    config = DataConfig(data_dir=str(tmp_path), download=False)
    with pytest.raises(DataError) as err:
        locate(config, "myset", {"a": ["a.bin"]}, {})
    message = str(err.value)
    for part in (str(tmp_path / "myset"), "--data-dir", "VAEKIT_DATA_DIR", "data.path=", "data.download=true"):
        assert part in message


def test_locate_finds_files_in_one_folder(tmp_path):
    (tmp_path / "myset").mkdir()
    (tmp_path / "myset" / "a.bin.gz").write_bytes(b"a")
    (tmp_path / "b.bin").write_bytes(b"b")  # only half the set here: the other folder wins
    (tmp_path / "myset" / "b.bin").write_bytes(b"b")
    wanted = {"a": ["a.bin.gz", "a.bin"], "b": ["b.bin"]}
    found = locate(DataConfig(data_dir=str(tmp_path), download=False), "myset", wanted, {})
    assert found == {"a": tmp_path / "myset" / "a.bin.gz", "b": tmp_path / "myset" / "b.bin"}


def test_locate_downloads_missing_files(tmp_path):
    remote = published(tmp_path)
    root = tmp_path / "root"
    found = locate(DataConfig(data_dir=str(root)), "myset", {"a": ["a.bin"]}, {"a": remote})
    assert found == {"a": root / "myset" / "a.bin"}
    assert found["a"].read_bytes() == b"published bytes\n"


def test_verify_sums(tmp_path):
    a, b = tmp_path / "a.amat", tmp_path / "b.amat"
    a.write_bytes(b"aaa")
    b.write_bytes(b"bbb")
    verify_sums([a, b])  # no SHA256SUMS: nothing to check
    good = hashlib.sha256(b"aaa").hexdigest()
    (tmp_path / "SHA256SUMS").write_text(f"{good}  a.amat\n")
    verify_sums([a, b])  # b is not listed
    (tmp_path / "SHA256SUMS").write_text(f"{good} *a.amat\n{'1' * 64}  b.amat\n")
    with pytest.raises(DataError, match=r"b\.amat does not match .*download it again"):
        verify_sums([a, b])


def test_resolve_path(tmp_path):
    with pytest.raises(DataError, match="data.path="):
        resolve_path(DataConfig(name="arrays"), "arrays", "a file")
    with pytest.raises(DataError, match="not found"):
        resolve_path(DataConfig(path=str(tmp_path / "nope.npy")), "arrays", "a file")
    (tmp_path / "x.npy").write_bytes(b"")
    assert resolve_path(DataConfig(path="x.npy", data_dir=str(tmp_path)), "arrays", "a file") == tmp_path / "x.npy"


def test_network_guard_is_active():
    # The autouse guard in conftest.py replaces urlopen: a real URL must fail loudly, never download.
    with pytest.raises(AssertionError, match="network"):
        urllib.request.urlopen("http://example.invalid/")
