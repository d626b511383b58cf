"""The table metric group of `vaekit evaluate`: its figures against the library functions computed
here on the same rows, the cells it hides, its target column, its bounds, and which groups run
(or are skipped, with why) for table and non-table runs."""

from __future__ import annotations

import json
import math
import types

import numpy as np
import pandas as pd
import pytest
import torch
from threadpoolctl import threadpool_limits

from vaekit.data.load import limit as limit_split
from vaekit.data.table import TableCodec
from vaekit.data.table_set import read_splits
from vaekit.errors import ConfigError
from vaekit.evaluate import evaluate
from vaekit.evaluate import table_group as tg
from vaekit.evaluate.tabular import imputation_error, quality_score
from vaekit.evaluate.tabular_efficacy import distance_to_closest_record, ml_efficacy
from vaekit.run import load_run
from vaekit.sample import rows as sample_rows
from vaekit.sample.rows import synthesize
from vaekit.train.loop import train

from cli_helpers import cli
from table_eval_helpers import mixed_table, train_table_run

KINDS = {"x": "continuous", "y": "continuous", "n": "integer", "c": "categorical", "b": "boolean"}


@pytest.fixture(autouse=True)
def one_openmp_thread():
    # Histogram gradient boosting spins OpenMP threads; on a shared 2-core machine they wait on
    # each other for seconds per fit. One thread gives the same trees (the seed fixes them).
    with threadpool_limits(1, "openmp"):
        yield


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return train_table_run(tmp_path_factory.mktemp("table"))


@pytest.fixture(scope="module")
def image_run(tmp_path_factory, tiny_config, make_data):
    data = make_data(n_train=64, n_eval=32)
    out = tmp_path_factory.mktemp("image") / "run"
    train(tiny_config("train.epochs=1"), out, dataset=data, log=lambda msg: None)
    return load_run(out, dataset=data)


def mean_imputer(calls: list):
    """A stand-in for impute_rows: each missing cell gets its column's mean (numbers) or most
    frequent value (the rest) over the observed cells; records the tables it was given."""

    def impute(run, df, multiple=None, num_samples=1000, draws=100, seed=0):
        calls.append({"df": df.copy(), "num_samples": num_samples, "draws": draws, "seed": seed})
        out = df.copy()
        for name in df.columns:
            col = df[name]
            fill = col.mean() if name in ("x", "y", "n") else col.dropna().mode().iloc[0]
            out[name] = col.where(col.notna(), fill)
        return out

    return impute


@pytest.fixture
def stand_in(monkeypatch):
    # A column-mean imputer in the engine's place: the group's own logic (which cells it hides, how
    # it scores them) is checked against known fills; the engine has its own tests
    # (tests/sample/test_impute.py) and runs in the group in tests/tables.
    calls: list = []
    monkeypatch.setattr(sample_rows, "impute_rows", mean_imputer(calls))
    return calls


def test_a_table_run_adds_the_table_group_and_its_figures_match_the_library(run, stand_in):
    result = evaluate(run, "test", 5, write=False, seed=3)
    assert result["metrics"] == ["likelihood", "latent", "table"] and "skipped" not in result
    _, frames = read_splits(run.config.data)
    train_rows, test_rows = frames["train"], frames["test"]
    synth = synthesize(run, len(train_rows), seed=3)  # as many as the training rows, seeded by evaluate's seed
    assert result["table_rows_synthetic"] == len(train_rows) and result["table_rows_real"] == len(test_rows)
    q = quality_score(test_rows, synth, KINDS)
    # The same deterministic computation on the same rows: equal up to float summation order.
    assert result["quality_score"] == pytest.approx(q["score"], rel=1e-12)
    assert result["column_shapes"] == pytest.approx(q["column_shapes"], rel=1e-12)
    assert result["column_pair_trends"] == pytest.approx(q["column_pair_trends"], rel=1e-12)
    assert result["column_shapes_per_column"] == pytest.approx(q["per_column"], rel=1e-12)
    # every table is under MAX_ROWS, so no subsampling: the functions see the whole tables
    ml = ml_efficacy(synth, train_rows, test_rows, "b", KINDS, seed=3)
    assert result["ml_efficacy_target"] == "b"  # no label column: the last categorical or boolean one
    assert {k: result[f"ml_efficacy_{k}"] for k in ml} == pytest.approx(ml, rel=1e-12)
    d = distance_to_closest_record(synth, train_rows, test_rows, KINDS, seed=3)
    base = distance_to_closest_record(test_rows, train_rows, test_rows, KINDS, seed=3)
    assert result["dcr_synthetic_train_median"] == pytest.approx(d["dcr_train_median"], rel=1e-12)
    assert result["dcr_synthetic_holdout_p5"] == pytest.approx(d["dcr_holdout_p5"], rel=1e-12)
    assert result["dcr_share_closer_to_train"] == pytest.approx(d["share_closer_to_train"], rel=1e-12)
    assert result["dcr_holdout_train_median"] == pytest.approx(base["dcr_train_median"], rel=1e-12)
    assert result["dcr_median_ratio"] == pytest.approx(d["dcr_train_median"] / base["dcr_train_median"], rel=1e-12)
    assert 0 < result["imputation_hidden_cells"] and result["imputation_rows"] == len(test_rows)


