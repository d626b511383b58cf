import math

import pytest
import torch

from vaekit.config import parse_config
from vaekit.errors import ConfigError
from vaekit.models import build_model
from family_helpers import loss_of

X = torch.bernoulli(torch.full((32, 12), 0.3), generator=torch.Generator().manual_seed(0))


def _model(shape=(12,), **kw):
    torch.manual_seed(0)
    model = {"name": "hvae", "latent_dim": 2, "lower_dims": [4, 3], "hidden": 16,
             "encoder": {"hidden": [16]}, "decoder": {"hidden": [16]}, **kw}
    return build_model(parse_config({"model": model}).model, shape)


def test_the_marginal_likelihood_matches_a_brute_force_integral_over_both_layers():
    # One dimension per layer: log p(x) = log of the double integral of p(x|z1,z2) p(z1|z2) p(z2),
    # summed on a grid, against the importance-sampled estimate from the posterior.
    model = _model(shape=(4,), latent_dim=1, lower_dims=[1], hidden=8)
    x = torch.tensor([[1.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 0.0]])
    g = torch.linspace(-9, 9, 601)
    dz = (g[1] - g[0]).item()
    z2, z1 = torch.meshgrid(g, g, indexing="ij")
    z1, z2 = z1.reshape(-1, 1), z2.reshape(-1, 1)
    with torch.no_grad():
        log_joint = (model.prior.log_prob(z2) + model.conditional_prior(0, z2).log_prob(z1)
                     + torch.stack([model.decode(torch.cat([z1, z2], -1)).log_prob(xi.expand(len(z1), -1)) for xi in x], 1).T)
        exact = torch.logsumexp(log_joint, 1) + 2 * math.log(dz)
        torch.manual_seed(1)
        estimate = torch.logsumexp(model.log_weights(x, 20000), 0) - math.log(20000)
    torch.testing.assert_close(estimate, exact, atol=0.02, rtol=0)


def test_kl_is_reported_per_layer_and_sums_to_the_total():
    model = _model()
    out = model(X)
    assert len(out.kl_layers) == 3
    torch.testing.assert_close(torch.stack(out.kl_layers).sum(0), out.kl)
    assert {"kl_layer1", "kl_layer2", "kl_layer3"} <= set(loss_of(model, X).metrics)


def test_importance_weights_agree_with_the_elbo_and_bound_it_from_above():
    model = _model()
    torch.manual_seed(1)
    with torch.no_grad():
        elbo = torch.stack([model(X).elbo for _ in range(300)]).mean()
        l1 = model.log_weights(X, 300).mean()  # K=1 weights, averaged: another estimate of the ELBO
        lk = torch.logsumexp(model.log_weights(X, 300), 0).mean() - math.log(300)
    torch.testing.assert_close(l1, elbo, atol=0.15, rtol=0)
    assert lk > l1


def test_the_decoder_reads_every_layer_and_the_posteriors_read_x():
    model = _model()
    z = torch.randn(5, 4 + 3 + 2, requires_grad=True)
    model.decode(z).log_prob(X[:5]).sum().backward()
    assert all(z.grad[:, a:b].abs().sum() > 0 for a, b in [(0, 4), (4, 7), (7, 9)])
    # q(z_1 | x, z_2) changes with x when z_2 is held fixed.
    z2 = torch.randn(2, 3)
    q_a = model.posterior(0, model.q_x[0](X[:2]), z2)
    q_b = model.posterior(0, model.q_x[0](1 - X[:2]), z2)
    assert not torch.allclose(q_a.mu, q_b.mu)


def test_log_variances_stay_in_the_configured_range():
    model = _model(logvar_min=-1.0, logvar_max=0.5)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(50)  # push every pre-activation far outside the range
        zs, _, _, _, q_top = model.top_down(X)
        q_low = model.posterior(0, model.q_x[0](X), zs[1])
    for lv in (q_top.logvar, q_low.logvar, model.conditional_prior(0, zs[1]).logvar):
        assert lv.min() >= -1.0 and lv.max() <= 0.5


def test_training_lowers_the_loss_and_the_generative_path_runs():
    model = _model(prior={"name": "vampprior", "components": 5})
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    first = loss_of(model, X).loss.item()
    for _ in range(100):
        opt.zero_grad()
        loss_of(model, X).loss.backward()
        opt.step()
    assert loss_of(model, X).loss.item() < first - 1.0
    assert model.sample(4, 0.5, torch.Generator().manual_seed(0)).shape == (4, 12)
    cold = [model.sample(3, 0.0, torch.Generator().manual_seed(s)) for s in (0, 1)]
    assert not torch.equal(cold[0], cold[1])  # temperature 0 still picks VampPrior components at random
    assert model.reconstruct(X).shape == X.shape
    assert model.decode_code(model.encode(X).mu).mean.shape == X.shape


@pytest.mark.parametrize("bad, message", [({"lower_dims": []}, "lower_dims"), ({"lower_dims": [0]}, "lower_dims"),
                                          ({"logvar_min": 1.0, "logvar_max": 0.0}, "logvar_min")])
def test_bad_layer_settings_name_the_setting(bad, message):
    with pytest.raises(ConfigError, match=message):
        _model(**bad)


def test_the_convolutional_model_trains_on_the_cpu():
    # configs/families/conv_hvae.yaml in miniature: conv backbones for every x-network, VampPrior on top.
    images = torch.bernoulli(torch.full((32, 1, 8, 8), 0.3), generator=torch.Generator().manual_seed(1))
    conv = {"name": "conv", "channels": [4, 8], "hidden": 16}
    model = _model((1, 8, 8), encoder=conv, decoder=conv, prior={"name": "vampprior", "components": 5})
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    first = loss_of(model, images)
    for _ in range(60):
        opt.zero_grad()
        loss_of(model, images).loss.backward()
        opt.step()
    last = loss_of(model, images)
    assert last.loss.item() < first.loss.item() - 1.0
    assert {"kl_layer1", "kl_layer2", "kl_layer3"} <= set(last.metrics)
    assert model.reconstruct(images).shape == images.shape
