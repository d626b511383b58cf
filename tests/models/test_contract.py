"""The contract every registered model family keeps (`vaekit.contract`), run over each with a
tiny config.

Shapes of the terms `forward` returns, a finite loss through the one reduction (the batch-mean
negative ELBO, for families trained on the ELBO), the loss and the auxiliary loss each reaching
only their own parameters, one optimizer step changes every parameter, the importance weights average to the ELBO, save/load
through the run directory gives identical outputs, and the same seed gives the same model and
the same numbers. Every family runs with every registered network and every likelihood variant;
every prior runs on the base VAE. Every call passes the labels y: a conditional family needs them
and an unconditional one ignores them.

A family, network, likelihood or prior registered later is picked up automatically: it runs on a
fallback config, and the first test fails until it has its own tiny entry below. Sequence networks
and the tokens likelihood read token ids, not these images: tests/models/test_text_families.py
runs the contract on text for every family that works there.
"""

from __future__ import annotations

import itertools
import json

import pytest
import torch

from vaekit.config import dump_config, parse_config
from vaekit.contract import Batch, Family, Traits
from vaekit.errors import ConfigError
from vaekit.models import build_model
from vaekit.objectives import Weights, reduce
from vaekit.registry import LIKELIHOODS, MODELS, NETWORKS, PRIORS
from vaekit.run import WEIGHTS, load_run
from vaekit.weights import load_into, load_weights, save_weights

SHAPE = (1, 8, 8)
CLASSES = 3
B, S = 6, 7

# Per family, what its tiny model section adds to {"name": family, "latent_dim": 3}.
TINY_MODELS: dict[str, dict] = {
    "vae": {}, "cvae": {}, "iwae": {"k": 3}, "betatcvae": {}, "capacity_vae": {"capacity_steps": 10},
    "infovae": {"lam": 10.0}, "wae": {}, "ladder": {"lower_dims": [4], "hidden": 16},
    "hvae": {"lower_dims": [4], "hidden": 16},
    # code_dim 1: the contract expects z and the posterior mean to be latent_dim wide.
    "vqvae": {"codebook_size": 5, "code_dim": 1, "prior_hidden": 8},
    "vaegan": {"disc_features": 8},
}
ELBO_LOSS = {"vae", "cvae"}  # families whose training loss is exactly the batch-mean negative ELBO
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
TINY_PRIORS: dict[str, dict] = {
    "standard_normal": {"name": "standard_normal"},
    "mixture": {"name": "mixture", "components": 3},
    "vampprior": {"name": "vampprior", "components": 4},
}


# Families whose posterior is a point mass: their outputs for a given x draw no noise.
DETERMINISTIC = {"vqvae", "wae"}
# Networks over token ids: their contract runs on text (tests/models/test_text_families.py).
SEQUENCE_NETWORKS = {n for n in NETWORKS.names() if NETWORKS.get(n).tokens}
IMAGE_NETWORKS = sorted(set(NETWORKS.names()) - SEQUENCE_NETWORKS)
# Families without a latent code (a language model, over text only): tests/models/test_lm.py.
LATENT_FAMILIES = [n for n in MODELS.names() if MODELS.get(n).traits.latent]

def test_every_registered_component_has_a_tiny_config():
    assert set(LATENT_FAMILIES) <= set(TINY_MODELS), "add the new model family to TINY_MODELS"
    assert set(IMAGE_NETWORKS) <= set(TINY_NETWORKS), "add the new network to TINY_NETWORKS"
    # "mixed" models table rows only: tests/tables/test_families.py runs every family under it;
    # "tokens" models text only: tests/models/test_text_families.py does
    assert set(LIKELIHOODS.names()) - {"mixed", "tokens"} <= {v["name"] for v in LIKELIHOOD_VARIANTS.values()}, \
        "add the new likelihood to LIKELIHOOD_VARIANTS"
    assert set(PRIORS.names()) <= set(TINY_PRIORS), "add the new prior to TINY_PRIORS"