def test_imputation_hides_a_fifth_of_the_observed_cells_and_scores_them(run, stand_in):
    result = evaluate(run, "test", 5, write=False, metrics=["table"], seed=1)
    (call,) = stand_in
    _, frames = read_splits(run.config.data)
    true = frames["test"]
    given = call["df"]
    hidden = given.isna().to_numpy() & true.notna().to_numpy()  # what the group hid (not what was missing)
    assert hidden.sum() == result["imputation_hidden_cells"] == round(0.2 * true.notna().to_numpy().sum())
    assert (call["num_samples"], call["seed"]) == (tg.IMPUTE_SAMPLES, 1)
    filled = mean_imputer([])(run, given)
    expected = imputation_error(true, filled, hidden, KINDS)
    assert result["imputation_mean_rmse"] == pytest.approx(expected["mean_rmse"], rel=1e-12)
    assert result["imputation_mean_accuracy"] == pytest.approx(expected["mean_accuracy"], rel=1e-12)
    # and an independent figure: the RMSE of x, by hand, from the cells hidden in x
    m = hidden[:, list(true.columns).index("x")]
    fill = given["x"].mean()
    rmse = math.sqrt(float(np.mean((true["x"].to_numpy()[m] - fill) ** 2)))
    assert result["imputation_per_column"]["x"]["rmse"] == pytest.approx(rmse, rel=1e-12)


def test_hide_cells_hides_observed_cells_completely_at_random():
    df = mixed_table(200)
    columns = ["x", "y", "c", "b"]  # not n: a column left alone stays whole
    observed = df[columns].notna().to_numpy().sum()
    counts = np.zeros(df.shape)
    draws = 400
    for seed in range(draws):
        hidden, mask = tg.hide_cells(df, columns, 0.2, np.random.default_rng(seed))
        m = mask.to_numpy()
        assert m.sum() == round(0.2 * observed)
        assert not m[:, list(df.columns).index("n")].any() and not (m & df.isna().to_numpy()).any()
        assert hidden.isna().to_numpy()[m].all()
        assert hidden.where(~mask, df).astype(object).equals(df.astype(object))  # the other cells as they were
        counts += m
    share = counts[:, [0, 3, 4]] / draws  # columns x, c, b: every cell observed
    # Each observed cell is hidden with probability 0.2 (k of M without replacement), so its count
    # is Binomial(400, 0.2): mean 80, sd 8. Over 600 cells the mean share is within 0.2 +- 0.0017
    # (1 sd of the mean), and no cell strays past 6 sd (0.12 in share) but with odds ~1e-6.
    assert share.mean() == pytest.approx(0.2, abs=0.01)
    assert np.abs(share - 0.2).max() < 0.12
    a, _ = tg.hide_cells(df, columns, 0.2, np.random.default_rng(7))
    b, _ = tg.hide_cells(df, columns, 0.2, np.random.default_rng(7))
    assert a.equals(b)  # seeded


def _fake_run(df: pd.DataFrame, label: str | None = None, conditional: bool = False):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        codec = TableCodec.fit(df, label=label)
    return types.SimpleNamespace(codec=codec, model=types.SimpleNamespace(traits=types.SimpleNamespace(conditional=conditional)))


def test_the_target_is_the_label_else_the_last_category_else_the_last_column():
    df = mixed_table(100)
    assert tg.choose_target(_fake_run(df))[0] == "b"
    assert tg.choose_target(_fake_run(df, label="c", conditional=True))[0] == "c"
    # an unconditional model does not generate the label: the last category it does generate
    assert tg.choose_target(_fake_run(df, label="c"))[0] == "b"
    assert tg.choose_target(_fake_run(df[["x", "y", "n"]]))[0] == "n"
    target, why = tg.choose_target(_fake_run(df[["x"]]))
    assert target is None and "1 scored column" in why
    assert tg.choose_target(_fake_run(df), "x") == ("x", "given")
    with pytest.raises(ConfigError, match=r"'cc' is not a column .*did you mean 'c'"):
        tg.choose_target(_fake_run(df), "cc")
    with pytest.raises(ConfigError, match="the label column, which this unconditional model does not generate"):
        tg.choose_target(_fake_run(df, label="c"), "c")


def test_a_numeric_target_is_a_regression(run, stand_in):
    result = evaluate(run, "test", 5, write=False, metrics=["table"], target="y")
    assert result["ml_efficacy_target"] == "y" and result["ml_efficacy_task"] == "regression"
    assert result["ml_efficacy_metric"] == "r2"


def test_the_training_split_has_no_held_out_figures(run, stand_in):
    result = evaluate(run, "train", 5, write=False, metrics=["table"], limit=50)
    assert "held-out" in result["ml_efficacy_skipped"] and "held-out" in result["dcr_skipped"]
    assert "ml_efficacy_ratio" not in result and "dcr_median_ratio" not in result


