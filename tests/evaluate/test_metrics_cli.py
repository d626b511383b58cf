"""`vaekit evaluate --metrics`: tiny runs on the built-in digits and shapes sets, through the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from torch import nn

from vaekit.run import WEIGHTS, load_run, weights_metadata
from vaekit.weights import save_weights

from cli_helpers import cli

CONFIGS = Path(__file__).parents[2] / "configs"
DIGITS = str(CONFIGS / "digits.yaml")
QUICK = ["--train.epochs=2", "--data.limit=200", "--train.batch_size", "50", "--train.lr=2e-3",
         "--model.encoder.hidden=[64]", "--model.decoder.hidden=[64]", "--train.progress=false", "--train.sample_grid=0"]



@pytest.fixture(scope="module")
def digits_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("metrics-cli") / "run"
    code, _, err = cli("train", DIGITS, "--out", run, *QUICK)
    assert code == 0, err
    return run


def test_default_metrics_add_the_latent_group(digits_run):
    code, out, err = cli("evaluate", digits_run, "-k", "5", "--limit", "40")
    assert code == 0, err
    result = json.loads(out)
    assert result["metrics"] == ["likelihood", "latent"] and result["nll"] > 0
    assert len(result["kl_per_dim"]) == result["latent_dim"] == 8 and result["mutual_information"] > 0
    assert ("vaekit: warning:" in err) == (result["collapse_warning"] is not None)
    assert json.loads((digits_run / "eval_test.json").read_text()) == result


def test_metrics_option_chooses_the_groups(digits_run):
    code, out, err = cli("evaluate", digits_run, "--metrics", "fidelity,latent", "--limit", "30")
    assert code == 0, err
    result = json.loads(out)
    assert result["metrics"] == ["latent", "fidelity"] and "nll" not in result and "importance_samples" not in result
    assert result["squared_error"] > 0 and 0 < result["abs_error"] < 1 and 0 < result["ssim"] < 1
    assert "bce" not in result  # digits are grey, not binary
    code, out, err = cli("evaluate", digits_run, "--metrics", "fidelity", "--metrics", "latent", "--limit", "30")
    assert code == 0, err
    assert json.loads(out)["metrics"] == ["latent", "fidelity"]  # repeating the option adds groups too


@pytest.mark.parametrize("groups, message", [
    ("latent,bogus", "unknown metric group 'bogus'; choose from likelihood, latent, fidelity, disentanglement"),
    ("fidelty", "unknown metric group 'fidelty' (did you mean 'fidelity'?)"),
    ("disentanglement", "data set 'digits' has none; train on one that does (shapes: data.name=shapes)"),
])
def test_bad_groups_are_one_line_errors(digits_run, groups, message):
    code, out, err = cli("evaluate", digits_run, "--metrics", groups, "--limit", "10")
    assert code == 2 and out == ""
    line = err.strip().splitlines()[-1]
    assert line.startswith("vaekit: error: ") and message in line and "Traceback" not in err


def test_the_quality_group_can_sample_from_the_fitted_mixture(digits_run, tmp_path, monkeypatch):
    monkeypatch.setenv("VAEKIT_CACHE_DIR", str(tmp_path))
    code, out, err = cli("evaluate", digits_run, "--metrics", "quality", "--limit", "40", "--sampler", "gmm",
                         "--components", "3")
    assert code == 0, err
    result = json.loads(out)
    assert result["sampler"] == "gmm" and result["sampler_components"] == 3 and result["fd_classifier"] > 0
    code, out, _ = cli("evaluate", digits_run, "--metrics", "quality", "--limit", "40")
    assert json.loads(out)["sampler"] == "prior" and json.loads(out)["fd_classifier"] != result["fd_classifier"]


@pytest.mark.parametrize("args, message", [
    (["--metrics", "latent", "--sampler", "gmm"], "the sampler is used by the quality metric group only"),
    (["--metrics", "quality", "--sampler", "gnm"], "unknown sampler 'gnm' (did you mean 'gmm'?)"),
    (["--metrics", "quality", "--sampler", "gmm", "--components", "0"], "--components: must be at least 1, got 0"),
])
def test_bad_samplers_are_one_line_errors(digits_run, args, message):
    code, out, err = cli("evaluate", digits_run, *args, "--limit", "10")
    assert code == 2 and out == ""
    line = err.strip().splitlines()[-1]
    assert line.startswith("vaekit: error: ") and message in line and "Traceback" not in err


def test_a_collapsed_model_prints_the_warning_on_stderr(digits_run, tmp_path):
    run_dir = Path(shutil.copytree(digits_run, tmp_path / "run"))
    run = load_run(run_dir)
    last = [m for m in run.model.encoder.modules() if isinstance(m, nn.Linear)][-1]
    with torch.no_grad():
        last.weight.zero_()  # the codes no longer depend on the input
    save_weights(run.model, run_dir / WEIGHTS, weights_metadata(run_dir / WEIGHTS))
    code, out, err = cli("evaluate", run_dir, "--metrics", "latent", "--limit", "50")
    assert code == 0, err
    result = json.loads(out)  # stdout stays pure JSON
    assert result["active_units"] == 0 and result["collapse_warning"]
    # stderr: the progress of each group, then the warning
    assert [ln for ln in err.splitlines() if not ln.startswith("evaluate: ")] == [
        f"vaekit: warning: {result['collapse_warning']}"]
    assert "posterior collapse" in err and "objective.warmup_epochs" in err


def test_disentanglement_on_the_shapes_set(tmp_path):
    run = tmp_path / "shapes"
    code, _, err = cli("train", DIGITS, "--out", run, *QUICK, "--data.name=shapes", "--train.epochs=1")
    assert code == 0, err
    code, out, err = cli("evaluate", run, "--metrics", "disentanglement", "--limit", "150")
    assert code == 0, err
    result = json.loads(out)
    assert result["metrics"] == ["disentanglement"] and result["num_examples"] == 150
    assert 0 <= result["mig"] <= 1 and 0 <= result["factorvae_score"] <= 1
