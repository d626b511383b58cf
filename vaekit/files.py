"""Run-directory files: atomic writes (to a temporary file beside the target, fsync, then rename),
appends to logs, and reads of JSON run files with one-line errors. Every layer that writes into a
run directory (training, evaluation, samples, reports, leaderboards) writes through here.

A run killed mid-write leaves the previous file intact, never a truncated one; the
temporary file it leaves behind (`.NAME.XXXXXXXX.tmp`) is removed when the run is resumed.

Files are created as any tool creates them: with mode 0o666 less the process umask (0o644 under
the usual umask 0o022), so a run directory on a shared disk can be read by the others who share
it. A write that fails (a full disk, a quota, a read-only or vanished file system) removes its
temporary file, leaves the previous file untouched and raises one `OutputError` line naming the
file, the cause and the fix.
"""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
import stat
from pathlib import Path
from typing import Any, Callable

from safetensors import SafetensorError

from vaekit.errors import CheckpointError, OutputError, VaekitError, os_cause
from vaekit.yamlio import loads_json

# The temporary names atomic_write makes, and tempfile.mkstemp made before it: a dot, the
# target's name, eight characters from tempfile's alphabet, '.tmp'.
_TEMP_LETTERS = "abcdefghijklmnopqrstuvwxyz0123456789_"
TEMP_NAME = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp")
_NEARLY_FULL = 1 << 20  # bytes free below which a write that failed without saying why met a full disk

_FIXES = {
    errno.ENOSPC: "free some space or choose another location",
    errno.EDQUOT: "free some space or choose another location",
    errno.EFBIG: "choose another location",
    errno.EROFS: "choose another location",
    errno.EACCES: "make the folder writable or choose another location",
    errno.EPERM: "make the folder writable or choose another location",
}
_RETRY = "then run the command again (a training run continues from its last checkpoint with vaekit train --resume RUN)"


