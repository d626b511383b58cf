"""bench/tabular_floor.py: the plain PyTorch VAE that bounds bench/tabular.py's speed-ups, checked
against torch.distributions and against the layer sizes of the model it copies."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from bench_helpers import bench_modules  # noqa: E402


@pytest.fixture(scope="module")
def floor():
    with bench_modules("tabular_floor") as m:
        yield m[0]


def test_like_run_copies_the_layer_sizes(floor):
    model = torch.nn.Module()
    model.encoder = floor.mlp([11, 64, 32, 2 * 5])
    model.decoder = floor.mlp([5, 32, 64, 17])
    plain = floor.like_run(model)
    assert floor.linear_sizes(plain.encoder) == floor.linear_sizes(model.encoder)
    assert floor.linear_sizes(plain.decoder) == floor.linear_sizes(model.decoder)
    model.encoder = floor.mlp([11, 64, 9])  # an odd output cannot be (mu, log-variance)
    with pytest.raises(ValueError, match="MLP encoder"):
        floor.like_run(model)


def test_the_loss_is_the_negative_elbo_of_a_unit_gaussian(floor):
    torch.manual_seed(0)
    vae = floor.PlainVAE(6, [16, 16], 3, 9)
    x = torch.randn(40, 6)
    torch.manual_seed(1)
    loss = vae.loss(x)
    torch.manual_seed(1)  # the same eps, computed with torch.distributions
    mu, logvar = vae.encoder(x).chunk(2, -1)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    z = mu + q.stddev * torch.randn_like(mu)
    log_px = torch.distributions.Normal(vae.decoder(z)[:, :6], 1.0).log_prob(x).sum(-1) + 3 * math.log(2 * math.pi)
    kl = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).sum(-1)
    assert loss.item() == pytest.approx((kl - log_px).mean().item(), rel=1e-5)


def test_epoch_seconds_trains_whole_batches_for_each_epoch(floor):
    vae = floor.PlainVAE(4, [8], 2, 4)
    before = [p.detach().clone() for p in vae.parameters()]
    seconds = floor.epoch_seconds(vae, rows=50, batch_size=20, epochs=3)
    assert len(seconds) == 3 and all(s > 0 for s in seconds)
    assert all(not torch.equal(a, b) for a, b in zip(before, vae.parameters()))  # every tensor was stepped
    with pytest.raises(ValueError, match="fewer than"):
        floor.PlainVAE(4, [8], 2, 3)
    with pytest.raises(ValueError, match="at least one row"):
        floor.epoch_seconds(vae, rows=0, batch_size=20, epochs=1)
