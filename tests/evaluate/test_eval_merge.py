"""eval_SPLIT.json accumulates metric groups measured on the same weights, says what each group
measured, can be written elsewhere, and the runner reports each group's progress on its log."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from vaekit.errors import InputError, OutputError
from vaekit.evaluate import evaluate
from vaekit.run import load_run
from vaekit.train.loop import train

LIKELIHOOD_KEYS = {"importance_samples", "elbo", "nll", "nll_bits_per_dim"}
FIDELITY_KEYS = {"squared_error", "abs_error", "ssim"}


def quiet(msg: str) -> None:
    pass


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_config, make_data):
    out = tmp_path_factory.mktemp("merge") / "run"
    data = make_data(n_train=128, n_eval=48)
    train(tiny_config("train.epochs=2"), out, dataset=data, log=quiet)
    return out, data


@pytest.fixture
def run(trained, tmp_path):
    """A fresh copy of the run (its own eval files) for each test."""
    import shutil

    src, data = trained
    return load_run(shutil.copytree(src, tmp_path / "run"), dataset=data)


def stored(run, split="test") -> dict:
    return json.loads((run.path / f"eval_{split}.json").read_text())


def test_a_later_group_keeps_the_figures_measured_before(run):
    first = evaluate(run, "test", 7, log=quiet)
    second = evaluate(run, "test", metrics=["fidelity"], log=quiet)
    assert second["metrics"] == ["fidelity"] and "nll" not in second  # the call returns its own figures
    merged = stored(run)
    assert merged["metrics"] == ["likelihood", "latent", "fidelity"]
    for key in LIKELIHOOD_KEYS | {"active_units", "mutual_information"}:
        assert merged[key] == first[key], key  # copied through JSON: float reprs round-trip exactly
    for key in FIDELITY_KEYS:
        assert merged[key] == second[key], key
    assert set(merged["measured"]) == {"likelihood", "latent", "fidelity"}
    assert merged["measured"]["likelihood"]["importance_samples"] == 7
    assert merged["measured"]["likelihood"]["at"] == first["measured"]["likelihood"]["at"]
    assert merged["num_examples"] == 48 and merged["split"] == "test"


def test_measuring_a_group_again_replaces_only_that_group(run):
    evaluate(run, "test", 7, metrics=["likelihood", "fidelity"], log=quiet)
    fidelity = stored(run)["squared_error"]
    again = evaluate(run, "test", 3, metrics=["likelihood"], log=quiet)
    merged = stored(run)
    assert merged["importance_samples"] == 3 and merged["nll"] == again["nll"]
    assert merged["measured"]["likelihood"]["importance_samples"] == 3
    assert merged["squared_error"] == fidelity and merged["metrics"] == ["likelihood", "fidelity"]


def test_figures_of_other_weights_are_not_kept(run):
    evaluate(run, "test", 7, log=quiet)
    model = dataclasses.replace(run, model=_perturbed(run.model))
    evaluate(model, "test", metrics=["fidelity"], log=quiet)
    merged = stored(run)
    assert merged["metrics"] == ["fidelity"] and "nll" not in merged and set(merged["measured"]) == {"fidelity"}


def test_another_split_or_a_damaged_file_starts_afresh(run, tmp_path):
    evaluate(run, "test", 7, metrics=["likelihood"], log=quiet)
    other = tmp_path / "elsewhere.json"
    evaluate(run, "val", metrics=["fidelity"], out=other, log=quiet)
    (run.path / "eval_test.json").write_text('{"split": "test", "nll": 1')  # cut off mid-write
    evaluate(run, "test", metrics=["fidelity"], log=quiet)
    assert stored(run)["metrics"] == ["fidelity"]
    evaluate(run, "test", 7, metrics=["likelihood"], out=other, log=quiet)  # a val file is not merged into
    assert json.loads(other.read_text())["metrics"] == ["likelihood"]


def test_groups_measured_on_different_subsets_give_no_single_count(run):
    evaluate(run, "test", 7, metrics=["likelihood"], log=quiet)
    evaluate(run, "test", metrics=["fidelity"], limit=20, log=quiet)
    merged = stored(run)
    assert merged["num_examples"] is None  # no one count is true of every figure
    assert merged["measured"]["likelihood"]["num_examples"] == 48 and merged["measured"]["likelihood"]["limit"] is None
    assert merged["measured"]["fidelity"]["num_examples"] == 20 and merged["measured"]["fidelity"]["limit"] == 20


def test_out_writes_elsewhere_and_merges_there(run, tmp_path):
    target = tmp_path / "figures" / "mine.json"
    evaluate(run, "test", 7, metrics=["likelihood"], out=target, log=quiet)
    evaluate(run, "test", metrics=["fidelity"], out=target, log=quiet)
    assert json.loads(target.read_text())["metrics"] == ["likelihood", "fidelity"]
    assert not (run.path / "eval_test.json").exists()
    folder = tmp_path / "folder"
    folder.mkdir()
    evaluate(run, "val", metrics=["fidelity"], out=folder, log=quiet)
    assert json.loads((folder / "eval_val.json").read_text())["split"] == "val"
    with pytest.raises(InputError, match="write=False"):
        evaluate(run, "test", out=target, write=False, log=quiet)
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OutputError, match="choose another --out"):
        evaluate(run, "test", metrics=["fidelity"], out=blocker / "x.json", log=quiet)


def test_each_group_says_when_it_starts_and_ends_on_the_log_only(run, capsys):
    lines: list[str] = []
    evaluate(run, "test", 7, metrics=["likelihood", "fidelity"], limit=10, log=lines.append)
    assert lines[0] == "evaluate: likelihood (K=7, 10 test examples, a seeded subset (limit=10)) ..."
    assert lines[1].startswith("evaluate: likelihood done in ") and lines[1].endswith(" s")
    assert lines[2] == "evaluate: fidelity (10 test examples, a seeded subset (limit=10)) ..."
    assert lines[3].startswith("evaluate: fidelity done in ")
    assert lines[4].startswith("evaluate: wrote ") and len(lines) == 5
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    evaluate(run, "test", metrics=["fidelity"], limit=10, write=False)  # the default log is stderr
    captured = capsys.readouterr()
    assert captured.out == "" and "evaluate: fidelity done in" in captured.err


def _perturbed(model: torch.nn.Module) -> torch.nn.Module:
    import copy

    other = copy.deepcopy(model)
    with torch.no_grad():
        next(other.parameters()).add_(0.01)
    return other
