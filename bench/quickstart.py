"""The quick start as a new user meets it: how long `vaekit train configs/digits.yaml` takes, and
how many of its samples read as digits.

"Reads as a digit" is judged by an independent reader: scikit-learn's logistic regression trained
on the run's training split of the 8x8 digits (grey levels / 16, as the model sees them). An image
counts as legible when the reader gives one digit a probability of at least 0.9. The same
reader scores the real test digits (the ceiling), the model's reconstructions of them, samples
whose codes come from the prior, and samples whose codes come from the Gaussian mixture fitted
to the training codes (what samples.png shows under the preset's `train.sample_sampler: gmm`).

    python bench/quickstart.py
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import torch
from sklearn.linear_model import LogisticRegression

from common import ROOT, write_section
from vaekit.run import load_run
from vaekit.sample import reconstruct, sample
from vaekit.sample.samplers import fitted_sampler

CONFIDENT = 0.9
NUM_SAMPLES = 2000


def legibility(reader: LogisticRegression, images: torch.Tensor) -> tuple[float, int]:
    """(share of images the reader assigns to one digit with probability >= 0.9, how many of
    the 10 digits occur among those)."""
    p = reader.predict_proba(images.reshape(len(images), -1).double().numpy())
    sure = p.max(axis=1) >= CONFIDENT
    return float(sure.mean()), len(set(p.argmax(axis=1)[sure].tolist()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "runs" / "bench-quickstart"))
    args = ap.parse_args()
    command = [sys.executable, "-m", "vaekit.cli", "train", "configs/digits.yaml", "--out", args.out, "--overwrite"]
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - start  # the whole command: start-up, training, samples.png, report

    run = load_run(args.out)
    data = run.dataset()
    reader = LogisticRegression(max_iter=5000).fit(data.train.x.reshape(len(data.train.x), -1).double().numpy(),
                                                   data.train.y.numpy())
    test = data.test
    accuracy = float((reader.predict(test.x.reshape(len(test.x), -1).double().numpy()) == test.y.numpy()).mean())
    tc = run.config.train
    mixture = fitted_sampler(run.model, "gmm", data.train.x, data.train.y, tc.sample_components)
    rows = [
        ("real test digits (the ceiling)", legibility(reader, test.x)),
        ("reconstructions of the test digits", legibility(reader, reconstruct(run.model, test.x))),
        ("samples, codes from the prior", legibility(reader, sample(run.model, NUM_SAMPLES, seed=1))),
        (f"samples, codes from a {tc.sample_components}-component mixture (samples.png)",
         legibility(reader, sample(run.model, NUM_SAMPLES, seed=1, sampler=mixture))),
    ]
    summary = run.summary()
    lines = [
        f"`vaekit train configs/digits.yaml` ({tc.epochs} epochs, then samples.png and report.html) took "
        f"**{seconds:.0f} s** of wall-clock time; the kept epoch's validation ELBO is {summary['best_val']:.2f} nats, "
        f"with {summary['val_active_units']} of {summary['latent_dim']} latent units active.",
        "",
        f"Legible: the share of images that a logistic-regression reader, trained on the training split "
        f"({accuracy:.1%} accurate on the real test digits), assigns to one digit with probability >= {CONFIDENT}; "
        f"{len(test.x)} test digits, {NUM_SAMPLES} samples (seed 1).",
        "",
        "| images | legible | digits among the legible |",
        "|---|---|---|",
        *[f"| {name} | {share:.1%} | {digits} of 10 |" for name, (share, digits) in rows],
    ]
    body = "## Quick start: time and legible samples (`bench/quickstart.py`)\n\n" + "\n".join(lines)
    print(body)
    write_section("quickstart", body)


if __name__ == "__main__":
    main()
