"""Where data files live, and fetching them when they are missing.

A named set (`mnist`, `binarized-mnist`, ...) looks for its files in, in order:
`data.path` (when given), `<data dir>/<set name>/`, `<data dir>/`, then any system folder the set
names (Debian's `/usr/share/datasets/...`). The data dir is `data.data_dir`, else
`$VAEKIT_DATA_DIR`, else `~/.cache/vaekit/data`. Missing files are downloaded into
`<data dir>/<set name>/` when `data.download` is true: to a temporary file in that folder, checked
by SHA-256, then moved into place with `os.replace`, so a failed download never leaves a partial
file behind.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from vaekit.sections import DataConfig
from vaekit.data.files import reading
from vaekit.errors import DataError

ENV_VAR = "VAEKIT_DATA_DIR"
DEFAULT_DIR = "~/.cache/vaekit/data"
CHUNK = 1 << 20


@dataclass(frozen=True)
class Remote:
    """A published file: where to fetch it and the SHA-256 it must have."""

    url: str
    sha256: str


def data_root(config: DataConfig) -> Path:
    """The data dir: `data.data_dir`, else `$VAEKIT_DATA_DIR`, else `~/.cache/vaekit/data`."""
    raw = config.data_dir or os.environ.get(ENV_VAR) or DEFAULT_DIR
    return Path(raw).expanduser()


def search_dirs(config: DataConfig, set_name: str, extra: Sequence[str | Path] = ()) -> list[Path]:
    """The folders a named set looks in, in order."""
    root = data_root(config)
    dirs = [Path(config.path).expanduser()] if config.path else []
    dirs += [root / set_name, root, *(Path(d) for d in extra)]
    unique: list[Path] = []
    for d in dirs:
        if d not in unique:
            unique.append(d)
    return unique


def resolve_path(config: DataConfig, set_name: str, what: str) -> Path:
    """The file or folder `data.path` names, for sets read from the user's own files.

    A relative path is tried as given (from the working directory), then inside the data dir.
    """
    if not config.path:
        raise DataError(f"data set '{set_name}' reads your own files: pass data.path= pointing at {what}")
    given = Path(config.path).expanduser()
    candidates = [given] if given.is_absolute() else [given, data_root(config) / given]
    for candidate in candidates:
        with reading(candidate, f"point data.path= at {what}"):  # a folder on the way that cannot be entered
            if candidate.exists():
                return candidate
    raise DataError(
        f"data.path {config.path} not found (looked for {', '.join(map(str, candidates))}); point data.path= at "
        f"{what}, absolute or relative to --data-dir / ${ENV_VAR}"
    )


def find_in(folder: Path, wanted: Mapping[str, Sequence[str]]) -> dict[str, Path] | None:
    """Paths for every key of `wanted` (key -> acceptable file names, first match wins) when
    `folder` holds them all, else None."""
    found = {}
    for key, names in wanted.items():
        hit = next((folder / n for n in names if (folder / n).is_file()), None)
        if hit is None:
            return None
        found[key] = hit
    return found


def locate(
    config: DataConfig,
    set_name: str,
    wanted: Mapping[str, Sequence[str]],
    remotes: Mapping[str, Remote],
    extra_dirs: Sequence[str | Path] = (),
) -> dict[str, Path]:
    """Find a set's files (key -> path), downloading the missing ones when `data.download` is on.

    All files come from one folder, so that a stale copy elsewhere never mixes with a fresh one.
    Downloads use the first name listed for each key, which must be the published file's name.
    """
    dirs = search_dirs(config, set_name, extra_dirs)
    for folder in dirs:
        found = find_in(folder, wanted)
        if found is not None:
            return found
    files = ", ".join(names[0] for names in wanted.values())
    if not config.download:
        raise DataError(
            f"{set_name} files not found ({files}); looked in {', '.join(map(str, dirs))}; put them there, "
            f"point vaekit at them with --data-dir, ${ENV_VAR} or data.path=, or set data.download=true"
        )
    target = data_root(config) / set_name
    found = {}
    for key, names in wanted.items():
        have = next((target / n for n in names if (target / n).is_file()), None)
        if have is None:
            have = target / names[0]
            fetch(remotes[key], have, files)
        found[key] = have
    return found


def fetch(remote: Remote, dest: Path, files: str | None = None) -> Path:
    """Download `remote.url` to `dest` atomically, checking its SHA-256.

    `files` names what the user could put in `dest`'s folder by hand; it goes into the error message.
    """
    files = files or dest.name
    folder = dest.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"cannot create the data folder {folder} ({e.strerror}); pass a writable --data-dir") from None
    print(f"vaekit: downloading {remote.url} -> {dest}", file=sys.stderr)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{dest.name}.", suffix=".part")
    try:
        digest = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(remote.url, timeout=60) as response:
                while chunk := response.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
        except (OSError, http.client.HTTPException, ValueError) as e:
            # URLError and socket timeouts are OSErrors; a cut connection can surface as an
            # HTTPException (IncompleteRead); a malformed URL as a ValueError.
            reason = getattr(e, "reason", None) or e
            raise DataError(
                f"could not download {remote.url} ({reason}); put {files} in {folder} or pass --data-dir"
            ) from None
        if digest.hexdigest() != remote.sha256:
            raise DataError(
                f"download of {remote.url} has SHA-256 {digest.hexdigest()}, expected {remote.sha256}; "
                f"try again, or put {files} in {folder} yourself"
            )
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def sha256_file(path: Path) -> str:
    """The hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with reading(path, "delete it and download it again"), open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sums(paths: Sequence[Path]) -> None:
    """Check files against a `SHA256SUMS` file beside them, when there is one.

    Files the list does not mention pass; a listed file with another hash raises DataError.
    """
    for folder in {p.parent for p in paths}:
        sums_file = folder / "SHA256SUMS"
        if not sums_file.is_file():
            continue
        expected = {}
        with reading(sums_file, "delete it, or restore it"):
            text = sums_file.read_text(errors="replace")  # a line that is no checksum is skipped
        for line in text.splitlines():
            parts = line.split(maxsplit=1)
            if len(parts) == 2:
                expected[parts[1].lstrip("*").strip()] = parts[0].lower()  # '*' marks binary mode
        for p in paths:
            if p.parent == folder and p.name in expected and sha256_file(p) != expected[p.name]:
                raise DataError(
                    f"{p} does not match its SHA-256 in {sums_file}; the file is corrupt or changed: "
                    f"delete it and download it again"
                )
