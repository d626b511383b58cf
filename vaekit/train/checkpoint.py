"""Atomic checkpoint files: write to a temporary file beside the target, fsync, then rename.

A run killed mid-write leaves the previous checkpoint intact, never a truncated one; the
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
from typing import Any, Callable, Iterator, Mapping

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

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


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module inside torch.compile and DistributedDataParallel wrappers."""
    while True:
        if hasattr(model, "_orig_mod"):
            model = model._orig_mod
        elif isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        else:
            return model


def save_weights(model: nn.Module, path: str | Path, metadata: dict[str, str]) -> None:
    """Save the model's tensors as safetensors, with string metadata, atomically."""
    state = {k: v.detach().contiguous().cpu() for k, v in unwrap(model).state_dict().items()}
    atomic_write(path, lambda tmp: save_file(state, tmp, metadata=metadata))


def load_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a safetensors file. A missing, unreadable or damaged file, or one holding NaN or an
    infinity, raises CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no weights at '{path}'; train the run first (vaekit train) or check the path")
    fix = "retrain or restore it from a copy"
    try:
        state = load_file(str(path))
    except PermissionError as e:
        raise read_error(path, e, fix) from None
    except (SafetensorError, OSError, ValueError):
        raise CheckpointError(f"weights file '{path}' is damaged (not a whole safetensors file); {fix}") from None
    check_finite(state, f"weights file '{path}'", "retrain, or resume from an earlier copy")
    return state


def tensors_in(obj: Any, prefix: str = "") -> Iterator[tuple[str, torch.Tensor]]:
    """(name, tensor) for every tensor in nested dicts, lists and tuples; names join keys with
    dots and give list positions in brackets ('optimizer.state.0.exp_avg', 'ema[3]')."""
    if isinstance(obj, torch.Tensor):
        yield prefix, obj
    elif isinstance(obj, Mapping):
        for k, v in obj.items():
            yield from tensors_in(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from tensors_in(v, f"{prefix}[{i}]")


def check_finite(obj: Any, what: str, fix: str) -> None:
    """CheckpointError naming the first tensor in `obj` (see `tensors_in`) that holds NaN or an
    infinity: loaded weights like that give NaN figures and blank samples, never an error."""
    for name, t in tensors_in(obj):
        if (t.is_floating_point() or t.is_complex()) and not bool(torch.isfinite(t).all()):
            kind = "NaN" if bool(torch.isnan(t).any()) else "an infinity"
            raise CheckpointError(f"{what} holds {kind} in '{name}'; the run diverged or the file is damaged: {fix}")


def load_into(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load a state dict, with a one-line error naming the first mismatch if it does not fit."""
    own = unwrap(model).state_dict()
    missing = [k for k in own if k not in state]
    extra = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and own[k].shape != state[k].shape]
    if missing or extra or wrong:
        if wrong:
            k = wrong[0]
            what = f"'{k}' has shape {tuple(state[k].shape)} there but {tuple(own[k].shape)} in the model"
        else:
            what = f"missing {missing[:3]}" if missing else f"unexpected {extra[:3]}"
        raise CheckpointError(
            f"the checkpoint in '{source}' does not fit this config ({what}); use the config.yaml saved with that run"
        )
    # A tensor of another kind (integers where the model holds floats) would be cast without a
    # word, into a model of rounded weights; a float of another width (float16 weights) casts
    # exactly or nearly so, and loads. Integer buffers (a counter) are integers in the model too.
    for k in own:
        if isinstance(own[k], torch.Tensor) and isinstance(state[k], torch.Tensor) and _kind(own[k]) != _kind(state[k]):
            raise CheckpointError(f"the checkpoint in '{source}' holds '{k}' as {_dtype(state[k])}, but the model "
                                  f"holds it as {_dtype(own[k])}: the file was converted or damaged; retrain, or "
                                  f"restore it from a copy")
    unwrap(model).load_state_dict(state)


def _kind(t: torch.Tensor) -> str:
    if t.dtype == torch.bool:
        return "bool"
    return "complex" if t.is_complex() else "float" if t.is_floating_point() else "int"


def _dtype(t: torch.Tensor) -> str:
    return str(t.dtype).removeprefix("torch.")


def save_state(state: dict[str, Any], path: str | Path) -> None:
    """Atomically save the training state (tensors and plain data only)."""
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_state(path: str | Path) -> dict[str, Any]:
    """The training state saved by `save_state`. A missing, unreadable or damaged file, or one whose
    weights (the model's, the EMA's) hold NaN or an infinity, raises CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no training state at '{path}'; nothing to resume (start the run with vaekit train)")
    fix = "restart the run with --overwrite"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except PermissionError as e:
        raise read_error(path, e, fix) from None
    except Exception as e:  # torch raises many types for a damaged file
        raise CheckpointError(f"training state '{path}' is damaged ({type(e).__name__}); {fix}") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"training state '{path}' is damaged (not a training state); {fix}")
    # The weights only: an optimizer's second moment may hold an infinity the run lives with
    # (an overflowed square divides the step to 0), and NaN in it reaches the weights at once.
    weights = {k: state.get(k) for k in ("model", "ema")}
    check_finite(weights, f"training state '{path}'", f"{fix}, or resume from an earlier copy")
    return state
