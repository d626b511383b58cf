"""Speed of the mixed likelihood (vaekit/distributions/mixed.py), the per-column table likelihood
that issue 14 wants at least 3x faster per epoch than ctgan's TVAE.

Two synthetic tables, coded by vaekit's own table codec (configs/table.yaml: mode-specific
normalisation, at most 10 modes per continuous column):

- `diamonds`: shaped like ggplot2's diamonds, 7 multi-modal continuous columns and 3 categorical
  ones of 5, 7 and 8 levels;
- `wide20`: 20 columns, 12 continuous, 5 categorical (3 to 12 levels), 2 boolean and 1 count.

For each, at each thread count, the median over `--repeats` timings of
- log_prob: forward and backward of `MixedLikelihood(params).log_prob(x[, mask])` at batch 500,
  complete rows and with 10% of the cells missing (the masked path);
- step: one whole training step of the preset's table VAE (vaekit.train.step.Step: encoder,
  decoder, the likelihood, the reduction, backward and Adam), complete rows;
and the number of aten operator calls of one log_prob forward and backward (torch.profiler), with
the softmax-like and zero-filling calls that the per-column code spends its time on.

    python bench/mixed_likelihood.py [--threads 1 2] [--repeats 7] [--rows 5000] [--tvae]

Prints a markdown table; writes nothing. Each time is given as wall-clock and as the process's
CPU time (all its threads: about twice the wall time at 2 threads, where OpenMP workers spin); on
a shared machine the 1-thread CPU time is the steadiest figure, and a 2-thread run slows down by
10x or more whenever another process takes a core. `--tvae` also times ctgan's TVAE per step on
the same rows (one 3-epoch fit, its epoch loop over its own batches as bench/tabular.py clocks
it), for scale. To compare two versions, run this script against each, alternating.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch

import vaekit
from vaekit.contract import Batch
from vaekit.data import load_dataset
from vaekit.data.table import TableWarning
from vaekit.models import build_model
from vaekit.train.batches import batches
from vaekit.train.prepare import for_data
from vaekit.train.step import Step

ROOT = Path(__file__).resolve().parents[1]
PRESET = ROOT / "configs" / "table.yaml"
BATCH = 500


def _continuous(rng: np.random.Generator, n: int, components: int) -> np.ndarray:
    """A mixture of `components` Gaussians of unequal weights and widths: several fitted modes."""
    centers = rng.uniform(-20, 20, components)
    widths = rng.uniform(0.3, 3.0, components)
    which = rng.choice(components, n, p=rng.dirichlet(np.full(components, 2.0)))
    return centers[which] + widths[which] * rng.standard_normal(n)


def _categorical(rng: np.random.Generator, n: int, levels: int) -> np.ndarray:
    return rng.choice([f"c{i}" for i in range(levels)], n, p=rng.dirichlet(np.full(levels, 2.0)))


def synthetic_frame(name: str, n: int, seed: int = 0) -> pd.DataFrame:
    """The rows of table `name` (diamonds or wide20), seeded."""
    rng = np.random.default_rng(seed)
    cols: dict[str, np.ndarray] = {}
    if name == "diamonds":
        for i, k in enumerate((8, 6, 10, 4, 10, 7, 9)):
            cols[f"num{i}"] = _continuous(rng, n, k)
        for i, levels in enumerate((5, 7, 8)):
            cols[f"cat{i}"] = _categorical(rng, n, levels)
    else:
        for i in range(12):
            cols[f"num{i}"] = _continuous(rng, n, int(rng.integers(2, 11)))
        for i, levels in enumerate((3, 4, 6, 9, 12)):
            cols[f"cat{i}"] = _categorical(rng, n, levels)
        cols["flag0"], cols["flag1"] = rng.random(n) < 0.3, rng.random(n) < 0.6
        cols["visits"] = rng.poisson(2.5, n)
    return pd.DataFrame(cols)


def prepared(name: str, rows: int, folder: Path):
    """(config, dataset) of the preset on table `name`, its layout filled in from the codec."""
    path = folder / f"{name}.csv"
    synthetic_frame(name, rows).to_csv(path, index=False)
    overrides = [f"data.path={path}", f"train.batch_size={BATCH}", "train.device=cpu", "train.progress=false",
                 "train.report=false", "train.sample_grid=0", "train.seed=0"]
    if name == "wide20":
        overrides.append("data.columns={visits: count}")
    config = vaekit.load_config(PRESET, overrides)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TableWarning)
        data = load_dataset(config.data)
    return for_data(config, data), data


def _median_ms(fn: Callable[[], None], repeats: int, inner: int) -> tuple[float, float]:
    """Medians over `repeats` of the wall-clock and the process CPU milliseconds per call: on a
    shared machine the CPU time (of all of this process's threads) is the steadier of the two."""
    fn()  # warm-up
    wall, cpu = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        for _ in range(inner):
            fn()
        wall.append((time.perf_counter() - t) / inner * 1e3)
        cpu.append((time.process_time() - c) / inner * 1e3)
    return statistics.median(wall), statistics.median(cpu)


def log_prob_case(model, x: torch.Tensor, mask: torch.Tensor | None) -> Callable[[], None]:
    """Forward and backward of the likelihood alone, on decoder outputs that need a gradient."""
    lik = model.likelihood
    params = torch.randn(x.shape[0], *lik.param_shape(), generator=torch.Generator().manual_seed(0),
                         requires_grad=True)

    def run() -> None:
        params.grad = None
        lik(params).log_prob(x, mask).sum().backward()
    return run


def op_counts(fn: Callable[[], None]) -> Counter:
    """aten operator calls of one call of fn (nested calls included)."""
    fn()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        fn()
    return Counter({e.key: e.count for e in prof.key_averages() if e.key.startswith("aten::")})


def step_case(config, data, model) -> Callable[[], None]:
    step = Step(model, model, config.train, config.objective)
    beta, capacity = torch.ones(()), torch.zeros(())
    it = iter(())

    def run() -> None:
        nonlocal it
        batch = next(it, None)
        if batch is None:
            it = batches(data.train, BATCH, torch.Generator().manual_seed(0), torch.device("cpu"))
            batch = next(it)
        step(batch, 1e-3, beta, capacity)
    return run


def tvae_ms_per_step(data_frame: pd.DataFrame, kinds: dict[str, str]) -> float:
    """ctgan TVAE's seconds per epoch over its number of batches, in ms (bench/tabular.py's clock)."""
    import sys
    sys.path.insert(0, str(Path(__file__).parent))
    from tabular import Settings, fit_tvae

    _, seconds = fit_tvae(data_frame, kinds, Settings(epochs=3, batch_size=BATCH))
    return seconds / -(-len(data_frame) // BATCH) * 1e3


def missing_mask(model, x: torch.Tensor, rate: float) -> torch.Tensor:
    """Whole columns (blocks) missing at random, `rate` of the cells."""
    blocks = model.likelihood.blocks
    g = torch.Generator().manual_seed(1)
    keep = torch.rand(x.shape[0], len(blocks), generator=g) >= rate
    return keep.repeat_interleave(torch.tensor([b.width for b in blocks]), dim=1).float()


def bench_table(name: str, args, folder: Path) -> list[str]:
    config, data = prepared(name, args.rows, folder)
    torch.manual_seed(0)
    model = build_model(config.model, data.shape, data.num_classes)
    blocks = model.likelihood.blocks
    kinds = Counter(b.kind for b in blocks)
    print(f"{name}: {len(blocks)} columns {dict(kinds)}, modes {[b.modes for b in blocks if b.kind == 'mode']}, "
          f"D={data.shape[0]}, P={model.likelihood.param_shape()[0]}")
    x = data.train.x[:BATCH]
    mask = missing_mask(model, x, 0.1)
    cases = {"log_prob": log_prob_case(model, x, None), "log_prob masked": log_prob_case(model, x, mask),
             "step": step_case(config, data, model)}
    lines = []
    counts = op_counts(cases["log_prob"])
    counts_masked = op_counts(cases["log_prob masked"])
    softmax = sum(v for k, v in counts.items() if "softmax" in k)
    zero = counts["aten::zero_"] + counts["aten::fill_"]
    print(f"  ops of one log_prob fwd+bwd: {sum(counts.values())} aten calls ({sum(counts_masked.values())} masked), "
          f"{softmax} softmax-like, {zero} zero_/fill_; top: {counts.most_common(8)}")
    for threads in args.threads:
        torch.set_num_threads(threads)
        for case, fn in cases.items():
            inner = 5 if case == "step" else 20
            wall, cpu = _median_ms(fn, args.repeats, inner)
            calls = sum((counts_masked if "masked" in case else counts).values()) if "log_prob" in case else ""
            lines.append(f"| {name} | {case} | {threads} | {wall:.2f} | {cpu:.2f} | {calls} |")
            print(lines[-1], flush=True)
        if args.tvae:
            frame = pd.read_csv(folder / f"{name}.csv").iloc[:len(data.train)]
            kinds_ = {c.name: c.kind for c in data.codec.columns if c.kind != "constant"}
            lines.append(f"| {name} | TVAE step | {threads} | {tvae_ms_per_step(frame, kinds_):.2f} | | |")
            print(lines[-1], flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--tables", nargs="+", default=["diamonds", "wide20"], choices=["diamonds", "wide20"])
    parser.add_argument("--tvae", action="store_true", help="also time ctgan's TVAE per step on the same rows")
    args = parser.parse_args()
    lines = ["| table | what | threads | wall ms | CPU ms | aten calls |", "|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.tables:
            lines += bench_table(name, args, Path(tmp))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
