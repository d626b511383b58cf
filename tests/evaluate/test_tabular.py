"""Tabular metrics against independent computations: ECDFs, frequency tables and RMSEs by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp

from vaekit.errors import InputError
from vaekit.evaluate.tabular import (
    column_pair_trends,
    column_shapes,
    contingency_similarity,
    correlation_similarity,
    imputation_error,
    quality_score,
)
from vaekit.evaluate.tabular_efficacy import distance_to_closest_record, ml_efficacy

KINDS = {"x": "continuous", "y": "continuous", "n": "integer", "c": "categorical", "b": "boolean"}


def table(n: int, seed: int) -> pd.DataFrame:
    """Dependent columns: y follows x, the category and the flag follow x and y."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = x + 0.1 * rng.normal(size=n)
    c = np.where(x > 0.5, "hi", np.where(x < -0.5, "lo", "mid"))
    return pd.DataFrame({"x": x, "y": y, "n": rng.poisson(3, size=n) + (x > 0),
                         "c": c, "b": y > 0})


def ecdf_distance(a: np.ndarray, b: np.ndarray) -> float:
    """The KS statistic by hand: the largest gap between the two ECDFs over the pooled points."""
    points = np.concatenate([a, b])
    fa = np.searchsorted(np.sort(a), points, side="right") / len(a)
    fb = np.searchsorted(np.sort(b), points, side="right") / len(b)
    return float(np.abs(fa - fb).max())


# ----------------------------------------------------------------------------- column shapes


def test_ks_complement_is_one_minus_the_ecdf_gap_and_one_for_identical_columns():
    rng = np.random.default_rng(0)
    real = pd.DataFrame({"x": rng.normal(size=300)})
    synth = pd.DataFrame({"x": rng.normal(0.3, 1.2, size=200)})
    score = column_shapes(real, synth, {"x": "continuous"})["x"]
    # Both are exact rational numbers of the same samples; the tolerance is float rounding only.
    assert score == pytest.approx(1 - ecdf_distance(real.x.to_numpy(), synth.x.to_numpy()), abs=1e-12)
    assert score == pytest.approx(1 - ks_2samp(real.x, synth.x).statistic, abs=1e-12)
    assert 0.5 < score < 0.95
    assert column_shapes(real, real.sample(frac=1, random_state=1), {"x": "integer"})["x"] == 1.0


def test_ks_complement_drops_missing_values():
    real = pd.DataFrame({"x": [1.0, 2.0, np.nan, 3.0]})
    synth = pd.DataFrame({"x": [np.nan, 1.0, 2.0, 3.0, np.nan]})
    assert column_shapes(real, synth, {"x": "continuous"})["x"] == 1.0
    nullable = pd.DataFrame({"x": pd.array([1, 2, None, 3], dtype="Int64")})  # pd.NA, not NaN
    assert column_shapes(nullable, synth, {"x": "integer"})["x"] == 1.0
    pair = nullable.assign(y=[2.0, 4.0, 5.0, 6.0])
    assert column_pair_trends(pair, pair, {"x": "integer", "y": "continuous"})[("x", "y")] == 1.0


def test_tv_complement_by_hand():
    real = pd.DataFrame({"c": ["a", "a", "b", "c"]})
    synth = pd.DataFrame({"c": ["a", "b", "b", "d", None]})  # the None is dropped
    # p_real = a .5, b .25, c .25; p_synth = a .25, b .5, d .25; sum |diff| = 1.0
    assert column_shapes(real, synth, {"c": "categorical"})["c"] == pytest.approx(0.5, abs=1e-12)
    flags = pd.DataFrame({"b": [True, True, True, False]})
    # p_real = T .75, F .25 against T .25, F .75: sum |diff| = 1.0
    assert column_shapes(flags, ~flags, {"b": "boolean"})["b"] == pytest.approx(0.5, abs=1e-12)


# ----------------------------------------------------------------------------- pairs


def test_correlation_similarity_by_hand():
    x = [1.0, 2.0, 3.0, 4.0]
    line = pd.DataFrame({"x": x, "y": x})  # r = 1
    reverse = pd.DataFrame({"x": x, "y": x[::-1]})  # r = -1
    flat = pd.DataFrame({"x": x, "y": [1.0, -1.0, -1.0, 1.0]})  # centred x . y = 0: r = 0
    assert correlation_similarity(line, line) == pytest.approx(1.0, abs=1e-12)
    assert correlation_similarity(line, reverse) == pytest.approx(0.0, abs=1e-12)
    assert correlation_similarity(line, flat) == pytest.approx(0.5, abs=1e-12)
    constant = pd.DataFrame({"x": x, "y": [2.0] * 4})
    assert math.isnan(correlation_similarity(line, constant))


