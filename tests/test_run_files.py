"""The run directory through the command line when its files go wrong: a disk that fills during
`train` or `--resume` (faked, and for real on a small tmpfs), metrics.jsonl cut off mid-line,
temporary files of killed writes, a damaged summary.json, weights and data holding NaN.

Every case must end in exit code 2 and one `vaekit: error:` line, never a traceback or garbage
output, and the checkpoint written before it must still load and resume.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from vaekit.errors import CheckpointError
from vaekit.run import load_run
from vaekit import files, weights
from vaekit.train import checkpoint

from cli_helpers import cli, error_line

CONFIG = """\
data: {name: digits, limit: 120}
model:
  name: vae
  latent_dim: 4
  encoder: {name: mlp, hidden: [32]}
  decoder: {name: mlp, hidden: [32]}
  likelihood: {name: bernoulli}
train: {epochs: 2, batch_size: 32, lr: 0.002, sample_grid: 4, progress: false, select_by: last}
eval: {importance_samples: 5}
"""  # select_by: last, so that every epoch writes its weights




@pytest.fixture(scope="module")
def config(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("config") / "tiny.yaml"
    path.write_text(CONFIG)
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory, config) -> Path:
    run = tmp_path_factory.mktemp("runs") / "run"
    code, _, err = cli("train", config, "--out", run)
    assert code == 0, err
    return run


@pytest.fixture
def run(trained, tmp_path) -> Path:
    return Path(shutil.copytree(trained, tmp_path / "run"))


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


# ----------------------------------------------------------------------------- a failing disk


def fail_second(monkeypatch, target, name: str, error: BaseException) -> None:
    """`target.name` writes part of its file and raises `error` on its second call."""
    real, calls = getattr(target, name), []

    def flaky(obj, path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 2:
            with open(path, "wb") as f:
                f.write(b"\x00" * 10)
            raise error
        return real(obj, path, *args, **kwargs)

    monkeypatch.setattr(target, name, flaky)


@pytest.mark.parametrize("kind", ["oserror", "safetensors", "torch-writer", "metrics"])
def test_a_disk_full_in_the_second_epoch_is_one_line_and_the_first_resumes(tmp_path, config, monkeypatch, kind):
    if kind == "oserror":
        fail_second(monkeypatch, weights, "save_file", OSError(errno.ENOSPC, "No space left on device"))
    elif kind == "safetensors":
        fail_second(monkeypatch, weights, "save_file",
                    SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)"))
    elif kind == "torch-writer":  # what torch.save says, with no errno: the free space tells
        fail_second(monkeypatch, torch, "save",
                    RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534"))
        monkeypatch.setattr(files, "_NEARLY_FULL", 1 << 62)
    else:  # the append to metrics.jsonl: half the line, then a full disk
        real_write = os.write

        def write(fd, data):
            if bytes(data[:11]) == b'{"epoch": 2':
                real_write(fd, bytes(data[:20]))
                raise OSError(errno.ENOSPC, "No space left on device")
            return real_write(fd, data)

        monkeypatch.setattr(os, "write", write)
    out = tmp_path / "run"
    code, _, err = cli("train", config, "--out", out)
    line = error_line(err)
    assert code == 2 and "(no space left on the device); free some space" in line and "--resume RUN" in line
    monkeypatch.undo()
    assert not list(out.glob(".*.tmp"))
    # Whole lines only; the state written after them is the first epoch's (torch.save failed on the
    # second epoch's state after its metrics line was appended: resume drops that line).
    assert [r["epoch"] for r in records(out)] == ([1, 2] if kind == "torch-writer" else [1])
    assert checkpoint.load_state(out / "train_state.pt")["counters"]["epoch"] == 1
    assert load_run(out).model is not None  # the first epoch's checkpoint
    code, _, err = cli("train", "--resume", out)
    assert code == 0, err
    assert [r["epoch"] for r in records(out)] == [1, 2]


def mounts_allowed() -> bool:
    if not sys.platform.startswith("linux") or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
                           capture_output=True, timeout=30)
    return probe.returncode == 0


def used_kib(folder: Path) -> int:
    """What the files take on a tmpfs: each rounded up to 4 KiB pages."""
    return sum(-(-p.stat().st_size // 4096) * 4 for p in folder.iterdir())


@pytest.mark.skipif(not mounts_allowed(), reason="needs user namespaces to mount a small tmpfs")
@pytest.mark.parametrize("fails", ["model.safetensors", "train_state.pt"])
def test_a_truly_full_disk_during_resume(trained, tmp_path, fails):
    """`vaekit train --resume` on a tmpfs with room for the run and a few KiB more (and, for
    train_state.pt, for the new weights too): the real ENOSPC of safetensors and of torch.save's
    writer, in a private mount namespace (nothing on the machine is mounted or filled)."""
    weights_kib = -(-(trained / "model.safetensors").stat().st_size // 4096) * 4
    size = used_kib(trained) + 8 + (weights_kib if fails == "train_state.pt" else 0)
    mnt, back = tmp_path / "mnt", tmp_path / "back"
    mnt.mkdir()
    script = (f'mount -t tmpfs -o size={size}k tmpfs "{mnt}" && cp -a "{trained}" "{mnt}/run" && '
              f'"{sys.executable}" -m vaekit train --resume "{mnt}/run" --train.epochs=4 2> "{tmp_path}/err"; '
              f'echo $? > "{tmp_path}/rc"; cp -a "{mnt}/run" "{back}"')
    env = {**os.environ, "VAEKIT_DATA_DIR": str(tmp_path / "data"), "VAEKIT_CACHE_DIR": str(tmp_path / "cache")}
    subprocess.run(["unshare", "-rm", "sh", "-c", script], check=True, timeout=300, env=env)
    line = error_line((tmp_path / "err").read_text())
    assert (tmp_path / "rc").read_text().strip() == "2"
    assert f"{fails}' (no space left on the device); free some space" in line
    assert not list(back.glob(".*.tmp"))
    assert load_run(back).model is not None
    code, _, err = cli("train", "--resume", back, "--train.epochs=3")  # on a disk with room
    assert code == 0, err
    assert [r["epoch"] for r in records(back)] == [1, 2, 3]


# ----------------------------------------------------------------------------- cut-off and left-over files


def test_a_metrics_line_cut_off_at_the_end_is_dropped_and_resume_rewrites_the_file(run):
    path = run / "metrics.jsonl"
    whole = path.read_text()
    path.write_text(whole + '{"epoch": 3, "step": 12, "train_el')  # a crash mid-append
    assert [r["epoch"] for r in load_run(run).metrics()] == [1, 2]
    code, _, err = cli("train", "--resume", run, "--train.epochs=3")
    assert code == 0, err
    text = path.read_text()
    assert text.startswith(whole) and text.endswith("\n") and [r["epoch"] for r in records(run)] == [1, 2, 3]


def test_a_damaged_metrics_line_before_the_last_is_a_checkpoint_error(run):
    path = run / "metrics.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0][:30], *lines[1:]]) + "\n")
    with pytest.raises(CheckpointError, match=r"metrics\.jsonl' line 1 is damaged .*delete that line"):
        load_run(run).metrics()
    code, _, err = cli("train", "--resume", run, "--train.epochs=3")
    assert code == 2 and "line 1 is damaged" in error_line(err)


def test_resume_removes_the_temporary_files_of_killed_writes_and_nothing_else(run):
    orphans = [".model.safetensors.k3j_9x0a.tmp", ".train_state.pt.abcdefgh.tmp", ".metrics.jsonl.0a1b2c3d.tmp"]
    kept = ["notes.txt", ".notes.tmp", "keep.abcdefgh.tmp"]
    for name in orphans + kept:
        (run / name).write_bytes(b"\x00" * 100)
    code, _, err = cli("train", "--resume", run, "--train.epochs=3")
    assert code == 0, err
    names = set(os.listdir(run))
    assert not names & set(orphans) and set(kept) <= names


@pytest.mark.parametrize("text", ['{"status": "complete", "epo', "[]"])
def test_a_damaged_summary_is_a_checkpoint_error_until_resume_writes_it_again(run, text):
    (run / "summary.json").write_text(text)
    with pytest.raises(CheckpointError, match=r"summary\.json' is damaged .*vaekit train --resume"):
        load_run(run).summary()
    code, _, err = cli("report", run)
    assert code == 2 and "summary.json' is damaged" in error_line(err)
    code, out, err = cli("train", "--resume", run)
    assert code == 0, err
    assert json.loads(out)["status"] == "complete" == load_run(run).summary()["status"]


# ----------------------------------------------------------------------------- non-finite weights and data


def poison(path: Path, key: str | None = None) -> str:
    """Put NaN into one tensor of a safetensors file, keeping its metadata; returns its name."""
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    state = load_file(str(path))
    key = key or sorted(state)[0]
    state[key].view(-1)[0] = float("nan")
    save_file(state, str(path), metadata=meta)
    return key


@pytest.mark.parametrize("command", [("evaluate", "-k", "2"), ("sample", "-n", "4"), ("reconstruct", "-n", "4")])
def test_weights_holding_nan_are_refused_before_any_output(run, tmp_path, command):
    key = poison(run / "model.safetensors")
    out = tmp_path / "out.png"
    args = [*command, "--out", out] if command[0] != "evaluate" else command
    code, stdout, err = cli(command[0], run, *args[1:])
    line = error_line(err)
    assert code == 2 and f"holds NaN in '{key}'; the run diverged or the file is damaged" in line
    assert not out.exists() and not list(run.glob("eval_*.json")) and stdout == ""


def test_a_training_state_holding_nan_is_refused_on_resume(run):
    before = (run / "model.safetensors").read_bytes()
    state = torch.load(run / "train_state.pt", weights_only=True)
    key = sorted(state["model"])[0]
    state["model"][key].view(-1)[0] = float("inf")
    torch.save(state, run / "train_state.pt")
    code, _, err = cli("train", "--resume", run, "--train.epochs=3")
    assert code == 2 and f"holds an infinity in 'model.{key}'" in error_line(err) and "--overwrite" in error_line(err)
    assert (run / "model.safetensors").read_bytes() == before


@pytest.mark.parametrize("command", [("evaluate", "-k", "2"), ("sample", "-n", "4", "--sampler", "gmm")])
def test_data_holding_nan_is_refused_by_every_command_that_loads_it(tmp_path, config, command):
    x = np.random.default_rng(0).random((60, 6))
    np.save(tmp_path / "x.npy", x)
    run = tmp_path / "run"
    code, _, err = cli("train", config, "--out", run, "--data.name=arrays", f"--data.path={tmp_path / 'x.npy'}",
                       "--data.limit=null", "--model.likelihood.name=gaussian", "--train.sample_grid=0")
    assert code == 0, err
    x[7, 2] = np.nan
    np.save(tmp_path / "x.npy", x)  # the data changed under the run
    code, stdout, err = cli(command[0], run, *command[1:], "--out", tmp_path / "out")
    assert code == 2 and "1 examples with NaN or infinite values (first at index 7)" in error_line(err)
    written = [p for p in tmp_path.rglob("*") if p.is_file() and "out" in p.relative_to(tmp_path).parts[0]]
    assert written == []  # evaluate may have made its --out folder, but wrote nothing in it
