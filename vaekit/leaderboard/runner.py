"""Running a leaderboard: one Entry per config, training (or reusing, or resuming) and
evaluating each entry, and the `leaderboard` function that ranks them and writes the tables."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import torch

from vaekit import run as rundir
from vaekit.config import Config, load_config
from vaekit.errors import ConfigError, OutputError, TrainingError, VaekitError, one_line
from vaekit.evaluate import active_units, elbo_stats, evaluate, posterior_moments
from vaekit.evaluate import runner as eval_runner
from vaekit.evaluate.results import read_result
from vaekit.leaderboard.entries import Budget, Entry, parse_budget
from vaekit.leaderboard.tables import (
    _HEADERS,
    RANK_COLUMNS,
    _higher,
    _sample_png,
    rank,
    write_leaderboard,
)
from vaekit.registry import suggest
from vaekit.train.loop import train_or_reuse


def default_out(data: str | None) -> Path:
    """Where a leaderboard goes unless told: runs/leaderboard-DATA (runs/leaderboard without --data)."""
    return Path("runs") / (f"leaderboard-{data}" if data else "leaderboard")


def leaderboard(configs: Sequence[str | Path], *, budget: str | Budget, data: str | None = None,
                out: str | Path | None = None, seed: int = 0, importance_samples: int = 500,
                metrics: Sequence[str] | None = None, overrides: Sequence[str] = (), rank_by: str = "nll",
                better: Literal["lower", "higher"] | None = None, samples: int = 36,
                log: Callable[[str], None] | None = None) -> list[Entry]:
    """Train each config under the same `budget` and `seed` (on data set `data`, when given),
    evaluate each on the test split with K = `importance_samples`, rank the entries by `rank_by`
    and write leaderboard.md, .csv and .html into `out`. Returns the entries, ranked.

    `overrides` (dotted, as for `vaekit train`) apply to every config, after the budget, data
    and seed. `better` says which way `rank_by` improves (default: lower, except for elbo, recon,
    active_units and images_per_sec). `metrics` names metric groups for `evaluate`.

    An entry that fails is a row saying why, and the others go on; when every entry fails, the
    tables are still written and the first failure is raised, of its own VaekitError type.
    """
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    if not configs:
        raise ConfigError("a leaderboard needs at least one config")
    budget = parse_budget(budget) if isinstance(budget, str) else budget
    if importance_samples < 1:
        raise ConfigError(f"importance samples must be at least 1, got {importance_samples}")
    if samples < 0:
        raise ConfigError(f"samples per grid must be at least 0 (0 = no grids), got {samples}")
    if better not in (None, "lower", "higher"):
        raise ConfigError(f"better must be 'lower' or 'higher', got {better!r}")
    groups = _groups(metrics)
    out = Path(out) if out is not None else default_out(data)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create '{out}' ({e.strerror}); choose another --out") from None
    common = [*budget.overrides(), *([f"data.name={data}"] if data else []), f"train.seed={seed}", *overrides]

    entries = []
    first_failure: tuple[str, Exception] | None = None  # (entry name, exception)
    for i, (path, name) in enumerate(zip(configs, _names(configs)), 1):
        entry = Entry(name=name, config=str(path), run_dir=out / name)
        log(f"leaderboard {i}/{len(configs)}: {name} ({path})")
        try:
            _run_entry(entry, load_config(path, common), importance_samples, groups, samples, log)
        except TrainingError as e:
            entry.status, entry.error = "diverged", one_line(e)
            first_failure = first_failure or (name, e)
        except Exception as e:  # noqa: BLE001  (one entry's failure, bugs included, must not stop the rest)
            entry.status, entry.error = "failed", one_line(e)
            first_failure = first_failure or (name, e)
        if entry.failed:
            log(f"leaderboard: {name} {entry.status}: {entry.error}")
        entries.append(entry)

    # Metric groups add columns, so an unknown column shows only now; a re-run with another
    # --rank-by costs nothing, since it reuses every run and its evaluation.
    columns = [*RANK_COLUMNS, *(c for e in entries for c in e.extras())]
    if rank_by not in columns and any(not e.failed for e in entries):
        raise ConfigError(f"cannot rank by '{rank_by}': no entry has that column{suggest(rank_by, columns)}; "
                          "run again with another --rank-by (the runs are kept and reused)")
    ranked = rank(entries, rank_by, better)
    higher = _higher(rank_by, better)
    context = (f"Data {data or 'as each config says'}, budget {budget}, seed {seed}; test split, "
               f"K = {importance_samples} importance samples; ranked by {_HEADERS.get(rank_by, rank_by)}, "
               f"{'higher' if higher else 'lower'} is better.")
    write_leaderboard(ranked, out, context)
    if first_failure is not None and all(e.failed for e in entries):
        # Nothing ranked: a mistake shared by every entry (a --data, an override, a missing file)
        # is an error, of the first failure's type; some entries failing is a table with failed rows.
        name, error = first_failure
        kind = type(error) if type(error).__module__ == "vaekit.errors" else VaekitError  # ours take one message
        raise kind(f"every entry failed, so nothing is ranked (the tables are in {out}); the first, {name}: "
                   f"{one_line(error)}")
    return ranked


def _groups(metrics: Sequence[str] | None) -> list[str]:
    """The metric groups to ask `evaluate` for: its defaults (the likelihood and latent figures of
    the columns) plus `metrics`, checked."""
    return eval_runner.metric_groups(list(dict.fromkeys([*eval_runner.DEFAULT_METRICS, *(metrics or ())])))


def _run_entry(entry: Entry, config: Config, k: int, groups: list[str], n_samples: int,
               log: Callable[[str], None]) -> None:
    entry.family = config.model.name
    # A run of another config in the directory (a changed budget, say) is replaced.
    run, entry.status = train_or_reuse(config, entry.run_dir, log=lambda msg: log(f"[{entry.name}] {msg}"))
    if entry.status == "reused":
        log(f"leaderboard: {entry.name} is complete in {entry.run_dir}; not retrained")

    summary = run.summary()
    entry.params, entry.epochs = summary.get("num_params"), summary.get("epoch")
    entry.minutes = summary["elapsed"] / 60 if "elapsed" in summary else None
    entry.images_per_sec = _throughput(run.metrics())
    test = run.dataset().test
    entry.test_split = _fingerprint(test.x, test.y)
    groups = eval_runner.applicable(run, [*groups, *eval_runner.default_metrics(run)])  # a text run's text group, say
    stored = _stored_eval(entry.run_dir, k, len(test), groups)
    entry.metrics = stored if stored is not None else _measure(run, k, groups, entry, log)
    if n_samples > 0 and run.codec.is_image:
        entry.samples = _sample_png(run.model, n_samples, config.train.seed)
    elif n_samples > 0 and run.codec.modality == "text":  # sentences where images get a grid
        from vaekit.sample.text import sample_text

        entry.sentences = sample_text(run, n_samples, seed=config.train.seed)


def _stored_eval(run_dir: Path, k: int, num_examples: int, groups: list[str]) -> dict | None:
    """eval_test.json if it measured the current weights on the whole test split with K samples."""
    path = run_dir / "eval_test.json"
    if not rundir.describes_weights(path):
        return None
    stored = read_result(path)  # None when damaged, cut off or not an object: measured again
    if stored is None:
        return None
    if (stored.get("split"), stored.get("importance_samples"), stored.get("num_examples")) != ("test", k, num_examples):
        return None  # another K, or a --limit subset
    if not set(groups) <= set(stored.get("metrics") or ()):
        return None  # it lacks a metric group asked for
    return stored


def _measure(run: rundir.Run, k: int, groups: list[str], entry: Entry,
             log: Callable[[str], None]) -> dict[str, Any]:
    """evaluate's figures; for a family it cannot bound the likelihood of, what can be measured."""
    try:
        return evaluate(run, "test", k, seed=0, metrics=groups)
    except VaekitError:
        raise
    except Exception as e:  # noqa: BLE001  (a family without a likelihood bound: measure what can be)
        notes = [f"no NLL: {one_line(e)}"]
        log(f"leaderboard: {entry.name}: {notes[0]}; measuring what can be measured")
    test, batch = run.dataset().test, run.config.train.eval_batch_size
    others = [g for g in groups or () if g != "likelihood"]
    attempts: list[tuple[str, Callable[[], dict]]] = [
        ("ELBO", lambda: elbo_stats(run.model, test.x, batch, seed=0, y=test.y))]
    if others:  # every group but the likelihood one, not written: eval_test.json is for whole results
        attempts.append(("other metrics", lambda: evaluate(run, "test", k, seed=0, write=False, metrics=others)))
    else:
        attempts.append(("active units", lambda: _active_units(run, test.x, test.y)))
    result: dict[str, Any] = {"split": "test", "num_examples": len(test)}
    for what, measure in attempts:
        try:
            result.update(measure())
        except Exception as e:  # noqa: BLE001
            notes.append(f"no {what}: {one_line(e)}")
    entry.error = "; ".join(notes)
    return result


