"""The one-class anomaly protocol in one call: for each class, train on that class alone, score the
whole test split, and report AUROC and AUPRC with the other classes as the anomalies.

This is the standard novelty-detection benchmark on MNIST-like data (as in Ruff et al. 2018,
"Deep One-Class Classification", and the papers that follow it). Each class gets its own run
directory, OUT/class-C; complete runs are reused and interrupted ones resumed, so a second call
only fills in what is missing. The table goes to OUT/oneclass.md, .csv and .json.

Like the leaderboard, it trains a set of runs under one budget and tabulates them, so it sits
here, above training and evaluation, not in `vaekit.evaluate`, which measures one run.
"""

from __future__ import annotations

import csv
import io
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from vaekit import run as rundir
from vaekit.config import Config, load_config, parse_config, to_dict
from vaekit.data import load_dataset
from vaekit.errors import ConfigError, OutputError, TrainingError, one_line
from vaekit.evaluate.anomaly import anomaly_scores, auprc, auroc
from vaekit.files import read_json, write_json, write_text
from vaekit.leaderboard.entries import parse_budget
from vaekit.train.loop import train_or_reuse

FILES = ("oneclass.md", "oneclass.csv", "oneclass.json")  # the table, in OUT


@dataclass
class ClassResult:
    """One normal class: how its model trained and how well its scores separate the rest."""

    normal: int
    status: str = "pending"  # trained, resumed, reused; or failed, diverged
    error: str | None = None
    auroc: float | None = None
    auprc: float | None = None
    epochs: int | None = None
    minutes: float | None = None
    num_anomalies: int | None = None
    num_examples: int | None = None


def one_class(config: str | Path | Config, *, data: str | None = None, classes: Sequence[int] | None = None,
              score: str = "elbo", importance_samples: int = 100, budget: str | None = None, seed: int = 0,
              out: str | Path = "runs/oneclass", overrides: Sequence[str] = (),
              log: Callable[[str], None] | None = None) -> list[ClassResult]:
    """Run the one-class protocol for `config` on data set `data` (default: the config's own).

    For each class C of `classes` (default: every label of the test split), train with
    `data.classes=[C]` (the train and val splits keep class C only; the test split stays whole),
    score every test example by `score` ("elbo": the negative ELBO; "nll": the importance-sampled
    NLL with `importance_samples`), and measure AUROC and AUPRC with the other classes as the
    positive, anomalous class. `budget` ('10m', '20ep') imposes the same budget on every class, as
    `vaekit leaderboard` does. A class that fails gets a row that says why; the others go on.
    """
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    if score not in ("elbo", "nll"):
        raise ConfigError(f"unknown anomaly score '{score}'; use elbo or nll")
    if importance_samples < 1:
        raise ConfigError(f"importance samples must be at least 1, got {importance_samples}")
    common = [*(parse_budget(budget).overrides() if budget else []), *([f"data.name={data}"] if data else []),
              f"train.seed={seed}", *overrides]
    raw = to_dict(config) if isinstance(config, Config) else None

    def resolve(extra: Sequence[str] = ()) -> Config:
        return parse_config(raw, [*common, *extra]) if raw is not None else load_config(config, [*common, *extra])

    base = resolve()
    labels = load_dataset(base.data).test.y
    if labels is None:
        raise ConfigError(f"data set '{base.data.name}' has no labels, so it has no classes to hold out; "
                          "use a labelled one (fashion-mnist, mnist, digits, a folder of class subfolders)")
    present = sorted(int(c) for c in torch.unique(labels))
    chosen = present if classes is None else sorted(set(int(c) for c in classes))
    missing = [c for c in chosen if c not in present]
    if missing or len(present) < 2:
        raise ConfigError(f"class {missing[0] if missing else present[0]} cannot be the normal class: the test split "
                          f"has labels {present}; choose --classes among them")
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create '{out}' ({e.strerror}); choose another --out") from None

    results = []
    for i, normal in enumerate(chosen, 1):
        result = ClassResult(normal)
        log(f"one-class {i}/{len(chosen)}: normal class {normal}")
        try:
            _run_class(result, resolve([f"data.classes=[{normal}]"]), out / f"class-{normal}", score,
                       importance_samples, log)
        except TrainingError as e:
            result.status, result.error = "diverged", one_line(e)
        except Exception as e:  # noqa: BLE001  (one class's failure, bugs included, must not stop the rest)
            result.status, result.error = "failed", one_line(e)
        if result.error:
            log(f"one-class: class {normal} {result.status}: {result.error}")
        results.append(result)
    _write(results, out, base, score, importance_samples, budget)
    return results


