"""Training under torchrun with two gloo processes on the CPU, end to end through `vaekit train`:
the run equals a single-process run with the same global batches, the first process alone
writes a run directory that loads in one process, an interrupted run resumes exactly under
torchrun, and a worker that dies ends the others and leaves the last checkpoint intact.

Each launch starts three Python processes (torchrun's agent and two workers), a few seconds each.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from vaekit.run import load_run

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("ddp_worker.py")


def launch(out: Path, modes: str, *overrides: str, processes: int = 2) -> subprocess.CompletedProcess:
    """The worker under torchrun (processes > 1) or alone, in a fresh environment."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    cmd = [sys.executable, str(WORKER), str(out), modes, *overrides]
    if processes > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}", *cmd[1:]]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "model.safetensors"))


def test_two_processes_train_as_one_process_does_on_the_same_global_batches(tmp_path):
    """32 Adam steps (4 epochs of 8 global batches of 32) with the same noise per example: the
    weights agree to 2e-5. Two processes sum each batch's gradient in two halves and average them
    (an all-reduce), one process in one pass: the sums differ by float32 rounding (~1e-7 relative),
    which Adam's normalised steps carry forward; 1.1e-6 was measured against weights of size 0.36,
    and a wrong share of the batch or a missing gradient average moves them by 1e-3 or more."""
    one, two = launch(tmp_path / "one", "same-noise", processes=1), launch(tmp_path / "two", "same-noise")
    assert one.returncode == 0, one.stderr
    assert two.returncode == 0, two.stderr
    a, b = weights(tmp_path / "one"), weights(tmp_path / "two")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=0, atol=2e-5)
    summary = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert summary["processes"] == 2 and summary["step"] == 32
    records = [json.loads(line) for line in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2, 3, 4]  # one line per epoch: the first process alone writes
    # The run directory loads in one process, and its first process alone spoke.
    run = load_run(tmp_path / "two")
    assert run.summary()["status"] == "complete"
    assert two.stdout.count('"status": "complete"') == 0 and two.stderr.count("done (epochs)") == 1


def test_an_interrupted_run_resumes_under_torchrun_as_if_never_stopped(tmp_path):
    whole = launch(tmp_path / "whole", "none")
    assert whole.returncode == 0, whole.stderr
    stopped = launch(tmp_path / "parts", "stop-at-2")
    assert stopped.returncode != 0 and json.loads((tmp_path / "parts" / "metrics.jsonl").read_text().splitlines()[-1])["epoch"] == 2
    resumed = launch(tmp_path / "parts", "resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stderr
    a, b = weights(tmp_path / "whole"), weights(tmp_path / "parts")
    assert all(torch.equal(a[k], b[k]) for k in a)  # the same processes, the same arithmetic: exactly equal


def test_a_worker_that_dies_ends_the_run_and_the_last_checkpoint_resumes(tmp_path):
    died = launch(tmp_path / "run", "die-at-2")
    assert died.returncode != 0
    # torchrun names the failed worker; the survivor stops at its next collective (or is ended by torchrun)
    assert "ddp_worker.py FAILED" in died.stderr or "ChildFailedError" in died.stderr, died.stderr[-2000:]
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["epoch"] == 2 and not list((tmp_path / "run").glob(".*.tmp"))
    resumed = launch(tmp_path / "run", "resume")
    assert resumed.returncode == 0, resumed.stderr
    assert load_run(tmp_path / "run").summary()["epoch"] == 4


def test_a_global_batch_that_does_not_split_over_the_processes_is_refused(tmp_path):
    bad = launch(tmp_path / "run", "none", "train.batch_size=33")
    assert bad.returncode != 0
    assert "train.batch_size 33 does not divide evenly over 2 training processes" in bad.stderr
    assert "Traceback" not in bad.stderr.split("ChildFailedError")[0] or "ConfigError" in bad.stderr


@pytest.mark.parametrize("family", ["vqvae", "vaegan"])
def test_families_with_auxiliary_parameters_train_under_torchrun(tmp_path, family):
    run = launch(tmp_path / "run", "none", f"model.name={family}", "train.epochs=2")
    assert run.returncode == 0, run.stderr[-3000:]
    assert load_run(tmp_path / "run").summary()["processes"] == 2


def test_aggressive_training_under_torchrun_resumes_as_if_never_stopped(tmp_path):
    """Two processes take the same fresh batches and stop each inner loop together (a process
    that stopped alone would hang the other's next collective); the phase's state resumes."""
    aggressive = ("train.aggressive=true", "train.aggressive_inner_steps=6", "train.aggressive_window=2")
    whole = launch(tmp_path / "whole", "none", *aggressive)
    assert whole.returncode == 0, whole.stderr[-3000:]
    stopped = launch(tmp_path / "parts", "stop-at-2", *aggressive)
    assert stopped.returncode != 0
    resumed = launch(tmp_path / "parts", "resume", *aggressive)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a, b = weights(tmp_path / "whole"), weights(tmp_path / "parts")
    assert all(torch.equal(a[k], b[k]) for k in a)
    records = [json.loads(line) for line in (tmp_path / "whole" / "metrics.jsonl").read_text().splitlines()]
    assert records[0]["aggressive"] and records[0]["encoder_steps"] >= 8 and all("val_mi" in r for r in records)


def test_only_the_first_process_logs_to_the_trackers(tmp_path):
    """One TensorBoard events file and one MLflow run, each epoch once (test_trackers.py checks
    the values)."""
    run = launch(tmp_path / "run", "none", "train.trackers=[tensorboard, mlflow]", "train.epochs=2")
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(list((tmp_path / "run" / "tensorboard").glob("events.*"))) == 1
    runs = [p for p in (tmp_path / "run" / "mlruns").glob("*/*") if (p / "metrics").is_dir()]
    assert len(runs) == 1
    assert len((runs[0] / "metrics" / "val_elbo").read_text().splitlines()) == 2  # MLflow's file store: a line a step
