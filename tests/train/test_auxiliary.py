"""The loop's second optimizer, for parameters a family trains on an objective of its own."""

import pytest
import torch
from torch import nn

import vaekit.run
from vaekit.errors import TrainingError
from vaekit.models import VAE
from vaekit.train import loop
from vaekit.train.checkpoint import load_state
from vaekit.weights import load_weights


class WithAux(VAE):
    """A VAE plus one auxiliary scalar pulled towards 3 by its own loss (per example), which reads
    the encoder's weights detached, as the contract asks: the main parameters must train exactly
    as a plain VAE's do."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.aux = nn.Parameter(torch.zeros(()))

    def auxiliary_parameters(self):
        return [self.aux]

    def forward(self, batch):
        terms = super().forward(batch)
        first = next(self.encoder.parameters()).detach()
        terms.aux = ((self.aux - 3.0) ** 2 + 1e-3 * (first**2).sum()).expand(len(terms.recon))
        return terms


class Leaky(WithAux):
    """An auxiliary loss that reaches the encoder's weights: the step refuses it."""

    def forward(self, batch):
        terms = super().forward(batch)
        terms.aux = terms.aux + 1e3 * (next(self.encoder.parameters()) ** 2).sum()
        return terms


@pytest.fixture
def with_aux(monkeypatch):
    def build(config, data_shape, num_classes=None):
        return WithAux(config, tuple(data_shape), num_classes)

    monkeypatch.setattr(loop, "build_model", build)
    monkeypatch.setattr(vaekit.run, "build_model", build)


def fit(config, out, data, **kw):
    return loop.train(config, out, dataset=data, log=lambda m: None, **kw)


def test_each_loss_reaches_only_its_own_parameters(tmp_path, tiny_data, tiny_config, monkeypatch):
    config = tiny_config("train.epochs=3", "train.lr=0.05")
    plain = fit(config, tmp_path / "plain", tiny_data)
    plain_weights = load_weights(plain.path / "model.safetensors")
    with pytest.MonkeyPatch.context() as mp:
        build = lambda c, s, n=None: WithAux(c, tuple(s), n)  # noqa: E731
        mp.setattr(loop, "build_model", build)
        mp.setattr(vaekit.run, "build_model", build)
        run = fit(config, tmp_path / "aux", tiny_data)
        weights = load_weights(run.path / "model.safetensors")
        state = load_state(run.path / "train_state.pt")
    assert all(torch.equal(plain_weights[k], weights[k]) for k in plain_weights)  # the main model is untouched
    assert 0.5 < float(weights["aux"]) <= 3.0  # the auxiliary parameter learned from its own loss
    assert state["aux_optimizer"] is not None


def test_an_auxiliary_loss_reaching_the_main_parameters_is_refused(tmp_path, tiny_data, tiny_config, monkeypatch):
    build = lambda c, s, n=None: Leaky(c, tuple(s), n)  # noqa: E731
    monkeypatch.setattr(loop, "build_model", build)
    with pytest.raises(TrainingError, match="Leaky's auxiliary loss reaches its main parameters"):
        fit(tiny_config("train.epochs=1"), tmp_path / "run", tiny_data)


def test_resume_restores_the_auxiliary_optimizer(tmp_path, tiny_data, tiny_config, with_aux):
    config = tiny_config("train.epochs=4", "train.lr=0.05")
    whole = fit(config, tmp_path / "whole", tiny_data)

    class StopAt2:
        def on_epoch_end(self, record):
            if record["epoch"] == 2:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(config, tmp_path / "parts", tiny_data, callbacks=[StopAt2()])
    resumed = fit(config, tmp_path / "parts", tiny_data, resume=True)
    a, b = load_weights(whole.path / "model.safetensors"), load_weights(resumed.path / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