def _run_class(result: ClassResult, config: Config, run_dir: Path, score: str, k: int,
               log: Callable[[str], None]) -> None:
    run, result.status = train_or_reuse(config, run_dir, log=lambda msg: log(f"[class {result.normal}] {msg}"))
    summary = run.summary()
    result.epochs, result.minutes = summary.get("epoch"), summary.get("elapsed", math.nan) / 60
    stored = _stored(run_dir, score, k)
    if stored is None:
        test = run.dataset().test
        scores = anomaly_scores(run.model, test.x, test.y, score, k, batch_size=run.config.train.eval_batch_size)
        anomalous = test.y != result.normal
        stored = {"normal": result.normal, "score": score, "importance_samples": k if score == "nll" else None,
                  "num_examples": len(scores), "num_anomalies": int(anomalous.sum()),
                  "auroc": auroc(scores, anomalous), "auprc": auprc(scores, anomalous)}
        write_json(run_dir / result_file(score, k), stored)
    result.auroc, result.auprc = stored["auroc"], stored["auprc"]
    result.num_examples, result.num_anomalies = stored["num_examples"], stored["num_anomalies"]


def result_file(score: str, k: int) -> str:
    """Where a class's run directory keeps its figures for one score, so that each score (and K)
    is measured once and kept beside the others."""
    return "oneclass_elbo.json" if score == "elbo" else f"oneclass_nll_k{k}.json"


def _stored(run_dir: Path, score: str, k: int) -> dict | None:
    """The class's figures if they were measured on its current weights with this score and K."""
    path = run_dir / result_file(score, k)
    if not rundir.describes_weights(path):
        return None
    try:
        stored = read_json(path, "it is measured again")  # a JSON object, or CheckpointError
    except ValueError:
        return None
    same = stored.get("score") == score and (score == "elbo" or stored.get("importance_samples") == k)
    return stored if same else None


def mean_auroc(results: Sequence[ClassResult]) -> float | None:
    """The mean AUROC over the classes that finished; None when none did."""
    values = [r.auroc for r in results if r.auroc is not None]
    return sum(values) / len(values) if values else None


def to_markdown(results: Sequence[ClassResult]) -> str:
    """The per-class table with a mean row, as Markdown."""
    lines = ["| normal class | AUROC | AUPRC | epochs | train min | status |", "|---|---|---|---|---|---|"]
    for r in results:
        status = r.status + (f": {r.error}" if r.error else "")
        lines.append(f"| {r.normal} | {_fmt(r.auroc)} | {_fmt(r.auprc)} | {r.epochs or ''} | {_fmt(r.minutes, 1)} | {status} |")
    done = [r for r in results if r.auprc is not None]
    mean_prc = sum(r.auprc for r in done) / len(done) if done else None
    lines.append(f"| **mean** | **{_fmt(mean_auroc(results))}** | {_fmt(mean_prc)} | | | {len(done)} of {len(results)} classes |")
    return "\n".join(lines) + "\n"


def _write(results: list[ClassResult], out: Path, config: Config, score: str, k: int, budget: str | None) -> None:
    what = f"score {'negative ELBO' if score == 'elbo' else f'importance-sampled NLL, K={k}'}"
    context = (f"One-class protocol on {config.data.name}: model {config.model.name}, trained on one class at a time "
               f"({budget or 'its own epochs and early stopping'}), tested on the whole test split; {what}; "
               "the other classes are the anomalies (the positive class).")
    write_text(out / FILES[0], f"# One-class anomaly detection\n\n{context}\n\n{to_markdown(results)}")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(asdict(results[0]).keys()) if results else ["normal"])
    writer.writeheader()
    for r in results:
        writer.writerow(asdict(r))
    write_text(out / FILES[1], buf.getvalue())
    write_json(out / FILES[2], {"context": context, "data": config.data.name, "model": config.model.name,
                                "score": score, "importance_samples": k if score == "nll" else None,
                                "budget": budget, "mean_auroc": mean_auroc(results),
                                "classes": [asdict(r) for r in results]})


def _fmt(value: float | None, digits: int = 4) -> str:
    return "" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"