def raw_model(family: str, network: str, likelihood: str, prior: str) -> dict:
    return {
        "name": family, "latent_dim": 3, **TINY_MODELS.get(family, {}),
        "encoder": TINY_NETWORKS.get(network, {"name": network}),
        "decoder": TINY_NETWORKS.get(network, {"name": network}),
        "likelihood": LIKELIHOOD_VARIANTS[likelihood],
        "prior": TINY_PRIORS.get(prior, {"name": prior}),
    }


CASES = [  # (family, network, likelihood, prior)
    *((f, n, lik, "standard_normal") for f, n, lik in
      itertools.product(LATENT_FAMILIES, IMAGE_NETWORKS, LIKELIHOOD_VARIANTS)),
    *(("vae", "mlp", "bernoulli", p) for p in PRIORS.names() if p != "standard_normal"),
]


@pytest.fixture(params=CASES, ids=["-".join(c) for c in CASES])
def case(request) -> tuple[str, str, str, str]:
    return request.param


@pytest.fixture
def config(case):
    return parse_config({"model": raw_model(*case), "data": {"name": "digits"}})


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


@pytest.fixture
def batch(x, y) -> Batch:
    return Batch(x, y)


def loss_of(model, batch):
    """The family's training loss, as the training step makes it."""
    return reduce(model(batch), Weights(), model.traits.kl_target)


def seeded(fn, seed: int = 7):
    torch.manual_seed(seed)
    return fn()


