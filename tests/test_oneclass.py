"""The one-class protocol (`vaekit oneclass`): tiny runs on the built-in digits set."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from vaekit.evaluate.elbo import per_example_elbo
from vaekit.leaderboard.oneclass import mean_auroc, one_class
from vaekit.run import load_run

from cli_helpers import cli

DIGITS = str(Path(__file__).parents[1] / "configs" / "digits.yaml")
QUICK = ["train.batch_size=50", "train.lr=2e-3", "model.encoder.hidden=[64]", "model.decoder.hidden=[64]",
         "train.progress=false", "train.sample_grid=0"]


def quiet(msg: str) -> None:
    pass


@pytest.fixture(scope="module")
def two_classes(tmp_path_factory):
    out = tmp_path_factory.mktemp("oneclass")
    results = one_class(DIGITS, classes=[0, 1], budget="8ep", out=out, overrides=QUICK, log=quiet)
    return out, results


def test_each_class_trains_on_itself_alone_and_is_scored_on_the_whole_test_split(two_classes):
    out, results = two_classes
    assert [r.normal for r in results] == [0, 1] and all(r.status == "trained" for r in results)
    for r in results:
        run = load_run(out / f"class-{r.normal}")
        data = run.dataset()
        assert set(data.train.y.tolist()) == {r.normal} and set(data.val.y.tolist()) == {r.normal}
        assert len(set(data.test.y.tolist())) == 10 and r.num_examples == len(data.test)
        # The figures against scikit-learn on scores computed here: -ELBO, anomalies positive.
        scores = -per_example_elbo(run.model, data.test.x, run.config.train.eval_batch_size, seed=0)
        anomalous = (data.test.y != r.normal).numpy()
        assert r.num_anomalies == anomalous.sum()
        assert r.auroc == pytest.approx(roc_auc_score(anomalous, scores.numpy()), abs=1e-9)
        assert r.auprc == pytest.approx(average_precision_score(anomalous, scores.numpy()), abs=1e-9)
    assert mean_auroc(results) == pytest.approx((results[0].auroc + results[1].auroc) / 2)
    # A model of zeros, however briefly trained, finds the other digits less likely than zeros.
    assert results[0].auroc > 0.6


def test_the_tables_hold_every_class_and_the_mean(two_classes):
    out, results = two_classes
    table = (out / "oneclass.md").read_text()
    assert f"{results[0].auroc:.4f}" in table and "**mean**" in table
    stored = json.loads((out / "oneclass.json").read_text())
    assert stored["mean_auroc"] == pytest.approx(mean_auroc(results)) and len(stored["classes"]) == 2
    assert (out / "oneclass.csv").read_text().splitlines()[0].startswith("normal,status")


def test_a_second_call_reuses_complete_runs_and_their_scores(two_classes):
    out, results = two_classes
    weights = (out / "class-0" / "model.safetensors").stat().st_mtime_ns
    again = one_class(DIGITS, classes=[0], budget="8ep", out=out, overrides=QUICK, log=quiet)
    assert again[0].status == "reused" and again[0].auroc == results[0].auroc
    assert (out / "class-0" / "model.safetensors").stat().st_mtime_ns == weights


def test_a_failing_class_gets_a_row_and_the_others_go_on(tmp_path, monkeypatch):
    oc = importlib.import_module("vaekit.leaderboard.oneclass")  # `vaekit.leaderboard` is also a function's name
    real = oc.train_or_reuse

    def flaky(config, run_dir, **kw):
        if config.data.classes == (1,):
            raise RuntimeError("boom")
        return real(config, run_dir, **kw)

    monkeypatch.setattr(oc, "train_or_reuse", flaky)
    results = one_class(DIGITS, classes=[0, 1], budget="1ep", out=tmp_path, overrides=QUICK, log=quiet)
    assert results[0].status == "trained" and results[0].auroc is not None
    assert results[1].status == "failed" and results[1].error == "RuntimeError: boom" and results[1].auroc is None
    assert "RuntimeError: boom" in (tmp_path / "oneclass.md").read_text()


def test_the_nll_score_is_the_importance_sampled_one(two_classes):
    out, _ = two_classes
    (result,) = one_class(DIGITS, classes=[1], budget="8ep", out=out, overrides=QUICK, log=quiet, score="nll",
                          importance_samples=5)
    stored = json.loads((out / "class-1" / "oneclass_nll_k5.json").read_text())
    assert (out / "class-1" / "oneclass_elbo.json").is_file()  # the other score's figures are kept
    assert stored["score"] == "nll" and stored["importance_samples"] == 5 and result.auroc == stored["auroc"]



def test_the_cli_runs_the_protocol_in_one_command(tmp_path):
    code, out, err = cli("oneclass", DIGITS, "--classes", "3", "--budget", "1ep", "--out", tmp_path,
                         *(f"--{o}" for o in QUICK))
    assert code == 0, err
    assert "| 3 |" in out and str(tmp_path / "oneclass.md") in out


@pytest.mark.parametrize("args, message", [(["--classes", "12"], "class 12 cannot be the normal class"),
                                           (["--score", "nll", "-k", "0"], "--importance-samples: must be at least 1"),
                                           (["--budget", "soon"], "budget 'soon'")])
def test_bad_arguments_exit_2_with_one_line(tmp_path, args, message):
    code, _, err = cli("oneclass", DIGITS, "--out", tmp_path, *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
