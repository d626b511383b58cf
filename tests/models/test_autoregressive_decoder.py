"""The contract carries an autoregressive decoder: a likelihood whose log_prob reads x (teacher
forcing), as a text VAE's decoder will, trains, validates and is evaluated by the unchanged trainer
and NLL estimator. The family here is a VAE whose Bernoulli over D dimensions conditions each
dimension on z and on the dimensions before it (a masked linear map, as in MADE)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import distributions as td
from torch import nn

import vaekit.run
from vaekit.contract import Batch
from vaekit.distributions import Distribution
from vaekit.distributions.base import masked_sum
from vaekit.evaluate import evaluate
from vaekit.models import VAE
from vaekit.train import loop
from vaekit.weights import load_weights

D = 6


class ARBernoulli(Distribution):
    """p(x|z) = prod_d Bernoulli(x_d; sigmoid(a_d(z) + sum_{e<d} W_de x_e))."""

    def __init__(self, base: torch.Tensor, weight: torch.Tensor) -> None:
        self.base, self.weight = base, weight  # (*lead, D) from z; (D, D) strictly lower triangular

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.base + x.to(self.base.dtype) @ torch.tril(self.weight, -1).T  # x (B, D) broadcasts over samples

    def log_prob(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        logits = self.logits(x)  # teacher forcing: the true x_<d feeds dimension d
        return masked_sum(x * logits - F.softplus(logits), mask, 1)

    @property
    def mode(self) -> torch.Tensor:
        x = torch.zeros_like(self.base)
        for d in range(x.shape[-1]):  # one dimension at a time, each from the ones before
            x[..., d] = (self.logits(x)[..., d] > 0).to(x.dtype)
        return x


class ARVAE(VAE):
    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, **kw)
        self.ar = nn.Parameter(torch.zeros(D, D))

    def decode(self, z, y=None) -> ARBernoulli:
        return ARBernoulli(self.decoder(z).float(), self.ar)


def test_a_likelihood_that_reads_x_matches_its_definition():
    g = torch.Generator().manual_seed(0)
    base, weight = torch.randn(3, D, generator=g), torch.randn(D, D, generator=g)
    x = torch.bernoulli(torch.full((3, D), 0.5), generator=g)
    dist = ARBernoulli(base, weight)
    by_hand = torch.zeros(3)
    for d in range(D):  # each dimension's Bernoulli given the ones before it
        logit = base[:, d] + (x[:, :d] * weight[d, :d]).sum(-1)
        by_hand += td.Bernoulli(logits=logit).log_prob(x[:, d])
    torch.testing.assert_close(dist.log_prob(x), by_hand)
    assert dist.mode.shape == (3, D)


def test_the_trainer_trains_and_evaluates_an_autoregressive_decoder(tmp_path, make_data, tiny_config, monkeypatch):
    def build(config, shape, num_classes=None):
        return ARVAE(config, tuple(shape), num_classes)

    monkeypatch.setattr(loop, "build_model", build)
    monkeypatch.setattr(vaekit.run, "build_model", build)
    data = make_data(n_train=256, n_eval=64, shape=(D,))
    run = loop.train(tiny_config("train.epochs=6", "train.lr=0.01"), tmp_path / "run", dataset=data, log=lambda m: None)
    records = run.metrics()
    assert records[-1]["val_elbo"] > records[0]["val_elbo"]  # it learns
    assert float(load_weights(run.path / "model.safetensors")["ar"].abs().max()) > 0.01  # through x_<d too
    result = evaluate(run, "test", 50, write=False)  # the importance-sampled NLL through the same log_prob
    assert 0 < result["nll"] <= -result["elbo"]  # L_50 at least the ELBO (0.04 nats apart here, seeded)
    terms = run.model(Batch(data.test.x[:4]))
    assert terms.recon.shape == (4,) and terms.kl.shape == (4,)