def test_contingency_similarity_by_hand_with_missing_as_a_category():
    real = pd.DataFrame({"a": ["a", "a", "b", "b"], "b": ["x", "x", "y", "x"]})
    synth = pd.DataFrame({"a": ["a", "b", "b", "a"], "b": ["x", "y", "y", "y"]})
    # q_real: ax .5, by .25, bx .25; q_synth: ax .25, by .5, ay .25; sum |diff| = 1.0
    assert contingency_similarity(real, synth) == pytest.approx(0.5, abs=1e-12)
    with_gap = pd.DataFrame({"a": ["a", "a"], "b": ["x", None]})
    full = pd.DataFrame({"a": ["a", "a"], "b": ["x", "x"]})
    # (a, missing) is a cell of its own: q = {ax .5, a? .5} against {ax 1}: sum |diff| = 1.0
    assert contingency_similarity(with_gap, full) == pytest.approx(0.5, abs=1e-12)


def test_mixed_pairs_are_binned_on_the_real_range():
    rng = np.random.default_rng(0)
    real = pd.DataFrame({"x": rng.uniform(size=200), "c": rng.choice(["a", "b"], size=200)})
    kinds = {"x": "continuous", "c": "categorical"}
    assert column_pair_trends(real, real, kinds)[("x", "c")] == 1.0
    # Shifted out of the real range, every synthetic value falls in the overflow bin: no cell in
    # common. Bins of the synthetic column's own range (SDMetrics' report) would score 1.0 here.
    shifted = real.assign(x=real.x + 100)
    assert column_pair_trends(real, shifted, kinds)[("x", "c")] == pytest.approx(0.0, abs=1e-12)
    # By hand: real x in [0, 10] gives edges 0, 1, ..., 10; an edge counts into the bin above it,
    # except the last, which closes the top bin (9, 10]: real cells (1,a) (2,a) (10,b).
    real = pd.DataFrame({"x": [0.0, 1.0, 10.0], "c": ["a", "a", "b"]})
    inside = pd.DataFrame({"x": [0.5, 1.5, 9.5], "c": ["a", "a", "b"]})  # (1,a) (2,a) (10,b)
    assert column_pair_trends(real, inside, kinds)[("x", "c")] == 1.0
    beyond = pd.DataFrame({"x": [0.5, 1.5, 10.5], "c": ["a", "a", "b"]})  # (11,b): one third moved
    assert column_pair_trends(real, beyond, kinds)[("x", "c")] == pytest.approx(1 - 1 / 3, abs=1e-12)
    below = pd.DataFrame({"x": [-0.5, 1.5, 9.5], "c": ["a", "a", "b"]})  # (0,a): one third moved
    assert column_pair_trends(real, below, kinds)[("x", "c")] == pytest.approx(1 - 1 / 3, abs=1e-12)


def test_pairs_follow_the_kinds_order_and_pick_the_metric_by_kind():
    real = table(200, 0)
    result = quality_score(real, table(200, 1), KINDS)
    pairs = [tuple(p["columns"]) for p in result["per_pair"]]
    assert pairs == [("x", "y"), ("x", "n"), ("x", "c"), ("x", "b"), ("y", "n"), ("y", "c"), ("y", "b"),
                     ("n", "c"), ("n", "b"), ("c", "b")]
    metrics = {tuple(p["columns"]): p["metric"] for p in result["per_pair"]}
    assert metrics[("x", "n")] == "CorrelationSimilarity"
    assert metrics[("x", "c")] == metrics[("c", "b")] == "ContingencySimilarity"


# ----------------------------------------------------------------------------- the quality score


def test_quality_is_one_for_real_against_itself():
    real = table(300, 0)
    result = quality_score(real, real.copy(), KINDS)
    assert result["score"] == result["column_shapes"] == result["column_pair_trends"] == 1.0
    assert set(result["per_column"]) == set(KINDS)


