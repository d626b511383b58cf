"""What synthetic tables are good for and what they give away: machine-learning efficacy (train on
synthetic, test on real) and the distance to the closest real record (a memorisation check).

Pure functions over pandas DataFrames and a dict of column kinds, as in `vaekit.evaluate.tabular`.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.metrics import accuracy_score, f1_score, r2_score
from sklearn.neighbors import NearestNeighbors
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from vaekit.errors import InputError
from vaekit.evaluate.tabular import DISCRETE, NUMERIC, check_kinds, floats

MISSING = "<missing>"  # the category a missing discrete value becomes, so that it can be one-hot coded


def _discrete_as_text(frame: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    # Text, so that categories of mixed types (True, "a", 3) sort and compare in scikit-learn.
    out = frame.copy()
    for c in cols:
        out[c] = frame[c].astype(object).where(frame[c].notna(), MISSING).astype(str)
    return out


# ----------------------------------------------------------------------------- ML efficacy


def ml_efficacy(train_synth: pd.DataFrame, train_real: pd.DataFrame, test_real: pd.DataFrame, target: str,
                kinds: Mapping[str, str], seed: int = 0) -> dict[str, Any]:
    """Train on synthetic rows, test on held-out real rows, against the same model trained on real rows.

    The model is scikit-learn's histogram gradient boosting (a classifier for a discrete target,
    scored by macro F1, with accuracy beside it; a regressor for a numeric target, scored by R^2),
    seeded by `seed`, on the other columns of `kinds`: discrete ones one-hot coded (a missing value
    a category of its own), numeric ones as they are (the model handles missing values). Rows whose
    target is missing are dropped. A training set holding one class only gets a constant predictor.

    Returns {"task", "metric", "synthetic", "real", "ratio"} (+ "accuracy_synthetic",
    "accuracy_real" for a classification); ratio = synthetic / real, NaN when real <= 0.
    """
    if target not in kinds:
        raise InputError(f"target {target!r} is not a column of kinds; name one of {list(kinds)}")
    check_kinds(kinds, train_synth, train_real, test_real)
    classify = kinds[target] in DISCRETE
    features = [c for c in kinds if c != target]
    x_test, y_test = _xy(test_real, features, target, kinds, classify)
    result: dict[str, Any] = {"task": "classification" if classify else "regression",
                              "metric": "macro_f1" if classify else "r2"}
    for name, train in (("synthetic", train_synth), ("real", train_real)):
        x, y = _xy(train, features, target, kinds, classify)
        if len(y) == 0 or len(y_test) == 0:
            raise InputError(f"no {name if len(y) == 0 else 'test'} rows with a known target {target!r}; "
                             "pass rows where the target is present")
        pred = _model(features, kinds, classify, y, seed).fit(x, y).predict(x_test)
        if classify:
            result[name] = float(f1_score(y_test, pred, average="macro"))
            result[f"accuracy_{name}"] = float(accuracy_score(y_test, pred))
        else:
            result[name] = float(r2_score(y_test, pred))
    result["ratio"] = result["synthetic"] / result["real"] if result["real"] > 0 else math.nan
    return result


def _xy(frame: pd.DataFrame, features: list[str], target: str, kinds: Mapping[str, str],
        classify: bool) -> tuple[pd.DataFrame, np.ndarray]:
    frame = frame[frame[target].notna()]
    discrete = [c for c in features if kinds[c] in DISCRETE]
    x = _discrete_as_text(frame[features], discrete)
    for c in features:
        if kinds[c] in NUMERIC:
            x[c] = floats(x[c])
    y = frame[target].astype(str).to_numpy() if classify else floats(frame[target])
    return x, y


def _model(features: list[str], kinds: Mapping[str, str], classify: bool, y: np.ndarray, seed: int):
    discrete = [c for c in features if kinds[c] in DISCRETE]
    numeric = [c for c in features if kinds[c] in NUMERIC]
    parts = [("numeric", "passthrough", numeric)]
    if discrete:
        parts.append(("discrete", OneHotEncoder(handle_unknown="ignore", sparse_output=False), discrete))
    encode = ColumnTransformer(parts)
    if classify and len(np.unique(y)) < 2:
        return make_pipeline(encode, DummyClassifier(strategy="most_frequent"))
    model = (HistGradientBoostingClassifier if classify else HistGradientBoostingRegressor)(random_state=seed)
    return make_pipeline(encode, model)


# ----------------------------------------------------------------------------- distance to closest record


def distance_to_closest_record(synth: pd.DataFrame, train_real: pd.DataFrame, holdout_real: pd.DataFrame,
                               kinds: Mapping[str, str], seed: int = 0) -> dict[str, float]:
    """How close synthetic rows lie to the training rows, against rows the model never saw.

    Features: numeric columns scaled to [0, 1] by the real training range (a missing value set to
    the training mean), discrete columns one-hot coded on the training categories (a missing value
    a category of its own); Euclidean distance to the nearest row (sklearn NearestNeighbors). The
    larger of the training and held-out sets is subsampled (seeded) to the smaller's size, so that
    a generator that has not memorised its training rows is as often closer to either:
    share_closer_to_train near 0.5 (ties count half), near 1.0 for copies of training rows.

    Returns {"dcr_train_median", "dcr_train_p5", "dcr_holdout_median", "dcr_holdout_p5",
    "share_closer_to_train", "n_reference"}.
    """
    check_kinds(kinds, synth, train_real, holdout_real)
    if min(len(synth), len(train_real), len(holdout_real)) == 0:
        raise InputError("distance_to_closest_record needs synthetic, training and held-out rows; "
                         "one of the tables is empty")
    n = min(len(train_real), len(holdout_real))
    rng = np.random.default_rng(seed)
    train = train_real.iloc[np.sort(rng.choice(len(train_real), n, replace=False))]
    holdout = holdout_real.iloc[np.sort(rng.choice(len(holdout_real), n, replace=False))]
    encode = _distance_encoder(train_real, kinds)  # scaled by all training rows, not the subsample
    s, t, h = encode(synth), encode(train), encode(holdout)
    d_train = NearestNeighbors(n_neighbors=1).fit(t).kneighbors(s)[0][:, 0]
    d_hold = NearestNeighbors(n_neighbors=1).fit(h).kneighbors(s)[0][:, 0]
    share = float(np.mean(d_train < d_hold) + 0.5 * np.mean(d_train == d_hold))
    return {"dcr_train_median": float(np.median(d_train)), "dcr_train_p5": float(np.percentile(d_train, 5)),
            "dcr_holdout_median": float(np.median(d_hold)), "dcr_holdout_p5": float(np.percentile(d_hold, 5)),
            "share_closer_to_train": share, "n_reference": int(n)}


def _numeric_matrix(frame: pd.DataFrame, cols: list[str]) -> np.ndarray:
    return np.stack([floats(frame[c]) for c in cols], axis=1) if cols else np.zeros((len(frame), 0))


def _distance_encoder(train: pd.DataFrame, kinds: Mapping[str, str]):
    numeric = [c for c in kinds if kinds[c] in NUMERIC]
    discrete = [c for c in kinds if kinds[c] in DISCRETE]
    values = _numeric_matrix(train, numeric)  # (N, numeric)
    low, high = np.nanmin(values, 0, initial=np.inf), np.nanmax(values, 0, initial=-np.inf)
    span = np.where(high > low, high - low, 1.0)  # a constant column scales by 1, not by 0
    low = np.where(np.isfinite(low), low, 0.0)  # a column with no known training value: left as is
    with np.errstate(invalid="ignore"):
        mean = np.nan_to_num(values.sum(0, where=~np.isnan(values)) / (~np.isnan(values)).sum(0))
    onehot = None
    if discrete:
        onehot = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
        onehot.fit(_discrete_as_text(train[discrete], discrete))

    def encode(frame: pd.DataFrame) -> np.ndarray:
        x = _numeric_matrix(frame, numeric)
        x = np.where(np.isnan(x), mean, x)
        parts = [(x - low) / span]
        if onehot is not None:
            parts.append(onehot.transform(_discrete_as_text(frame[discrete], discrete)))
        return np.concatenate(parts, axis=1)

    return encode
