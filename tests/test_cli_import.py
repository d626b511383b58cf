"""`vaekit --import MODULE`: the user's module is imported before the command; a module that is
missing or fails while importing is one error line, exit code 2, not a traceback."""

from __future__ import annotations

import sys

import pytest

from cli_helpers import cli


def run(*args: str) -> tuple[int, str]:
    code, _, err = cli(*args)
    return code, err


@pytest.fixture
def modules(tmp_path, monkeypatch):
    (tmp_path / "broken_plugin.py").write_text("raise RuntimeError('boom')\n")
    (tmp_path / "fine_plugin.py").write_text("IMPORTED = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    for name in ("broken_plugin", "fine_plugin"):
        sys.modules.pop(name, None)


def test_a_module_that_fails_while_importing_is_one_line(modules):
    code, err = run("--import", "broken_plugin", "evaluate", "no-such-run")
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert err.startswith("vaekit: error: --import broken_plugin failed while importing (RuntimeError: boom)")
    assert "python -c 'import broken_plugin'" in err


def test_a_missing_module_names_the_fix(modules):
    code, err = run("--import", "no_such_plugin_module", "evaluate", "no-such-run")
    assert code == 2 and "put the module on PYTHONPATH" in err and "Traceback" not in err


def test_a_module_that_imports_is_imported_before_the_command(modules):
    code, err = run("--import", "fine_plugin", "evaluate", "no-such-run")
    assert sys.modules["fine_plugin"].IMPORTED
    assert code == 2 and "is not a run directory" in err  # the command itself then ran