def test_quality_is_the_mean_of_the_two_properties_and_falls_for_broken_pairs():
    real = table(400, 0)
    rng = np.random.default_rng(5)
    shuffled = real.apply(lambda col: col.to_numpy()[rng.permutation(len(col))])  # marginals kept
    result = quality_score(real, shuffled, KINDS)
    assert result["column_shapes"] == 1.0
    # A fresh sample of the same table keeps its pairs (about 0.93); shuffling each column breaks
    # them (about 0.68: x-y alone falls from 1 to about 1 - 0.995 / 2).
    fresh = quality_score(real, table(400, 9), KINDS)["column_pair_trends"]
    assert fresh > 0.9 and result["column_pair_trends"] < fresh - 0.2
    assert result["score"] == pytest.approx((result["column_shapes"] + result["column_pair_trends"]) / 2)
    noise = pd.DataFrame({"x": rng.uniform(5, 6, 400), "y": rng.uniform(-9, -8, 400), "n": np.full(400, 40),
                          "c": rng.choice(["lo", "zz"], 400), "b": np.zeros(400, bool)})
    assert quality_score(real, noise, KINDS)["score"] < 0.4


def test_a_constant_pair_is_left_out_and_one_column_has_no_pair_score():
    real = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [5.0, 5.0, 5.0]})
    result = quality_score(real, real, {"x": "continuous", "y": "continuous"})
    assert math.isnan(result["column_pair_trends"]) and result["score"] == 1.0
    alone = quality_score(real, real, {"x": "continuous"})
    assert alone["per_pair"] == [] and alone["score"] == 1.0


def test_bad_kinds_and_missing_columns_are_input_errors():
    real = table(20, 0)
    with pytest.raises(InputError, match="kind 'text'"):
        column_shapes(real, real, {"x": "text"})
    with pytest.raises(InputError, match="missing from a table"):
        column_pair_trends(real, real.drop(columns="c"), KINDS)
    with pytest.raises(InputError, match="no columns"):
        quality_score(real, real, {})


# ----------------------------------------------------------------------------- ML efficacy


