"""bench/tabular_compare.py: the paired bootstrap of two imputations' errors, against
vaekit.evaluate.tabular.imputation_error's figures and cases whose answer is known."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vaekit.evaluate.tabular import imputation_error

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from bench_helpers import bench_modules  # noqa: E402
KINDS = {"x": "continuous", "n": "integer", "g": "categorical"}


@pytest.fixture(scope="module")
def compare():
    with bench_modules("tabular_compare") as m:
        yield m[0]


def case(n: int = 400, seed: int = 0):
    rng = np.random.default_rng(seed)
    truth = pd.DataFrame({"x": rng.normal(size=n), "n": rng.integers(0, 50, n).astype(float),
                          "g": rng.choice(["a", "b", "c"], n).astype(object)})
    hidden = pd.DataFrame(rng.random((n, 3)) < 0.3, columns=list(KINDS))

    def noisy(scale: float, wrong: float, s: int) -> pd.DataFrame:
        r = np.random.default_rng(s)
        out = truth.copy()
        out["x"] = truth["x"] + scale * r.normal(size=n)
        out["n"] = truth["n"] + np.round(10 * scale * r.normal(size=n))
        flip = r.random(n) < wrong
        out.loc[flip, "g"] = np.where(truth.loc[flip, "g"] == "a", "b", "a")
        return out
    return truth, hidden, noisy


def test_point_figures_are_imputation_errors(compare):
    truth, hidden, noisy = case()
    filled = noisy(0.5, 0.3, 1)
    want = imputation_error(truth, filled, hidden, KINDS)
    nrmse, accuracy = compare.point_figures(truth, filled, hidden, KINDS)
    assert nrmse == pytest.approx(want["mean_nrmse"], rel=1e-12)
    assert accuracy == pytest.approx(want["mean_accuracy"], rel=1e-12)


def test_the_same_imputation_differs_by_exactly_zero(compare):
    truth, hidden, noisy = case()
    filled = noisy(0.5, 0.3, 1)
    assert compare.paired_bootstrap(truth, filled, filled, hidden, KINDS, reps=200) == {
        "nrmse": (0.0, 0.0), "accuracy": (0.0, 0.0)}


def test_a_clearly_better_imputation_is_better_beyond_the_noise(compare):
    truth, hidden, noisy = case()
    good, bad = noisy(0.2, 0.1, 1), noisy(1.0, 0.5, 2)
    result = compare.paired_bootstrap(truth, good, bad, hidden, KINDS, reps=500)
    assert result["nrmse"][1] < 0 and result["accuracy"][0] > 0
    swapped = compare.paired_bootstrap(truth, bad, good, hidden, KINDS, reps=500)
    assert swapped["nrmse"][0] > 0 and swapped["accuracy"][1] < 0


def test_two_equally_good_imputations_are_not_told_apart(compare):
    truth, hidden, noisy = case()
    lo, hi = compare.paired_bootstrap(truth, noisy(0.5, 0.3, 1), noisy(0.5, 0.3, 2), hidden, KINDS,
                                      reps=500)["accuracy"]
    assert lo < 0 < hi  # the interval holds 0: about 120 cells cannot separate two 70% imputers
