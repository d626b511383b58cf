"""The runner's metric groups: which figures each group adds, that they agree with the library
functions, and the errors for unknown groups and for data sets without factors."""

from __future__ import annotations

import copy
import dataclasses
import math

import numpy as np
import pytest
import torch
from torch import nn

from vaekit.data.load import limit as limit_split
from vaekit.errors import ConfigError
from vaekit.evaluate import evaluate, mig, posterior_moments, reconstruction_errors
from vaekit.evaluate.runner import DEFAULT_METRICS, METRIC_GROUPS
from vaekit.run import load_run
from vaekit.train.loop import train

LIKELIHOOD = {"importance_samples", "elbo", "elbo_stderr", "recon", "kl", "nll", "nll_stderr", "nll_nats_per_dim",
              "nll_bits_per_dim"}
LATENT = {"active_units", "active_dims", "latent_dim", "kl_per_dim", "mutual_information", "mutual_information_raw",
          "collapse_warning"}
COMMON = {"split", "num_examples", "num_dims", "metrics", "seconds", "measured", "weights_sha256"}


@pytest.fixture(scope="module")
def data(make_data):
    return make_data(n_train=256, n_eval=64)


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_config, data):
    out = tmp_path_factory.mktemp("groups") / "run"
    train(tiny_config("train.epochs=8"), out, dataset=data, log=lambda msg: None)
    return load_run(out, dataset=data)


@pytest.fixture(scope="module")
def shapes_run(tmp_path_factory, tiny_config):
    out = tmp_path_factory.mktemp("shapes") / "run"
    config = tiny_config("data.name=shapes", "data.limit=300", "train.epochs=1", "train.batch_size=64")
    train(config, out, log=lambda msg: None)
    return load_run(out)


def test_the_groups_are_named_in_one_dict():
    assert list(METRIC_GROUPS)[:4] == ["likelihood", "latent", "fidelity", "disentanglement"]  # then any added later
    assert DEFAULT_METRICS == ("likelihood", "latent")


def test_the_default_is_likelihood_and_latent(run, data):
    result = evaluate(run, "test", 10, write=False)
    assert set(result) == COMMON | LIKELIHOOD | LATENT
    assert result["metrics"] == ["likelihood", "latent"]
    assert len(result["kl_per_dim"]) == result["latent_dim"] == 4 and all(k >= 0 for k in result["kl_per_dim"])
    assert 0.1 < result["mutual_information"] <= math.log(len(data.test.x))  # a trained model uses its codes
    assert result["active_units"] == 4 and result["collapse_warning"] is None
    # the model's prior is the standard normal and its KL analytic, so the two agree
    assert sum(result["kl_per_dim"]) == pytest.approx(result["kl"], rel=1e-5)


def test_each_group_adds_only_its_own_figures(run, data):
    fidelity = evaluate(run, "test", metrics=["fidelity"], write=False)
    assert set(fidelity) == COMMON | {f"{k}{s}" for k in ("squared_error", "abs_error", "bce", "ssim") for s in ("", "_stderr")}
    errors = reconstruction_errors(run.model, data.test.x)
    for name, values in errors.items():
        assert fidelity[name] == pytest.approx(float(values.mean()))
        assert fidelity[f"{name}_stderr"] == pytest.approx(float(values.std()) / math.sqrt(len(values)))
    assert 0 < fidelity["ssim"] < 1
    latent = evaluate(run, "test", metrics="latent,fidelity", write=False)  # a string lists them with commas
    assert set(latent) == COMMON | LATENT | set(fidelity) - COMMON and latent["metrics"] == ["latent", "fidelity"]
    assert evaluate(run, "test", metrics=["fidelity", "latent"], write=False)["metrics"] == ["latent", "fidelity"]


def test_unknown_groups_are_refused_with_the_valid_names(run):
    with pytest.raises(ConfigError, match="'laten' \\(did you mean 'latent'\\?\\); choose from likelihood, latent, "
                                          "fidelity, disentanglement"):
        evaluate(run, metrics=["laten"])
    with pytest.raises(ConfigError, match="choose from likelihood, latent, fidelity, disentanglement"):
        evaluate(run, metrics=["bogus"])
    with pytest.raises(ConfigError, match="no metric group"):
        evaluate(run, metrics=[])


def test_disentanglement_needs_a_data_set_with_factors(run):
    with pytest.raises(ConfigError, match="'tiny' has none.*data.name=shapes"):
        evaluate(run, metrics=["likelihood", "disentanglement"])


def test_disentanglement_on_shapes(shapes_run):
    result = evaluate(shapes_run, "test", metrics=["disentanglement", "latent"], limit=100, write=False)
    assert set(result) == COMMON | LATENT | {"mig", "factorvae_score"} and result["num_examples"] == 100
    assert 0 <= result["mig"] <= 1 and 0 <= result["factorvae_score"] <= 1
    # the limited subset keeps each image's own factors
    sub = limit_split(shapes_run.dataset().test, 100, np.random.default_rng(0))
    mu, _ = posterior_moments(shapes_run.model, sub.x)
    assert result["mig"] == pytest.approx(mig(mu, sub.factors))


def test_a_model_whose_codes_ignore_the_input_gets_the_collapse_warning(run):
    model = copy.deepcopy(run.model)
    last = [m for m in model.encoder.modules() if isinstance(m, nn.Linear)][-1]
    with torch.no_grad():
        last.weight.zero_()
    collapsed = dataclasses.replace(run, model=model)
    result = evaluate(collapsed, "test", metrics=["latent"], write=False)
    assert result["active_units"] == 0 and abs(result["mutual_information"]) < 1e-6
    assert "posterior collapse" in result["collapse_warning"] and "objective.free_bits" in result["collapse_warning"]


def test_a_wae_has_no_bound_and_a_point_mass_no_spread(tmp_path, tiny_config, data):
    """A WAE's likelihood group is its reconstruction term alone (no NLL: it defines no bound);
    point-mass posteriors (WAE, VQ-VAE) have active units but no KL per dimension or I(x; z)."""
    out = tmp_path / "wae"
    train(tiny_config("model.name=wae", "train.epochs=1"), out, dataset=data, log=lambda msg: None)
    result = evaluate(load_run(out, dataset=data), "test", 10, write=False)
    assert result["bound"] is False and "nll" not in result and "elbo" not in result and math.isfinite(result["recon"])
    assert result["kl_per_dim"] is None and result["mutual_information"] is None
    assert 0 <= result["active_units"] <= result["latent_dim"] == 4