def labelled(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    g = rng.choice(["p", "q", "r"], size=n)
    shift = np.select([g == "p", g == "q"], [1.0, -1.0], 0.0)
    return pd.DataFrame({"x1": x1, "x2": x2, "g": g, "label": np.where(x1 + x2 + shift > 0, "yes", "no"),
                         "value": 2 * x1 - x2 + shift + 0.1 * rng.normal(size=n)})


FEATURES = {"x1": "continuous", "x2": "continuous", "g": "categorical"}


def test_ml_efficacy_is_one_for_real_rows_and_low_for_noise_classification():
    train, test = labelled(400, 0), labelled(200, 1)
    kinds = {**FEATURES, "label": "categorical"}
    same = ml_efficacy(train, train, test, "label", kinds, seed=0)
    assert same["task"] == "classification" and same["metric"] == "macro_f1"
    assert same["real"] > 0.85 and same["ratio"] == 1.0  # same rows, same seed: the same model
    rng = np.random.default_rng(2)
    noise = train.assign(x1=rng.normal(size=400), x2=rng.normal(size=400),
                         label=rng.choice(["yes", "no"], size=400))
    bad = ml_efficacy(noise, train, test, "label", kinds, seed=0)
    assert bad["ratio"] < 0.75 and bad["accuracy_synthetic"] < 0.7
    assert ml_efficacy(noise, train, test, "label", kinds, seed=0) == bad  # seeded: deterministic


def test_ml_efficacy_regression_and_a_one_class_synthetic_set():
    train, test = labelled(400, 0), labelled(200, 1)
    kinds = {**FEATURES, "value": "continuous"}
    same = ml_efficacy(train, train, test, "value", kinds, seed=0)
    assert same["metric"] == "r2" and same["real"] > 0.8 and same["ratio"] == 1.0
    rng = np.random.default_rng(3)
    noise = train.assign(value=rng.normal(size=400))
    assert ml_efficacy(noise, train, test, "value", kinds, seed=0)["ratio"] < 0.2
    one_class = train.assign(label="yes")
    result = ml_efficacy(one_class, train, test, "label", {**FEATURES, "label": "categorical"}, seed=0)
    assert result["accuracy_synthetic"] == pytest.approx(np.mean(test.label == "yes"))
    with pytest.raises(InputError, match="target 'nope'"):
        ml_efficacy(train, train, test, "nope", kinds)


def test_ml_efficacy_ratio_is_nan_when_real_rows_do_no_better_than_a_constant():
    train, test = labelled(200, 0), labelled(100, 1)
    kinds = {**FEATURES, "value": "continuous"}
    flat = train.assign(value=100.0)  # a constant prediction far from the test mean: R^2 < 0
    result = ml_efficacy(train, flat, test, "value", kinds, seed=0)
    assert result["real"] < 0 and math.isnan(result["ratio"])


def test_ml_efficacy_codes_missing_categories_and_drops_rows_without_a_target():
    train, test = labelled(300, 0), labelled(100, 1)
    gappy = train.assign(g=train.g.where(np.arange(300) % 7 != 0, None),
                         label=train.label.where(np.arange(300) % 11 != 0, None))
    result = ml_efficacy(gappy, train, test, "label", {**FEATURES, "label": "categorical"}, seed=0)
    assert result["synthetic"] > 0.8


# ----------------------------------------------------------------------------- distance to closest record


DCR_KINDS = {"x1": "continuous", "x2": "continuous", "g": "categorical", "label": "categorical"}


def test_dcr_share_is_one_for_copies_and_about_half_for_fresh_rows():
    train, holdout = labelled(300, 0), labelled(300, 1)
    copies = train.sample(200, random_state=0)
    result = distance_to_closest_record(copies, train, holdout, DCR_KINDS)
    assert result["share_closer_to_train"] == 1.0 and result["dcr_train_median"] == 0.0
    assert result["dcr_holdout_median"] > 0
    fresh = distance_to_closest_record(labelled(500, 2), train, holdout, DCR_KINDS)
    # 500 rows, each closer to either set with probability 1/2: sd 0.022, so 0.1 is 4.5 sd
    assert abs(fresh["share_closer_to_train"] - 0.5) < 0.1


def test_dcr_balances_a_larger_training_set():
    # Five times as many training rows would put most fresh rows closer to training (about 0.8);
    # the training set is subsampled to the held-out size, which keeps 0.5 the reference.
    train, holdout = labelled(1000, 0), labelled(200, 1)
    result = distance_to_closest_record(labelled(500, 2), train, holdout, DCR_KINDS, seed=0)
    assert result["n_reference"] == 200
    assert abs(result["share_closer_to_train"] - 0.5) < 0.1


def test_dcr_scales_by_the_training_range_and_one_hot_codes_categories_by_hand():
    kinds = {"x": "continuous", "c": "categorical"}
    train = pd.DataFrame({"x": [0.0, 1000.0], "c": ["a", "b"]})
    holdout = pd.DataFrame({"x": [200.0, 800.0], "c": ["b", "b"]})
    synth = pd.DataFrame({"x": [500.0, np.nan], "c": ["a", "a"]})  # missing x: the training mean, 500
    result = distance_to_closest_record(synth, train, holdout, kinds)
    # scaled x: synthetic 0.5; training 0 (a) and 1 (b); held-out 0.2 (b) and 0.8 (b).
    # Nearest training row (0, a): 0.5. Nearest held-out: sqrt(0.3^2 + 2) (a category mismatch is 2).
    assert result["dcr_train_median"] == pytest.approx(0.5, abs=1e-12)
    assert result["dcr_holdout_median"] == pytest.approx(math.sqrt(0.09 + 2), abs=1e-12)
    assert result["share_closer_to_train"] == 1.0


# ----------------------------------------------------------------------------- imputation


def test_imputation_error_is_zero_for_perfect_imputations():
    true = table(50, 0)
    mask = np.random.default_rng(0).uniform(size=true.shape) < 0.3
    result = imputation_error(true, true.copy(), mask, KINDS)
    assert result["mean_rmse"] == 0.0 and result["mean_accuracy"] == 1.0
    assert set(result["per_column"]) == set(KINDS)


def test_imputation_error_by_hand():
    true = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "c": ["a", "b", "c", "d"]})
    imputed = pd.DataFrame({"x": [9.0, 4.0, 3.0, 0.0], "c": ["a", "b", "x", "z"]})
    mask = pd.DataFrame({"x": [False, True, False, True], "c": [True, True, True, False]})
    result = imputation_error(true, imputed, mask, {"x": "continuous", "c": "categorical"})
    x, c = result["per_column"]["x"], result["per_column"]["c"]
    # masked errors 2 and -4: RMSE sqrt(10); the std of 1..4 is sqrt(1.25); unmasked 9 and z ignored
    assert x["rmse"] == pytest.approx(math.sqrt(10), abs=1e-12)
    assert x["nrmse"] == pytest.approx(math.sqrt(10 / 1.25), abs=1e-12)
    assert c["accuracy"] == pytest.approx(2 / 3, abs=1e-12) and c["n"] == 3
    # A masked entry whose true value is unknown cannot be scored and is left out.
    gap = true.assign(x=[1.0, np.nan, 3.0, 4.0])
    assert imputation_error(gap, imputed, mask, {"x": "continuous"})["per_column"]["x"]["n"] == 1
    with pytest.raises(InputError, match="shape"):
        imputation_error(true, imputed, np.zeros((3, 2), bool), {"x": "continuous"})
    with pytest.raises(InputError, match="rows"):
        imputation_error(true, imputed.iloc[:3], mask, {"x": "continuous"})
