"""Distributed training on the CPU: 1 process against 2 (torchrun, gloo), and their equivalence.

Trains the reference MLP VAE (`configs/binarized_mnist.yaml`'s networks, eager fp32, global batch
100) on static binarized MNIST for a few epochs in three settings, each through `vaekit train`:
one process with all the machine's threads, one process with half of them, and two processes
under torchrun with half each. The rate is the training images per second of the epochs after
the first (metrics.jsonl's images_per_sec, which counts every process's images). Then the
equivalence check: a small run with the same noise per example in one process and in two
(tests/train/ddp_worker.py), whose weights must agree to float32 rounding.

    python bench/ddp.py [--epochs 3] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file

from common import ROOT, default_data_dir, write_section

WORKER = ROOT / "tests" / "train" / "ddp_worker.py"


def run(cmd: list[str], threads: int) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(threads)}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr[-3000:]}")


def train(out: Path, processes: int, threads: int, epochs: int, data_dir: str | None) -> float:
    """Median images/s of the epochs after the first."""
    overrides = [f"--train.epochs={epochs}", "--train.compile=false", "--train.precision=fp32", "--train.report=false",
                 "--train.sample_grid=0", "--train.max_minutes=0", "--train.patience=0", "--train.progress=false",
                 *([f"--data.data_dir={data_dir}"] if data_dir else [])]
    args = ["train", str(ROOT / "configs" / "binarized_mnist.yaml"), "--out", str(out), "--overwrite", *overrides]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
    run([*launcher, "-m", "vaekit", *args] if processes > 1 else [sys.executable, "-m", "vaekit", *args], threads)
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return statistics.median(r["images_per_sec"] for r in records[1:])


def equivalence(tmp: Path) -> tuple[float, float]:
    """Largest |weight difference| between 1 and 2 processes on the same batches and noise, and
    the largest |weight|."""
    for name, processes in (("one", 1), ("two", 2)):
        cmd = [sys.executable, str(WORKER), str(tmp / name), "same-noise"]
        if processes > 1:
            cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *cmd[1:]]
        run(cmd, 1)
    a, b = load_file(str(tmp / "one" / "model.safetensors")), load_file(str(tmp / "two" / "model.safetensors"))
    return max(float((a[k] - b[k]).abs().max()) for k in a), max(float(a[k].abs().max()) for k in a)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=3, help="epochs per setting; the first is warm-up")
    ap.add_argument("--data-dir", default=default_data_dir())
    args = ap.parse_args()
    cores = os.cpu_count() or 2
    half = max(1, cores // 2)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        def threads(n: int) -> str:
            return f"{n} thread{'s' if n > 1 else ''}"
        settings = [(f"1 process, {threads(cores)}", 1, cores), (f"1 process, {threads(half)}", 1, half),
                    (f"2 processes (torchrun, gloo), {threads(half)} each", 2, half)]
        rates = {}
        for name, processes, threads in settings:
            rates[name] = train(tmp / f"p{processes}t{threads}", processes, threads, args.epochs, args.data_dir)
            print(f"{name:45s} {rates[name]:8.0f} img/s", flush=True)
        diff, scale = equivalence(tmp)
    print(f"equivalence: largest weight difference {diff:.2e} (weights up to {scale:.2f})")
    base = rates[settings[0][0]]
    rows = ["| setting | images/s | against 1 process, all threads |", "|---|---|---|"]
    rows += [f"| {name} | {rate:.0f} | {rate / base:.2f}x |" for name, rate in rates.items()]
    body = ("## Distributed training on the CPU (`bench/ddp.py`)\n\n"
            "The reference MLP VAE (784-300-300-40, gated, Bernoulli; eager fp32, global batch 100) on static "
            f"binarized MNIST, trained by `vaekit train` for {args.epochs} epochs per setting; the rate is the "
            "median images/s of the epochs after the first, summed over processes. On a machine of "
            f"{cores} cores the two processes share them, so this measures the overhead of the distributed layer "
            "(gradient all-reduce, the shared skip decision, metric sums) rather than a speed-up; on more "
            "cores or GPUs each process adds its own.\n\n" + "\n".join(rows) + "\n\n"
            f"Equivalence: 32 steps of a small VAE (digits, global batch 32) with the same noise per example in one "
            f"process and in two: the largest weight difference is {diff:.1e} (weights up to {scale:.2f}), float32 "
            "rounding of the gradient all-reduce carried by Adam (tests/train/test_torchrun.py asserts 2e-5).")
    write_section("ddp", body)


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