def create_temp(path: Path) -> str:
    """A new empty file `.NAME.XXXXXXXX.tmp` beside `path`, created with the umask's mode (not
    mkstemp's 0o600): renamed onto `path`, it keeps the mode a plainly created file would have."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{''.join(secrets.choice(_TEMP_LETTERS) for _ in range(8))}.tmp"
        try:
            fd = os.open(tmp, flags, 0o666)  # the kernel applies the umask (and any default ACL)
        except FileExistsError:
            continue
        os.close(fd)
        return str(tmp)
    raise FileExistsError(errno.EEXIST, "no free temporary file name", str(path.parent))


def atomic_write(path: str | Path, write: Callable[[str], None]) -> None:
    """Call `write(tmp_path)`, then atomically move the result to `path`.

    A failure of the file system (full, over quota, read-only, ...) inside `write` or after it is
    an OutputError; any other exception (a bug in `write`, Ctrl-C) passes through unchanged. Either
    way the temporary file is removed and a file already at `path` is left as it was.
    """
    path = Path(path)
    try:
        tmp = create_temp(path)
        wanted = stat.S_IMODE(os.stat(tmp).st_mode)  # what the umask (and any default ACL) made of 0o666
    except OSError as e:
        reason = _reason(e.errno, path.parent) if e.errno else (e.strerror or "cannot create a file").lower()
        raise OutputError(f"cannot write to '{path.parent}' ({reason}); choose another output directory") from None
    try:
        write(tmp)
        if stat.S_IMODE(os.stat(tmp).st_mode) != wanted:
            os.chmod(tmp, wanted)  # safetensors writes a file of its own, always 0o600
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        reason = _write_failure(e, path.parent)  # before the unlink frees the space it took
        Path(tmp).unlink(missing_ok=True)
        if reason is None:
            raise
        raise write_error(path, *reason) from None


def write_error(path: Path, reason: str, code: int | None) -> OutputError:
    """The one-line OutputError for a file that could not be written, and why."""
    fix = _FIXES.get(code, "check the disk or choose another location")
    return OutputError(f"cannot write '{path}' ({reason}); {fix}, {_RETRY}")


def _write_failure(e: BaseException, folder: Path) -> tuple[str, int | None] | None:
    """(why a write failed, in words; its errno when known), or None when `e` is no failure of the
    file system (a bug, Ctrl-C, an error of ours) and must pass through as it is."""
    if isinstance(e, VaekitError):
        return None
    if isinstance(e, OSError):
        code = e.errno
        if code is None and not _nearly_full(folder):
            return None  # an OSError without an errno is a library's complaint (Pillow's "cannot write mode I")
    elif isinstance(e, SafetensorError) and ("I/O error" in str(e) or "os error" in str(e)):
        # safetensors words an OSError as "... I/O error: No space left on device (os error 28)"
        found = re.search(r"os error (\d+)", str(e))
        code = int(found.group(1)) if found else None
    elif isinstance(e, RuntimeError) and any(s in str(e) for s in ("inline_container", "PytorchStreamWriter")):
        code = None  # torch.save's writer: "[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534"
    else:
        return None
    if code is None and _nearly_full(folder):
        code = errno.ENOSPC
    if code is None:
        return "the write failed part-way", None
    return _reason(code, folder), code


def _reason(code: int, folder: Path) -> str:
    """Why a file in `folder` could not be written, in words, from the errno of the failure."""
    if code == errno.ENOENT:  # the folder is gone, or a file system such as /proc makes no files
        return "the file system refuses new files there" if folder.is_dir() else "no such folder"
    return os_cause(code)


def _nearly_full(folder: Path) -> bool:
    try:
        st = os.statvfs(folder)
    except (OSError, AttributeError):  # no statvfs on Windows
        return False
    root = getattr(os, "geteuid", lambda: -1)() == 0  # root may write into the blocks reserved for it
    return (st.f_bfree if root else st.f_bavail) * st.f_frsize < _NEARLY_FULL


def write_text(path: str | Path, text: str) -> None:
    """Atomically write a text file."""
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def write_json(path: str | Path, obj: Any) -> None:
    """Atomically write `obj` as indented JSON."""
    write_text(path, json.dumps(obj, indent=2) + "\n")


def append_text(path: str | Path, text: str) -> None:
    """Append `text` to a log file (metrics.jsonl), creating it with the umask's mode. A failed
    write is cut back to where it began, so the file never ends in half a line of it, and raises
    an OutputError."""
    path = Path(path)
    data = memoryview(text.encode())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
    except OSError as e:
        raise write_error(path, *(_write_failure(e, path.parent) or ("the write failed", None))) from None
    try:
        start = os.fstat(fd).st_size
        try:
            while data:
                data = data[os.write(fd, data):]
        except OSError as e:
            reason = _write_failure(e, path.parent) or ("the write failed", None)
            try:
                os.ftruncate(fd, start)
            except OSError:
                pass  # the reader drops a damaged last line
            raise write_error(path, *reason) from None
    finally:
        os.close(fd)


def remove_temp_files(folder: str | Path) -> list[Path]:
    """Remove the temporary files that writes killed mid-way left in `folder` (names
    `.NAME.XXXXXXXX.tmp`, nothing else), and return them."""
    removed = []
    for p in Path(folder).iterdir():
        if TEMP_NAME.fullmatch(p.name) and p.is_file() and not p.is_symlink():
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed


def read_error(path: str | Path, e: OSError, fix: str) -> CheckpointError:
    """The one-line CheckpointError for a run file that exists but cannot be read."""
    if isinstance(e, PermissionError):
        return CheckpointError(f"cannot read '{path}' (permission denied); ask its owner to make the run readable "
                               f"(chmod -R a+rX RUN), or copy it")
    return CheckpointError(f"cannot read '{path}' ({(e.strerror or 'read failed').lower()}); {fix}")


def read_json(path: str | Path, fix: str) -> dict:
    """The JSON object in a run file; unreadable, cut off or not an object, it is a CheckpointError
    whose message ends in `fix`. (A ValueError, so callers that recompute a damaged file of
    figures can catch that.)"""
    path = Path(path)
    try:
        obj = loads_json(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise read_error(path, e, fix) from None
    except ValueError:  # not JSON, cut off, or not UTF-8 text
        obj = None
    if not isinstance(obj, dict):
        raise CheckpointError(f"'{path}' is damaged (not a whole JSON object: cut off mid-write?); {fix}")
    return obj
