"""The contract every registered model family keeps, run over each with a tiny config.

Shapes, a finite loss that is the documented batch reduction of the ELBO, one optimizer step
changes every parameter, save/load through the run directory gives identical outputs, and the
same seed gives the same model and the same numbers. Each family runs with every registered
network and every likelihood variant. Every call passes the labels y: a conditional family needs
them and an unconditional one ignores them. A family registered later is picked up
automatically; give it an entry in TINY_MODELS (the first test fails until it has one).
"""

from __future__ import annotations

import json

import pytest
import torch

from vaekit.config import dump_config, parse_config
from vaekit.models import build_model
from vaekit.registry import LIKELIHOODS, MODELS, NETWORKS
from vaekit.run import WEIGHTS, load_run
from vaekit.train.checkpoint import load_into, load_weights, save_weights

SHAPE = (1, 8, 8)
CLASSES = 3
B, S = 5, 7

# Per family, the model section of the smallest config that exercises it. A family without an
# entry runs on FALLBACK (so its contract is still checked) and fails the completeness test.
TINY_MODELS: dict[str, dict] = {"vae": {"latent_dim": 3}, "cvae": {"latent_dim": 3}}
FALLBACK = {"latent_dim": 3}
TINY_NETWORKS: dict[str, dict] = {
    "mlp": {"name": "mlp", "hidden": [16]},
    "conv": {"name": "conv", "channels": [4, 8], "hidden": 16},
}
LIKELIHOOD_VARIANTS: dict[str, dict] = {
    "bernoulli": {"name": "bernoulli"},
    "gaussian-fixed": {"name": "gaussian", "variance": "fixed", "sigma": 0.3},
    "gaussian-learned": {"name": "gaussian", "variance": "learned", "sigma": 0.3},
    "gaussian-decoder": {"name": "gaussian", "variance": "decoder"},
}


def test_every_registered_component_has_a_tiny_config():
    assert set(MODELS.names()) <= set(TINY_MODELS), "add the new model family to TINY_MODELS"
    assert set(NETWORKS.names()) <= set(TINY_NETWORKS), "add the new network to TINY_NETWORKS"
    covered = {v["name"] for v in LIKELIHOOD_VARIANTS.values()}
    assert set(LIKELIHOODS.names()) <= covered, "add the new likelihood to LIKELIHOOD_VARIANTS"


def raw_config(family: str, network: str, likelihood: str) -> dict:
    model = {"name": family, **TINY_MODELS.get(family, FALLBACK)}
    model.setdefault("encoder", TINY_NETWORKS[network])
    model.setdefault("decoder", TINY_NETWORKS[network])
    model.setdefault("likelihood", LIKELIHOOD_VARIANTS[likelihood])
    return {"model": model, "data": {"name": "digits"}}


@pytest.fixture(params=MODELS.names())
def family(request) -> str:
    return request.param


@pytest.fixture(params=NETWORKS.names())
def network(request) -> str:
    return request.param


@pytest.fixture(params=list(LIKELIHOOD_VARIANTS))
def likelihood(request) -> str:
    return request.param


@pytest.fixture
def config(family, network, likelihood):
    return parse_config(raw_config(family, network, likelihood))


def build(config, seed: int = 0):
    torch.manual_seed(seed)
    return build_model(config.model, SHAPE, CLASSES)


@pytest.fixture
def x() -> torch.Tensor:
    g = torch.Generator().manual_seed(123)
    return torch.bernoulli(torch.full((B, *SHAPE), 0.3), generator=g)  # (B, 1, 8, 8) in {0, 1}


@pytest.fixture
def y() -> torch.Tensor:
    return torch.arange(B) % CLASSES  # (B,)


def seeded(fn, seed: int = 7):
    torch.manual_seed(seed)
    return fn()