def perturb(model, scale: float = 0.2) -> None:
    """Move every parameter off its initial value (a posterior away from the prior, a checkpoint
    that differs from a fresh model everywhere)."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn_like(p))


def test_shapes(config, x, y, batch):
    model = build(config)
    assert isinstance(model, Family) and isinstance(model.traits, Traits)
    d = model.code_size
    out = model(batch)
    lead = (B,) if out.samples is None else (out.samples, B)  # K draws per example (an IWAE)
    assert out.recon.shape == lead and out.kl.shape == lead and out.elbo.shape == (B,)
    assert out.z.shape[-1] == config.model.latent_dim * getattr(config.model, "code_dim", 1) == d
    q = model.encode(batch)
    assert q.mu.shape == (B, d) and q.logvar.shape == (B, d)
    if model.traits.bound:
        assert model.log_weights(batch, S).shape == (S, B)
    else:  # no likelihood bound (a WAE): the importance weights say so in one line
        with pytest.raises(ConfigError, match="no likelihood bound"):
            model.log_weights(batch, S)
    assert model.sample(4, y=torch.arange(4) % CLASSES).shape == (4, *SHAPE)
    assert model.reconstruct(batch).shape == x.shape
    assert model.num_dims == 64
    if not model.traits.conditional:  # a bare tensor is the batch of that x
        model.eval()  # a VQ-VAE's codebook moves with every training pass
        assert torch.equal(seeded(lambda: model(x).recon), seeded(lambda: model(Batch(x)).recon))


def test_loss_is_finite_and_reports_the_elbo(config, case, batch):
    model = build(config)
    result = seeded(lambda: loss_of(model, batch))
    assert result.loss.shape == () and torch.isfinite(result.loss)
    assert {"elbo", "kl"} <= set(result.metrics) and all(torch.isfinite(v) for v in result.metrics.values())
    if case[0] in ELBO_LOSS:
        out = seeded(lambda: model(batch))  # the same draw of z
        elbo = out.recon - out.kl
        torch.testing.assert_close(result.loss, -elbo.mean())
        torch.testing.assert_close(result.metrics["elbo"], elbo.mean())
        torch.testing.assert_close(result.metrics["kl"], out.kl.mean())


def test_each_loss_reaches_only_its_own_parameters(config, batch):
    """The step backpropagates loss + aux at once: the loss must not reach the auxiliary
    parameters (a discriminator, a code prior) and the auxiliary loss must not reach the others."""
    model = build(config)
    model.train()
    result = seeded(lambda: loss_of(model, batch))
    aux = list(model.auxiliary_parameters())
    aux_ids = {id(p) for p in aux}
    main = [p for p in model.parameters() if id(p) not in aux_ids]
    assert (result.aux_loss is not None) == bool(aux)
    if aux:
        for loss, params in ((result.loss, aux), (result.aux_loss, main)):
            grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
            assert all(g is None or not bool(g.any()) for g in grads)


@torch.no_grad()
def test_log_weights_average_to_the_elbo(config, batch):
    """E_q[log p(x, z) - log q(z|x)] is the ELBO: the importance weights and forward() agree
    within Monte Carlo error (5 standard errors, each example); exactly, for families whose
    posterior is a point mass."""
    model = build(config)
    if not model.traits.bound:  # no weights to average; it says so
        with pytest.raises(ConfigError, match="no likelihood bound"):
            model.log_weights(batch, 400)
        return
    perturb(model)
    model.eval()
    log_w = seeded(lambda: model.log_weights(batch, 400))  # (400, B)
    if config.model.name in DETERMINISTIC:
        torch.testing.assert_close(log_w, model(batch).elbo.expand_as(log_w))
        return
    elbo = torch.stack([seeded(lambda: model(batch).elbo, seed=s) for s in range(40)])  # (40, B)
    stderr = (log_w.var(0) / len(log_w) + elbo.var(0) / len(elbo)).sqrt()
    z = (log_w.mean(0) - elbo.mean(0)) / stderr
    assert z.abs().max() < 5, z


def test_one_step_changes_every_parameter(config, batch):
    model = build(config)
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    result = seeded(lambda: loss_of(model, batch))
    (result.loss + (result.aux_loss if result.aux_loss is not None else 0.0)).backward()
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
    other.eval()  # a VQ-VAE's codebook moves with every training pass
    for loaded in (run.model, other):
        state, own = loaded.state_dict(), model.state_dict()
        assert state.keys() == own.keys()
        assert all(torch.equal(state[k], own[k]) for k in own)
        batch = Batch(x, y)
        a, b = seeded(lambda: model(batch)), seeded(lambda: loaded(batch))
        assert torch.equal(a.recon, b.recon) and torch.equal(a.kl, b.kl)
        if model.traits.bound:
            assert torch.equal(seeded(lambda: model.log_weights(batch, S)), seeded(lambda: loaded.log_weights(batch, S)))
        g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
        assert torch.equal(model.sample(B, generator=g(), y=y), loaded.sample(B, generator=g(), y=y))


def test_same_seed_same_result(config, batch):
    a, b, c = build(config, seed=5), build(config, seed=5), build(config, seed=6)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    fns = [lambda m: m(batch).recon, lambda m: loss_of(m, batch).loss]
    if a.traits.bound:
        fns.append(lambda m: m.log_weights(batch, S))
    for fn in fns:
        assert torch.equal(seeded(lambda: fn(a)), seeded(lambda: fn(b)))
    if config.model.name not in DETERMINISTIC:  # the output draws z
        assert not torch.equal(seeded(lambda: a(batch).recon, seed=1), seeded(lambda: a(batch).recon, seed=2))


def test_the_mixture_sampler_decodes_every_family(config, x, y):
    # The ex-post mixture is fitted in the space `encode` returns (a hierarchy's top layer, a
    # VQ-VAE's encoder outputs) and its draws go through `decode_sample`, which makes examples of
    # that space as the model's own sampling does, so it works for every family.
    from vaekit.sample import GMMSampler, sample

    model = build(config)
    perturb(model)
    model.eval()
    labels = y if model.traits.conditional else None
    gmm = GMMSampler(model, components=2).fit(x, labels)
    out = sample(model, B, seed=0, y=labels, sampler=gmm)
    assert out.shape == (B, *SHAPE) and torch.isfinite(out).all()
    g = torch.Generator().manual_seed(0)
    z = gmm.latents(B, generator=g)
    torch.testing.assert_close(out, model.decode_sample(z, 1.0, g, labels))
    # decode_sample is what `sample` does after drawing from the prior, for every family.
    if config.model.name != "vqvae":  # its prior draws discrete codes, not codes in encode's space
        g = torch.Generator().manual_seed(1)
        z = model.prior.sample(B, 0.8, g)
        expected = model.decode_sample(z, 0.8, g, labels)
        torch.testing.assert_close(model.sample(B, 0.8, torch.Generator().manual_seed(1), y=labels), expected)
