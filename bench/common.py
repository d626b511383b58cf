"""Shared helpers for the benchmarks: the machine's fp32 matmul peak, finding the data, and
writing each benchmark's section of docs/benchmarks.md together with the command that made it."""

from __future__ import annotations

import datetime
import os
import platform
import re
import sys
import time
from pathlib import Path

import torch

import vaekit
from vaekit.run import run_state
from vaekit.train.loop import train_or_reuse

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
SHARED_DATA = ROOT.parent / "shared" / "data"


def default_data_dir() -> str | None:
    """$VAEKIT_DATA_DIR, else the shared data folder beside the checkout, if there."""
    if os.environ.get("VAEKIT_DATA_DIR"):
        return os.environ["VAEKIT_DATA_DIR"]
    return str(SHARED_DATA) if SHARED_DATA.is_dir() else None


def matmul_peak(n: int = 2048, repeats: int = 10, dtype: torch.dtype = torch.float32) -> float:
    """Best observed FLOP/s of an n x n matmul on this machine (fp32 by default)."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(3):
        a @ b
    best = 0.0
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = max(best, 2 * n**3 / (time.perf_counter() - t))
    return best


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads)"


def command() -> str:
    return "python " + " ".join([os.path.relpath(sys.argv[0], ROOT), *sys.argv[1:]])


def write_section(name: str, body: str, doc: Path = DOC, command_line: str | None = None) -> None:
    """Replace (or append) this benchmark's section of docs/benchmarks.md (or of `doc`), with the
    command that made it (this process's, unless `command_line` says otherwise)."""
    today = datetime.date.today().isoformat()
    block = (f"<!-- bench:{name} -->\n{body.rstrip()}\n\nCommand: `{command_line or command()}`  \n"
             f"Date: {today}; machine: {machine()}.\n<!-- /bench:{name} -->")
    doc.parent.mkdir(exist_ok=True)
    text = doc.read_text() if doc.exists() else "# Benchmarks\n\nEvery figure here was written by the script named beside it.\n"
    pattern = re.compile(rf"<!-- bench:{name} -->.*?<!-- /bench:{name} -->", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    doc.write_text(text)
    print(f"wrote the '{name}' section of {os.path.relpath(doc, ROOT)}")


def train_or_load(config: vaekit.Config, out: Path, retrain: bool = False) -> vaekit.Run:
    """Reuse a finished run of the same config, resume an interrupted one, else train afresh
    (`vaekit.train.loop.train_or_reuse`).

    A run of another config is replaced only with `retrain`: a benchmark must never throw away a
    finished run by accident."""
    if run_state(out, config) == "other" and not retrain:
        raise SystemExit(f"{out} holds a run of another config; pass --retrain to replace it, or choose --out")
    run, status = train_or_reuse(config, out)
    if status == "reused":
        print(f"{out}: finished run found, evaluating it")
    return run
