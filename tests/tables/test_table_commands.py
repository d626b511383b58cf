"""The commands on a table run: rows out as CSV with the table's header and types, drawn from
p(x|z); bad input is one line and exit code 2."""

from __future__ import annotations

import pandas as pd
import pytest

from cli_helpers import cli, error_line
from vaekit.sample.rows import synthesize
from vaekit.errors import InputError


def test_synthesize_writes_rows_with_the_tables_header_types_and_categories(table_run, tmp_path):
    code, out, err = cli("synthesize", table_run.path, "-n", 300, "--out", tmp_path / "s.csv", "--seed", 3)
    assert code == 0, err
    rows = pd.read_csv(out.strip())
    assert list(rows.columns) == ["age", "income", "city", "owner", "children"]  # the id column is left out
    assert len(rows) == 300 and not rows.isna().any().any()
    assert set(rows["city"]) <= {"Paris", "Lyon", "Nice"} and rows["owner"].dtype == bool
    assert rows["age"].dtype.kind == "i" and rows["age"].between(18, 79).all()  # integers within the training range
    # drawn from p(x|z), not its mean: the categories keep their spread (a mean's argmax would
    # give the most probable city nearly everywhere)
    assert rows["city"].nunique() == 3 and rows["city"].value_counts(normalize=True).max() < 0.9
    again = cli("synthesize", table_run.path, "-n", 300, "--out", tmp_path / "t.csv", "--seed", 3)[1]
    assert pd.read_csv(again.strip()).equals(rows)  # the same seed, the same rows


def test_sample_and_reconstruct_write_csv_for_a_table_run(table_run, tmp_path):
    code, out, err = cli("sample", table_run.path, "-n", 5, "--out", tmp_path / "samples")
    assert code == 0, err and out.strip().endswith("samples.csv")
    assert len(pd.read_csv(out.strip())) == 5
    code, out, err = cli("reconstruct", table_run.path, "-n", 4, "--out", tmp_path / "r.csv")
    assert code == 0, err
    assert len(pd.read_csv(out.strip())) == 8  # each row, then its reconstruction
    code, _, err = cli("sample", table_run.path, "--out", tmp_path / "x.npy")
    assert code == 2 and "table rows are written as CSV" in error_line(err)


@pytest.mark.parametrize("where, message", [
    (["town=Paris"], "'town' is not a modelled column of the table"),
    (["city"], "write it as COLUMN=VALUE"),
    (["city=Paris", "city=Lyon"], "names 'city' twice"),
    (["age=old"], "column 'age' holds numbers, not 'old'"),
    (["city=Brest"], "Brest"),
])
def test_bad_conditions_are_one_line(table_run, tmp_path, where, message):
    args = [a for w in where for a in ("--where", w)]
    code, _, err = cli("synthesize", table_run.path, "-n", 5, "--out", tmp_path / "s.csv", *args)
    assert code == 2 and message in error_line(err)


def test_synthesize_refuses_runs_that_are_not_tables(table_run, tmp_path):
    with pytest.raises(InputError, match="expects a table run"):
        synthesize(table_run.model, 5)


def test_where_fixes_cells_and_draws_the_rest_given_them(table_run, tmp_path):
    code, out, err = cli("synthesize", table_run.path, "-n", 200, "--where", "city=Nice", "--where", "age=40",
                         "--out", tmp_path / "w.csv")
    assert code == 0, err
    rows = pd.read_csv(out.strip())
    assert (rows["city"] == "Nice").all() and (rows["age"] == 40).all()
    assert rows["income"].nunique() > 50  # the other cells are drawn, not copied


