"""Typed exceptions. Every error a user can cause is a `VaekitError` with a one-line message
that names the problem and the fix; the CLI prints it and exits with code 2."""

from __future__ import annotations

import errno
import os


class VaekitError(Exception):
    """Base class of the errors a user can cause and fix."""


class ConfigError(VaekitError, ValueError):
    """A config key, value or type is wrong."""


class DataError(VaekitError, ValueError):
    """A data file is missing, truncated, of the wrong format or holds values the model cannot use."""


class CheckpointError(VaekitError, ValueError):
    """A run directory or checkpoint is missing, corrupt or does not fit the config."""


class OutputError(VaekitError, OSError):
    """An output location cannot be written."""


class InputError(VaekitError, ValueError):
    """An argument or tensor passed to the Python API has the wrong shape, type or value (a code
    of the wrong width, a temperature that is not a positive finite number, ...)."""


class TrainingError(VaekitError, RuntimeError):
    """Training cannot go on (for example, the loss stays non-finite)."""


class HubError(VaekitError, OSError):
    """The Hugging Face Hub cannot be used as asked: huggingface_hub is not installed, a repository
    or revision does not exist or may not be read or written with the token at hand, or the Hub
    cannot be reached and the local cache lacks the run."""


def one_line(e: BaseException) -> str:
    """An error as one line for a table row or a log: a VaekitError's own message; anything else
    (a bug) prefixed with its type, so that it reads as one."""
    lines = str(e).strip().splitlines()
    msg = lines[0] if lines else ""
    if isinstance(e, VaekitError):
        return msg or type(e).__name__
    return f"{type(e).__name__}: {msg}" if msg else type(e).__name__


# What an OSError's errno means, in the words of our messages; readers and writers of files share it.
_OS_CAUSES = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EFBIG: "the file is larger than the file system or a size limit allows",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EIO: "an input/output error: the disk may be failing or disconnected",
    errno.EISDIR: "it is a folder, not a file",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
}


def os_cause(code: int) -> str:
    """Why a file operation failed with errno `code`, in a few plain words."""
    return _OS_CAUSES.get(code) or os.strerror(code).lower()
