"""Running the `vaekit` command in-process, for the tests of every command (conftest.py puts this
folder on sys.path, so test files import it as `cli_helpers`)."""

from __future__ import annotations

import contextlib
import io

from vaekit.cli import main


def cli(*args: object) -> tuple[int, str, str]:
    """Run `vaekit ARGS` in-process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def error_line(stderr: str) -> str:
    """The error message: the last line of stderr, after any progress lines, with no traceback."""
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert lines and lines[-1].startswith("vaekit: error: "), stderr
    return lines[-1]
