"""README.md stays true: its Python example runs, and its quick-start commands are CI's.

The ```python blocks run in a fresh interpreter (so nothing they register or seed leaks into other
tests) in a temporary working directory that holds a link to configs/.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
CI = ROOT / ".ci" / "run"


def code_blocks(text: str, lang: str) -> list[str]:
    """The bodies of the fenced ```lang blocks of a Markdown text."""
    return re.findall(rf"^```{lang}[ \t]*\n(.*?)^```[ \t]*$", text, flags=re.M | re.S)


def run_python(code: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter in `cwd` (with configs/ linked there); fail loudly.

    The timeout only catches a hang: on a loaded two-core machine the examples took over 120 s."""
    (cwd / "configs").symlink_to(ROOT / "configs")
    env = {**os.environ, "TMPDIR": str(cwd), "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"the example failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_readme_python_examples_run(tmp_path):
    blocks = code_blocks(README.read_text(), "python")
    assert blocks, "README.md has no ```python block"
    run_python("\n\n".join(blocks), tmp_path)


def commands(line: str) -> list[list[str]]:
    """The simple commands of a shell line joined by &&, as argument lists."""
    return [shlex.split(part) for part in line.split("&&")]


def normalize(argv: list[str]) -> list[str]:
    """`python -m pip` is `pip`; --quiet only changes what pip prints."""
    if argv[:3] == ["python", "-m", "pip"]:
        argv = ["pip", *argv[3:]]
    return [a for a in argv if a not in ("--quiet", "-q")]


def ci_commands() -> tuple[list[str], list[str]]:
    """The pip install and pytest commands of .ci/run."""
    lines = [ln.strip() for ln in CI.read_text().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    found = [normalize(cmd) for ln in lines for cmd in commands(ln)]
    pip = [c for c in found if c[:2] == ["pip", "install"]]
    pytest = [c for c in found if "pytest" in c]
    assert len(pip) == 1 and len(pytest) == 1, f".ci/run should hold one pip install and one pytest call: {found}"
    return pip[0], pytest[0]


def quick_start() -> list[str]:
    section = README.read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = code_blocks(section, "bash")
    assert len(blocks) == 1, "the quick start should be one ```bash block"
    lines = [ln for ln in blocks[0].splitlines() if ln.strip()]
    assert len(lines) == 2, f"the quick start should be exactly two commands, found {lines}"
    return lines


def test_quick_start_test_command_is_what_ci_runs():
    ci_pip, ci_pytest = ci_commands()
    install, test = commands(quick_start()[1])
    assert normalize(install) == ci_pip
    assert normalize(test) == ci_pytest


def test_quick_start_train_command_installs_the_same_torch_and_trains_the_digits_preset():
    ci_pip, _ = ci_commands()
    install, train = commands(quick_start()[0])
    pins = [a for a in ci_pip if a.startswith("torch")]
    assert pins and [a for a in install if a.startswith("torch")] == pins
    assert normalize(install) == [a if a != ".[test]" else "." for a in ci_pip]
    assert train == ["vaekit", "train", "configs/digits.yaml"]
    assert (ROOT / train[2]).is_file()
