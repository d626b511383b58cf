"""Reading data files: every reader in `vaekit.data` goes through `reading`, so that a file that
cannot be read (a folder where a file was named, permission denied, a failing disk) or that does
not fit in memory is one DataError line naming the file, the cause and the fix, never a traceback.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vaekit.errors import DataError, os_cause

MEMORY_FIX = "use a smaller file, or a machine with more memory (data.limit applies after reading)"


def read_failure(path: str | Path, e: OSError, fix: str) -> DataError | None:
    """The DataError for an OSError the system raised reading `path`, or None for an OSError
    without an errno (a library's complaint about the file's format, Pillow's say, which its
    reader words itself)."""
    if e.errno is None:
        return None
    cause = "no such file" if e.errno == errno.ENOENT else os_cause(e.errno)
    if e.errno in (errno.EACCES, errno.EPERM):
        fix = f"make it readable (chmod a+r), or {fix}"
    return DataError(f"cannot read {e.filename or path} ({cause}); {fix}")  # the file in a folder that failed


@contextmanager
def reading(path: str | Path, fix: str, memory_fix: str = MEMORY_FIX) -> Iterator[None]:
    """Turn an OSError with an errno, or a MemoryError, raised inside the block into a DataError
    naming `path`, its cause and `fix` (or `memory_fix`); anything else passes through."""
    try:
        yield
    except MemoryError:
        raise DataError(f"reading {path} ran out of memory; {memory_fix}") from None
    except OSError as e:
        error = read_failure(path, e, fix)
        if error is None:
            raise
        raise error from None
