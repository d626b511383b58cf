"""The `table` metric group of `vaekit evaluate`: what a table run's synthetic rows are worth,
measured in the table's own units (not in model space) against the rows of one split.

For a run trained on a table (data.name=table), on the split evaluated (the held-out test rows by
default):

- quality: SDMetrics' quality score (`vaekit.evaluate.tabular.quality_score`) of the synthetic
  rows against the split's rows, with its two parts (column shapes, column-pair trends) and the
  score of each column;
- ML efficacy (`vaekit.evaluate.tabular_efficacy.ml_efficacy`): a model trained on synthetic rows
  and one trained on the real training rows, both tested on the split's rows. The target is
  `target` when given, else the label column when the synthetic rows have it (a conditional
  model's data.label_column), else the last categorical or boolean column, else the last numeric
  one (a regression); skipped, with the reason, when the table has fewer than two columns;
- distance to the closest record (`distance_to_closest_record`): synthetic rows against the
  training rows and the split's rows, beside the same distance of the split's real rows to the
  training rows. Synthetic rows much closer to the training rows than fresh real rows are is a
  sign of memorised rows;
- imputation error: HIDDEN_FRACTION of the split's observed cells hidden completely at random
  (seeded), filled by `vaekit.sample.rows.impute_rows`, and scored by
  `vaekit.evaluate.tabular.imputation_error` (RMSE for numbers, accuracy for categories).

The synthetic rows are as many as the training split holds (at most MAX_IMAGES), drawn with the
evaluate seed. Bounds on the time taken: ML efficacy and the distances use at most MAX_ROWS rows of
each table (seeded random subsets), imputation at most MAX_IMPUTED_ROWS rows of the split, with
IMPUTE_SAMPLES importance samples per row. Undefined figures
(a correlation of a constant column, say) are written as null.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import torch

from vaekit.checks import MAX_IMAGES
from vaekit.data.base import Split
from vaekit.data.load import limit as limit_split
from vaekit.errors import ConfigError, InputError
from vaekit.evaluate.tabular import DISCRETE, imputation_error, quality_score
from vaekit.evaluate.tabular_efficacy import distance_to_closest_record, ml_efficacy
from vaekit.registry import suggest

MAX_ROWS = 5000  # rows of each table that ML efficacy and the distances use: bounds their time and memory
MAX_IMPUTED_ROWS = 1000  # rows of the split whose hidden cells are imputed (about 30 s per 500 rows on 2 CPU cores)
HIDDEN_FRACTION = 0.2  # of the split's observed cells, hidden for the imputation error
IMPUTE_SAMPLES = 200  # importance samples per row (impute_rows' num_samples)
# A codec column's kind -> the kind the table metrics score it as: counts are whole numbers; a
# constant has no shape to compare and is left out (as is any kind not named here).
SCORED_AS = {"continuous": "continuous", "integer": "integer", "count": "integer", "categorical": "categorical",
             "boolean": "boolean"}


def is_table_run(run: Any) -> bool:
    """Whether the run was trained on a table (its codec turns outputs back into rows)."""
    return getattr(run.codec, "modality", None) == "table"


def table_kinds(run: Any) -> dict[str, str]:
    """{column: kind} of the columns synthetic rows hold and the metrics score, in the table's
    order: the modelled columns but constants (no shape to compare), and the label column when the
    model is conditioned on it (its synthetic rows draw a label; an unconditional model's do not)."""
    codec = run.codec
    kinds = {c.name: SCORED_AS[c.kind] for c in codec.columns if c.kind in SCORED_AS}
    if codec.label is not None and run.model.traits.conditional:
        kinds[codec.label.name] = SCORED_AS[codec.label.kind]
    return {name: kinds[name] for name in codec.names if name in kinds}


def choose_target(run: Any, target: str | None = None) -> tuple[str | None, str]:
    """(the ML-efficacy target column, why it was chosen), or (None, why there is none).

    `target` names a column (ConfigError, with the nearest name, when it is not one the synthetic
    rows hold); None picks the label column, else the last categorical or boolean column, else the
    last numeric column."""
    kinds = table_kinds(run)
    label = run.codec.label.name if run.codec.label is not None else None
    if target is not None:
        if target not in kinds:
            why = (" (the label column, which this unconditional model does not generate)" if target == label
                   else " (a constant or excluded column)" if target in run.codec.names else "")
            raise ConfigError(f"--target {target!r} is not a column the synthetic rows hold{why}"
                              f"{suggest(str(target), list(kinds))}; choose one of {', '.join(kinds)}")
        if len(kinds) < 2:
            return None, f"the table has no column besides {target!r} to predict it from"
        return target, "given"
    if len(kinds) < 2:
        return None, f"the table has {len(kinds)} scored column(s); predicting one needs another to predict from"
    if label in kinds:
        return label, "the label column"
    discrete = [c for c, k in kinds.items() if k in DISCRETE]
    if discrete:
        return discrete[-1], "the last categorical or boolean column"
    return list(kinds)[-1], "the last column (the table has no categorical one)"


def hide_cells(df: pd.DataFrame, columns: list[str], fraction: float,
               rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(df with cells hidden, the mask of hidden cells): round(fraction * observed) of the observed
    cells of `columns`, chosen uniformly at random without replacement (missing completely at random)."""
    observed = df[columns].notna().to_numpy()  # (N, C)
    rows, cols = np.nonzero(observed)
    k = int(round(fraction * len(rows)))
    pick = rng.choice(len(rows), size=k, replace=False)
    mask = np.zeros(df.shape, dtype=bool)
    where = np.asarray([df.columns.get_loc(c) for c in columns], dtype=np.int64)
    mask[rows[pick], where[cols[pick]]] = True
    hidden = df.copy()
    for j, name in enumerate(df.columns):
        if mask[:, j].any():
            hidden[name] = df[name].where(~mask[:, j])  # NaN; integers become floats, booleans objects
    return hidden, pd.DataFrame(mask, index=df.index, columns=df.columns)


def _subset(df: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """At most n rows, a random subset in table order."""
    if len(df) <= n:
        return df
    return df.iloc[np.sort(rng.choice(len(df), n, replace=False))].reset_index(drop=True)


def _clean(value: Any) -> Any:
    """NaN -> None, recursively: an undefined figure is null in eval_SPLIT.json, not bare NaN."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def split_rows(run: Any, split: str, seed: int, limit: int | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training rows, the split's rows) as the file holds them; with `limit`, the same seeded
    subset of the split that `evaluate(limit=...)` draws from its encoded examples."""
    from vaekit.data.table_set import read_splits

    _, frames = read_splits(run.config.data)
    rows = frames[split]
    if limit is not None:
        # The subset vaekit.data.load.limit takes, drawn on row numbers, so that the rows match
        # the encoded examples the other groups measure.
        index = limit_split(Split(torch.arange(len(rows)), None), limit, np.random.default_rng(seed)).x
        rows = rows.iloc[index.numpy()].reset_index(drop=True)
    return frames["train"], rows


def table_figures(run: Any, split: str, *, seed: int = 0, limit: int | None = None, target: str | None = None,
                  log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The table group's figures for a table run on `split` (see the module's docstring)."""
    from vaekit.sample.rows import synthesize

    log = log or (lambda line: None)
    target, why_target = choose_target(run, target)
    train, real = split_rows(run, split, seed, limit)
    kinds = table_kinds(run)
    n = min(len(train), MAX_IMAGES)
    synth = synthesize(run, n, seed=seed)
    q = quality_score(real, synth, kinds)
    out: dict[str, Any] = {
        "table_rows_real": len(real), "table_rows_synthetic": len(synth),
        "quality_score": q["score"], "column_shapes": q["column_shapes"], "column_pair_trends": q["column_pair_trends"],
        "column_shapes_per_column": q["per_column"],
    }
    rng = np.random.default_rng(seed)
    held_out = split != "train"
    small_synth, small_train, small_real = (_subset(t, MAX_ROWS, rng) for t in (synth, train, real))
    if not held_out:
        out["ml_efficacy_skipped"] = "the split is the training split; ML efficacy tests on held-out rows (--split test)"
    elif target is None:
        out["ml_efficacy_skipped"] = why_target
    else:
        try:
            ml = ml_efficacy(small_synth, small_train, small_real, target, kinds, seed=seed)
        except InputError as e:  # no rows with a known target: a fact about the data, not a failure
            out["ml_efficacy_skipped"] = str(e)
        else:
            out.update({"ml_efficacy_target": target, "ml_efficacy_target_chosen": why_target,
                        **{f"ml_efficacy_{k}": v for k, v in ml.items()},
                        "ml_efficacy_rows": {"synthetic": len(small_synth), "real": len(small_train),
                                             "test": len(small_real)}})
    if held_out:
        out.update(_distances(small_synth, small_train, small_real, kinds, seed))
    else:
        out["dcr_skipped"] = "the split is the training split; the distances compare with held-out rows (--split test)"
    out.update(_imputation(run, real, rng, seed, log))
    return _clean(out)


def _distances(synth: pd.DataFrame, train: pd.DataFrame, real: pd.DataFrame, kinds: dict[str, str],
               seed: int) -> dict[str, Any]:
    d = distance_to_closest_record(synth, train, real, kinds, seed=seed)
    # The held-out rows against the same training subsample (same seed, same sizes: the same draw),
    # the baseline a generator that has not memorised its rows should match; its distances to
    # itself (the holdout part) are 0 and left out.
    base = distance_to_closest_record(real, train, real, kinds, seed=seed)
    med = base["dcr_train_median"]
    return {"dcr_synthetic_train_median": d["dcr_train_median"], "dcr_synthetic_train_p5": d["dcr_train_p5"],
            "dcr_synthetic_holdout_median": d["dcr_holdout_median"], "dcr_synthetic_holdout_p5": d["dcr_holdout_p5"],
            "dcr_holdout_train_median": med, "dcr_holdout_train_p5": base["dcr_train_p5"],
            "dcr_median_ratio": d["dcr_train_median"] / med if med > 0 else math.nan,
            "dcr_share_closer_to_train": d["share_closer_to_train"], "dcr_reference_rows": d["n_reference"]}


def _imputation(run: Any, real: pd.DataFrame, rng: np.random.Generator, seed: int,
                log: Callable[[str], None]) -> dict[str, Any]:
    from vaekit.sample import rows as sample_rows

    columns = [c.name for c in run.codec.columns if c.kind in SCORED_AS]  # not the label: a condition
    rows = _subset(real, MAX_IMPUTED_ROWS, rng)
    hidden, mask = hide_cells(rows, columns, HIDDEN_FRACTION, rng)
    if not mask.to_numpy().any():
        return {"imputation_skipped": "the split has no observed cell to hide"}
    if not run.model.traits.gaussian_posterior or not run.model.traits.bound or run.model.traits.hierarchical:
        return {"imputation_skipped": f"the importance weights need a one-layer Gaussian posterior and a likelihood "
                                      f"bound, which {run.config.model.name} does not have"}
    filled = sample_rows.impute_rows(run, hidden, num_samples=IMPUTE_SAMPLES, seed=seed)
    kinds = {c.name: SCORED_AS[c.kind] for c in run.codec.columns if c.name in columns}
    err = imputation_error(rows, filled, mask, kinds)
    log(f"evaluate: table: imputed {int(mask.to_numpy().sum())} hidden cells of {len(rows)} rows")
    return {"imputation_hidden_fraction": HIDDEN_FRACTION, "imputation_hidden_cells": int(mask.to_numpy().sum()),
            "imputation_rows": len(rows), "imputation_mean_rmse": err["mean_rmse"],
            "imputation_mean_nrmse": err["mean_nrmse"], "imputation_mean_accuracy": err["mean_accuracy"],
            "imputation_per_column": err["per_column"]}