def test_limit_takes_the_rows_of_the_encoded_subset(run):
    data = run.dataset().split("test")
    subset = limit_split(data, 15, np.random.default_rng(4))
    _, rows = tg.split_rows(run, "test", seed=4, limit=15)
    x, _ = run.codec.encode(rows)
    assert len(rows) == 15 and torch.equal(x, subset.x)


def test_the_group_is_bounded(run, stand_in, monkeypatch):
    monkeypatch.setattr(tg, "MAX_ROWS", 30)
    monkeypatch.setattr(tg, "MAX_IMPUTED_ROWS", 20)
    result = evaluate(run, "test", 5, write=False, metrics=["table"])
    assert result["ml_efficacy_rows"] == {"synthetic": 30, "real": 30, "test": 30}
    assert result["dcr_reference_rows"] == 30 and result["imputation_rows"] == 20


def test_quality_of_real_rows_beats_a_broken_synthesizer(run, stand_in, monkeypatch):
    """Through the group: held-out real rows as the 'synthetic' rows score higher than rows whose
    columns were shuffled apart and whose numbers were shifted."""
    _, frames = read_splits(run.config.data)

    def real_rows(run_, n, seed=0):  # fresh real rows, drawn with replacement from the validation split
        return frames["val"].sample(n, replace=True, random_state=seed).reset_index(drop=True)

    def broken(run_, n, seed=0):
        rows = real_rows(run_, n, seed)
        rng = np.random.default_rng(seed)
        for name in rows.columns:  # each column shuffled on its own: the pairs lose their association
            rows[name] = rows[name].to_numpy()[rng.permutation(n)]
        rows["x"] = rows["x"] + 3.0
        return rows

    monkeypatch.setattr(sample_rows, "synthesize", real_rows)
    good = evaluate(run, "test", 5, write=False, metrics=["table"], target="c")
    monkeypatch.setattr(sample_rows, "synthesize", broken)
    bad = evaluate(run, "test", 5, write=False, metrics=["table"], target="c")
    assert good["quality_score"] > bad["quality_score"] + 0.1
    assert good["column_pair_trends"] > bad["column_pair_trends"]
    assert good["column_shapes_per_column"]["x"] > bad["column_shapes_per_column"]["x"]
    # shuffled apart, c no longer follows x and y: a model trained on such rows predicts it by chance
    assert good["ml_efficacy_synthetic"] > bad["ml_efficacy_synthetic"] + 0.2


def test_image_only_groups_are_skipped_for_a_table_run_with_why(run, tmp_path, stand_in):
    result = evaluate(run, "test", 5, metrics=["latent", "quality", "fidelity"], out=tmp_path, log=lambda line: None)
    assert result["metrics"] == ["latent"] and "model-space" in result["skipped"]["quality"]
    assert "--metrics table" in result["skipped"]["fidelity"] and "squared_error" not in result
    on_disk = json.loads((tmp_path / "eval_test.json").read_text())
    assert on_disk["skipped"] == result["skipped"]
    evaluate(run, "test", 5, metrics=["latent", "quality", "likelihood"], out=tmp_path, log=lambda line: None)
    assert "quality" in json.loads((tmp_path / "eval_test.json").read_text())["skipped"]  # kept through a merge
    with pytest.raises(ConfigError, match="no chosen metric group applies to this run: quality: "):
        evaluate(run, "test", 5, write=False, metrics=["quality"])


def test_non_table_runs_are_unchanged(image_run):
    result = evaluate(image_run, "test", 5, write=False, log=lambda line: None)
    assert result["metrics"] == ["likelihood", "latent"] and "skipped" not in result
    lines: list[str] = []
    result = evaluate(image_run, "test", 5, write=False, metrics=["latent", "table"], log=lines.append)
    assert result["metrics"] == ["latent"] and f"models {image_run.codec.modality} data" in result["skipped"]["table"]
    assert any(line.startswith("evaluate: table skipped: ") for line in lines)
    assert not any(k.startswith(("quality_score", "ml_efficacy", "dcr_", "imputation")) for k in result)
    with pytest.raises(ConfigError, match="no chosen metric group applies"):
        evaluate(image_run, "test", 5, write=False, metrics=["table"])
    with pytest.raises(ConfigError, match="the target column is used by the table metric group only"):
        evaluate(image_run, "test", 5, write=False, metrics=["latent"], target="x")


def test_the_command_line_takes_a_target(run, stand_in, tmp_path):
    code, out, err = cli("evaluate", run.path, "--metrics", "table", "--target", "c", "--out", tmp_path)
    assert code == 0, err
    assert json.loads(out)["ml_efficacy_target"] == "c"
    code, _, err = cli("evaluate", run.path, "--metrics", "table", "--target", "cc", "--out", tmp_path)
    assert code != 0 and "Traceback" not in err and "did you mean 'c'" in err