def _active_units(run: rundir.Run, x: torch.Tensor, y: torch.Tensor | None) -> dict[str, int]:
    mu, _ = posterior_moments(run.model, x, run.config.train.eval_batch_size, y)
    count, _ = active_units(mu, run.config.eval.active_units_threshold)
    return {"active_units": count, "latent_dim": int(mu.shape[1])}


# ----------------------------------------------------------------------------- helpers


def _names(configs: Sequence[str | Path]) -> list[str]:
    """Each config's stem; a stem seen before gets -2, -3, ... so every entry has its own directory."""
    names: list[str] = []
    for path in configs:
        stem = Path(path).stem or "config"
        name, n = stem, 2
        while name in names:
            name, n = f"{stem}-{n}", n + 1
        names.append(name)
    return names


def _throughput(metrics: list[dict]) -> float | None:
    """Images per second of training over all epochs: images seen / training seconds."""
    images = seconds = 0.0
    previous = 0.0
    for record in metrics:
        dt = record.get("time", 0.0) - previous  # `time` is cumulative training time
        previous = record.get("time", previous)
        images += record.get("images_per_sec", 0.0) * dt
        seconds += dt
    return images / seconds if seconds > 0 else None


def _fingerprint(x: torch.Tensor, y: torch.Tensor | None) -> str:
    h = hashlib.sha1(x.detach().cpu().contiguous().numpy().tobytes())
    if y is not None:
        h.update(y.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:12]