def test_impute_fills_missing_cells_and_keeps_the_observed_ones(table_run, table_csv, tmp_path):
    code, out, err = cli("impute", table_run.path, table_csv, "--out", tmp_path / "f.csv", "--samples", 50,
                         "--draws", 10)
    assert code == 0, err
    given, filled = pd.read_csv(table_csv), pd.read_csv(out.strip())
    assert given.isna().any().any() and not filled.isna().any().any()
    assert list(filled.columns) == list(given.columns)  # the left-out id column passes through
    observed = given.notna()
    assert (filled[observed] == given[observed]).sum().sum() == observed.sum().sum()
    assert set(filled["city"]) <= {"Paris", "Lyon", "Nice"}
    code, out, err = cli("impute", table_run.path, table_csv, "--out", tmp_path / "m.csv", "--multiple", 2,
                         "--samples", 20)
    assert code == 0, err
    paths = out.split()
    assert [p.rsplit("/", 1)[-1] for p in paths] == ["m-1.csv", "m-2.csv"]
    a, b = (pd.read_csv(p) for p in paths)
    assert not a.equals(b)  # two draws differ where cells were missing


def test_impute_bad_tables_are_one_line(table_run, table_csv, tmp_path):
    other = pd.read_csv(table_csv).rename(columns={"city": "town"})
    other.to_csv(tmp_path / "other.csv", index=False)
    code, _, err = cli("impute", table_run.path, tmp_path / "other.csv", "--out", tmp_path / "o.csv")
    assert code == 2 and "missing 'city'; unknown 'town'" in error_line(err)
    (tmp_path / "empty.csv").write_text("age,income,city,owner,children\n")
    code, _, err = cli("impute", table_run.path, tmp_path / "empty.csv", "--out", tmp_path / "o.csv")
    assert code == 2 and "has a header but no rows" in error_line(err)
    code, _, err = cli("impute", table_run.path, tmp_path / "nowhere.csv", "--out", tmp_path / "o.csv")
    assert code == 2 and "nowhere.csv" in error_line(err)
    new = pd.read_csv(table_csv).head(20)
    new.loc[0, "city"] = "Brest"  # unseen in training: imputed as a missing cell, with a warning
    new.to_csv(tmp_path / "new.csv", index=False)
    code, out, err = cli("impute", table_run.path, tmp_path / "new.csv", "--out", tmp_path / "n.csv", "--samples", 20)
    assert code == 0 and "Brest" in err and "warning" in err
    assert pd.read_csv(out.strip())["city"][0] in {"Paris", "Lyon", "Nice"}


def test_a_conditional_model_on_a_label_column(table_csv, tmp_path):
    import vaekit
    from table_helpers import table_config

    config = table_config(table_csv, name="cvae")
    config = vaekit.parse_config({**vaekit.config.to_dict(config),
                                  "data": {"name": "table", "path": str(table_csv), "label_column": "owner",
                                           "columns": {"id": "exclude"}}})
    run = vaekit.train(config, tmp_path / "cvae")
    rows = synthesize(run, 50, where={"owner": "True"})
    assert rows["owner"].all() and list(rows.columns) == ["age", "income", "city", "owner", "children"]
    mixed = synthesize(run, 400, seed=1)  # labels drawn in their training proportions (about 40% owners)
    assert 0.25 < mixed["owner"].mean() < 0.55
    with pytest.raises(InputError, match="fix it too"):
        synthesize(run, 5, where={"city": "Nice"})
    both = synthesize(run, 20, where={"city": "Nice", "owner": False})
    assert (both["city"] == "Nice").all() and not both["owner"].any()


def test_evaluate_adds_the_table_figures_with_the_real_imputation(table_run, tmp_path):
    import json
    import math

    code, out, err = cli("evaluate", table_run.path, "-k", 20, "--out", tmp_path / "e.json")
    assert code == 0, err
    result = json.loads(out)
    assert "table" in result["metrics"] and 0 < result["quality_score"] <= 1
    assert math.isfinite(result["imputation_mean_rmse"]) and 0 <= result["imputation_mean_accuracy"] <= 1
    assert result["imputation_hidden_cells"] > 0 and result["ml_efficacy_target"] == "children"  # the last categorical column