def perturb(model, scale: float = 0.2) -> None:
    """Move every parameter off its initial value (a posterior away from the prior, a checkpoint
    that differs from a fresh model everywhere)."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn_like(p))


def test_shapes(config, x, y):
    model = build(config)
    d = config.model.latent_dim
    out = model(x, y)
    assert out.recon.shape == (B,) and out.kl.shape == (B,) and out.z.shape == (B, d)
    q = model.encode(x, y)
    assert q.mu.shape == (B, d) and q.logvar.shape == (B, d)
    assert model.decode(torch.zeros(S, B, d), y).mean.shape == (S, B, *SHAPE)  # extra leading sample dims
    assert model.log_weights(x, S, y).shape == (S, B)
    assert model.sample(4, y=torch.arange(4) % CLASSES).shape == (4, *SHAPE)
    assert model.reconstruct(x, y).shape == x.shape
    assert model.num_dims == 64


def test_loss_is_finite_and_the_batch_mean_of_the_negative_elbo(config, x, y):
    model = build(config)
    result = seeded(lambda: model.loss(x, y))
    assert result.loss.shape == () and torch.isfinite(result.loss)
    out = seeded(lambda: model(x, y))  # the same draw of z
    elbo = out.recon - out.kl
    assert torch.isfinite(elbo).all()
    torch.testing.assert_close(result.loss, -elbo.mean())
    torch.testing.assert_close(result.metrics["elbo"], elbo.mean())
    torch.testing.assert_close(result.metrics["kl"], out.kl.mean())
    assert (out.kl >= 0).all()


@torch.no_grad()
def test_log_weights_average_to_the_elbo(config, x, y):
    """E_q[log p(x, z) - log q(z|x)] is the ELBO: the importance weights and forward() agree
    within Monte Carlo error (5 standard errors, each example)."""
    model = build(config)
    perturb(model)
    log_w = seeded(lambda: model.log_weights(x, 2000, y))  # (S, B)
    recon = torch.stack([seeded(lambda: model(x, y).recon, seed=s) for s in range(100)])  # (100, B)
    kl = model(x, y).kl  # analytic under the standard normal prior
    stderr = (log_w.var(0) / len(log_w) + recon.var(0) / len(recon)).sqrt()
    z = (log_w.mean(0) - (recon.mean(0) - kl)) / stderr
    assert z.abs().max() < 5, z


def test_one_step_changes_every_parameter(config, x, y):
    model = build(config)
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    seeded(lambda: model.loss(x, y).loss).backward()
    opt.step()
    unchanged = [k for k, v in model.named_parameters() if torch.equal(v, before[k])]
    assert not unchanged, f"parameters the loss does not reach: {unchanged}"


def test_save_and_load_give_identical_outputs(config, x, y, tmp_path):
    model = build(config, seed=0)
    perturb(model)  # so that a load that misses a tensor shows
    (tmp_path / "config.yaml").write_text(dump_config(config))
    meta = {"data_shape": json.dumps(list(SHAPE)), "num_classes": json.dumps(CLASSES)}  # as the training loop writes
    save_weights(model, tmp_path / WEIGHTS, meta)

    run = load_run(tmp_path)
    assert run.data_shape == SHAPE
    other = build(config, seed=1)  # different initial weights, then the checkpoint on top
    load_into(other, load_weights(tmp_path / WEIGHTS), str(tmp_path))
    model.eval()
    for loaded in (run.model, other):
        state, own = loaded.state_dict(), model.state_dict()
        assert state.keys() == own.keys()
        assert all(torch.equal(state[k], own[k]) for k in own)
        a, b = seeded(lambda: model(x, y)), seeded(lambda: loaded(x, y))
        assert torch.equal(a.recon, b.recon) and torch.equal(a.kl, b.kl)
        assert torch.equal(seeded(lambda: model.log_weights(x, S, y)), seeded(lambda: loaded.log_weights(x, S, y)))
        g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
        assert torch.equal(model.sample(B, generator=g(), y=y), loaded.sample(B, generator=g(), y=y))


def test_same_seed_same_result(config, x, y):
    a, b, c = build(config, seed=5), build(config, seed=5), build(config, seed=6)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    for fn in (lambda m: m(x, y).recon, lambda m: m.log_weights(x, S, y), lambda m: m.loss(x, y).loss):
        assert torch.equal(seeded(lambda: fn(a)), seeded(lambda: fn(b)))
    assert not torch.equal(seeded(lambda: a(x, y).recon, seed=1), seeded(lambda: a(x, y).recon, seed=2))
