"""bench/tabular.py: the quick mode end to end on a small generated table (figures finite and in
range, the section written to the file named by --doc and not to docs/benchmarks.md), the MCAR
mask, and the imputation baselines against independent computations."""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from bench_helpers import bench_modules  # noqa: E402
import ctgan  # noqa: E402,F401  TVAE, the baseline (the test extra installs it, so this test runs in CI)


@pytest.fixture(scope="module")
def bench():
    with bench_modules("tabular", "tabular_baselines") as m:
        yield m


def mixed(n: int, seed: int = 0) -> pd.DataFrame:
    """A small mixed table whose columns depend on one another, so imputation has something to use."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return pd.DataFrame({
        "x": x,
        "y": 2.0 * x + 0.3 * rng.normal(size=n),
        "count": rng.poisson(20 + 5 * (x > 0), n) * 3 + 100,  # whole numbers with many values: an integer column
        "group": np.where(x + 0.3 * rng.normal(size=n) > 0, "high", "low"),
        "colour": rng.choice(["red", "green", "blue"], n),
    })


def test_quick_mode_gives_finite_figures_in_range_and_writes_only_the_named_doc(bench, tmp_path):
    tabular, baselines = bench
    mixed(300).to_csv(tmp_path / "mixed.csv", index=False)
    doc, before = tmp_path / "bench.md", tabular.DOC.read_text()
    results = tabular.main(["--quick", "--csv", str(tmp_path / "mixed.csv"), "--target", "group",
                            "--out", str(tmp_path / "runs"), "--doc", str(doc)])
    assert tabular.DOC.read_text() == before  # the project's page is untouched
    text = doc.read_text()
    assert "<!-- bench:tabular -->" in text and "--doc" in text and "| mixed | vaekit |" in text

    r = results["mixed"]
    assert r["kinds"] == {"x": "continuous", "y": "continuous", "count": "integer", "group": "categorical",
                          "colour": "categorical"}
    for model in ("vaekit", "TVAE"):
        m = r[model]
        assert 0.0 <= m["quality"] <= 1.0 and 0.0 <= m["closer_to_train"] <= 1.0
        assert 0.0 <= m["efficacy"] <= 1.0 and 0.0 <= m["efficacy_real"] <= 1.0  # macro F1
        assert m["dcr_holdout"] >= 0.0 and math.isfinite(m["dcr_holdout"])
        assert 0.0 < m["s_per_epoch"] < m["fit_s"] < 60.0  # an epoch's steps are part of the whole fit
        assert 0.0 < m["s_per_epoch_median"] < m["fit_s"]
    assert 0.0 < r["floor"]["s_per_epoch_median"] < 60.0  # the plain PyTorch loop of the same sizes, timed alike
    assert "plain PyTorch floor" in text
    assert set(r["imputation"]) == set(tabular.QUICK.rates)
    for errors in r["imputation"].values():
        assert set(errors) == {"vaekit", *baselines.BASELINES}
        for key in ("against_iterative", "against_means"):
            for lo, hi in errors["vaekit"][key].values():
                assert lo <= hi  # the paired bootstrap's 95% interval of vaekit minus the baseline
        for error in errors.values():
            assert set(error["per_column"]) == set(r["kinds"])  # every column had hidden cells
            assert math.isfinite(error["mean_nrmse"]) and error["mean_nrmse"] >= 0.0
            assert 0.0 <= error["mean_accuracy"] <= 1.0


def test_hide_makes_cells_missing_at_the_rate_independently_of_the_values(bench):
    tabular, _ = bench
    frame = mixed(4000)
    for rate in (0.2, 0.5):
        hidden = tabular.hide(frame, ["x", "count", "group"], rate, seed=0)
        gaps = hidden.isna()
        assert not gaps[["y", "colour"]].any().any()  # columns not named keep every cell
        share = gaps[["x", "count", "group"]].to_numpy().mean()
        # 12,000 Bernoulli(rate) cells: 5 standard deviations of the share is under 0.023.
        assert abs(share - rate) < 5 * math.sqrt(rate * (1 - rate) / 12_000)
        # MCAR: the hidden x are drawn like all x (means within 5 standard errors of a mean of ~rate*4000).
        assert abs(frame["x"][gaps["x"]].mean() - frame["x"].mean()) < 5 / math.sqrt(rate * 4000)
        kept = ~gaps
        assert (hidden["x"][kept["x"]] == frame["x"][kept["x"]]).all()
        assert (hidden["count"][kept["count"]].astype(int) == frame["count"][kept["count"]]).all()
        assert hidden.equals(tabular.hide(frame, ["x", "count", "group"], rate, seed=0))  # seeded


def test_column_means_fill_with_the_training_mean_and_mode(bench):
    _, baselines = bench
    train = pd.DataFrame({"a": [1.0, np.nan, 3.0, 8.0], "n": [1, 2, 2, 4], "c": ["u", "v", "v", None]})
    test = pd.DataFrame({"a": [np.nan, 5.0], "n": [np.nan, 7], "c": [None, "u"]})
    kinds = {"a": "continuous", "n": "integer", "c": "categorical"}
    filled = baselines.column_means(train, test, kinds)
    assert filled["a"].tolist() == [pytest.approx((1 + 3 + 8) / 3), 5.0]  # NaN left out of the mean
    assert filled["n"].tolist() == [round((1 + 2 + 2 + 4) / 4), 7]  # integers rounded
    assert filled["c"].tolist() == ["v", "u"]  # observed cells kept


def test_the_sklearn_baselines_recover_a_category_and_a_number_from_the_others(bench):
    tabular, baselines = bench
    frame = mixed(600, seed=1)
    kinds = {"x": "continuous", "y": "continuous", "group": "categorical"}
    train, test = frame.iloc[:500][list(kinds)], frame.iloc[500:][list(kinds)].reset_index(drop=True)
    # IterativeImputer models only the columns with gaps in its training rows (the others get the
    # mean), so its training rows have gaps, as in the benchmark. KNNImputer's do not: a donor with
    # a missing x is at distance 0 from every row of its group (nan_euclidean skips the gap).
    gappy = tabular.hide(train, list(kinds), 0.2, seed=0)
    hidden = test.copy()
    hidden.loc[::2, "y"] = np.nan
    hidden.loc[1::2, "group"] = None
    for impute, rows in ((baselines.iterative_imputer, gappy), (baselines.knn_imputer, train)):
        filled = impute(rows, hidden, kinds, 0)
        assert filled.loc[1::2, "y"].equals(test.loc[1::2, "y"])  # observed cells untouched
        # y = 2x + N(0, 0.3^2): from x, y is known to about 0.3, against its spread of about 2.
        assert np.sqrt(np.mean((filled.loc[::2, "y"].astype(float) - test.loc[::2, "y"]) ** 2)) < 0.6
        # group is the sign of x + N(0, 0.3^2): a guess from x is wrong on about 10% of rows.
        assert (filled.loc[1::2, "group"] == test.loc[1::2, "group"]).mean() > 0.75


def test_iterative_imputer_stays_in_the_training_range(bench):
    tabular, baselines = bench
    rng = np.random.default_rng(0)
    x = rng.normal(size=400)
    train = pd.DataFrame({"x": x, "y": 3 * x + rng.normal(scale=0.1, size=400)})
    kinds = {"x": "continuous", "y": "continuous"}
    train = tabular.hide(train, list(kinds), 0.2, seed=0)
    test = pd.DataFrame({"x": [50.0, -50.0], "y": [np.nan, np.nan]})  # far outside: a regression says +-150
    filled = baselines.iterative_imputer(train, test, kinds, 0)
    low, high = np.nanmin(train["y"].astype(float)), np.nanmax(train["y"].astype(float))
    assert filled["y"].tolist() == pytest.approx([high, low], rel=1e-9)


def test_epoch_seconds_are_the_differences_of_the_loop_clock(bench, tmp_path):
    tabular, _ = bench
    run = type("Run", (), {"path": tmp_path})()
    (tmp_path / "metrics.jsonl").write_text("".join(f'{{"epoch": {i + 1}, "time": {t}}}\n'
                                                    for i, t in enumerate([0.5, 0.75, 3.0])))
    assert tabular.epoch_seconds(run) == pytest.approx([0.5, 0.25, 2.25])
    figures = tabular.per_epoch([0.5, 0.25, 2.25])
    assert figures["s_per_epoch"] == pytest.approx(1.0) and figures["s_per_epoch_median"] == 0.5


def test_the_epoch_clock_times_each_epoch_apart(bench):
    tabular, _ = bench
    clock = tabular._EpochClock()
    for i in clock(range(3)):
        time.sleep(0.02 * (i + 1))
    assert len(clock.epochs) == 3 and clock.epochs[0] >= 0.02 and clock.epochs[2] >= 0.06
    assert clock.epochs[0] < clock.epochs[2]
