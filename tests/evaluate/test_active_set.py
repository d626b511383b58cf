"""The latent report: the active units counted and the ones named are the same set, and I(x; z)
is reported clipped at 0 (which it never is below) beside its raw estimate."""

from __future__ import annotations

import torch
from torch import nn

from vaekit.evaluate import runner
from vaekit.evaluate.latents import active_dims, collapse_warning
from vaekit.evaluate.runner import evaluate
from vaekit.models import build_model
from vaekit.run import Run

ACTIVE = [1, 4]  # the dimensions whose means follow the input
OFFSET = [0, 2, 3]  # constant means far from 0: a large KL, yet the same for every input


def controlled_run(tiny_config, tiny_data, tmp_path) -> Run:
    """A model with 8 latent dimensions whose posterior means depend on x in ACTIVE only; the
    OFFSET dimensions sit at a constant mean of 3 (KL 4.5 nats each, no information)."""
    config = tiny_config("model.latent_dim=8")
    torch.manual_seed(0)
    model = build_model(config.model, tiny_data.shape)
    last = [m for m in model.encoder.modules() if isinstance(m, nn.Linear)][-1]  # (2 * 8, hidden): mu, then logvar
    with torch.no_grad():
        keep = last.weight[ACTIVE].clone() * 10
        last.weight.zero_()
        last.bias.zero_()
        last.weight[ACTIVE] = keep
        last.bias[OFFSET] = 3.0
    model.eval()
    return Run(tmp_path, config, model, tiny_data.shape, torch.device("cpu"), tiny_data)


def test_the_count_and_the_list_come_from_the_same_set(tiny_config, tiny_data, tmp_path):
    run = controlled_run(tiny_config, tiny_data, tmp_path)
    result = evaluate(run, "test", metrics=["latent"], write=False, log=lambda line: None)
    assert result["active_dims"] == ACTIVE and result["active_units"] == len(ACTIVE)
    warning = result["collapse_warning"]
    assert "only 2 of 8 latent units are active (dimensions 1, 4;" in warning
    # the constant dimensions carry the most KL, and are still not active
    kl = result["kl_per_dim"]
    assert min(kl[d] for d in OFFSET) > max(kl[d] for d in ACTIVE)


def test_collapse_warning_names_exactly_the_dimensions_it_counts():
    kl = torch.tensor([5.0, 0.0, 5.0, 0.3, 0.0, 0.0])
    note = collapse_warning([3], 6, 1.0, kl)
    assert "only 1 of 6" in note and "(dimensions 3;" in note
    assert "only 2 of 6" in collapse_warning(2, 6, 1.0, kl) and "(dimensions 0, 2;" in collapse_warning(2, 6, 1.0, kl)


def test_active_dims_are_those_active_units_counts():
    mu = torch.zeros(50, 5)
    mu[:, 3] = torch.linspace(-1, 1, 50)  # variance ~0.35 > 0.01
    mu[:, 0] = torch.linspace(-0.05, 0.05, 50)  # variance ~0.0009 < 0.01
    assert active_dims(mu, 0.01) == [3]


def test_mutual_information_is_clipped_at_zero_and_the_raw_estimate_kept(tiny_config, tiny_data, tmp_path, monkeypatch):
    run = controlled_run(tiny_config, tiny_data, tmp_path)
    monkeypatch.setattr(runner, "mutual_information", lambda mu, logvar, generator=None: -0.004)
    result = evaluate(run, "test", metrics=["latent"], write=False, log=lambda line: None)
    assert result["mutual_information"] == 0.0 and result["mutual_information_raw"] == -0.004
    assert "I(x;z) = 0.000 nats" in result["collapse_warning"]  # below MI_COLLAPSED: the collapse wording
    monkeypatch.undo()
    result = evaluate(run, "test", metrics=["latent"], write=False, log=lambda line: None)
    assert result["mutual_information"] == max(0.0, result["mutual_information_raw"])  # the same float
    assert result["mutual_information"] > 0.1  # two dimensions do carry information
