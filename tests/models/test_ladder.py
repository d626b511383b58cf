import math

import torch

from vaekit.config import parse_config
from vaekit.distributions import DiagonalGaussian
from vaekit.models import build_model
from vaekit.models.ladder import merge
from family_helpers import loss_of

X = torch.bernoulli(torch.full((32, 12), 0.3), generator=torch.Generator().manual_seed(0))


def _model(**kw):
    torch.manual_seed(0)
    cfg = parse_config({"model": {"name": "ladder", "latent_dim": 2, "lower_dims": [4, 3], "hidden": 16,
                                  "encoder": {"hidden": [16]}, "decoder": {"hidden": [16]}, **kw}})
    return build_model(cfg.model, (12,))


def test_merge_is_the_normalised_product_of_the_two_densities():
    q = DiagonalGaussian(torch.tensor([[0.5]]), torch.tensor([[math.log(0.3)]]))
    p = DiagonalGaussian(torch.tensor([[-1.0]]), torch.tensor([[math.log(2.0)]]))
    grid = torch.linspace(-8, 8, 20001).view(-1, 1, 1)
    dens = (q.log_prob(grid) + p.log_prob(grid)).exp().squeeze()
    dens = dens / dens.sum()
    m = merge(q, p)
    mean = (grid.squeeze() * dens).sum()
    var = ((grid.squeeze() - mean) ** 2 * dens).sum()
    torch.testing.assert_close(m.mu.squeeze(), mean, atol=1e-4, rtol=0)
    torch.testing.assert_close(m.logvar.exp().squeeze(), var, atol=1e-4, rtol=0)


def test_kl_is_reported_per_layer_and_sums_to_the_total():
    model = _model()
    out = model(X)
    assert len(out.kl_layers) == 3
    torch.testing.assert_close(torch.stack(out.kl_layers).sum(0), out.kl)
    metrics = loss_of(model, X).metrics
    assert {"kl_layer1", "kl_layer2", "kl_layer3"} <= set(metrics)


def test_importance_weights_agree_with_the_elbo_and_bound_it_from_above():
    model = _model()
    torch.manual_seed(1)
    with torch.no_grad():
        elbo = torch.stack([model(X).elbo for _ in range(300)]).mean()
        l1 = model.log_weights(X, 300).mean()  # K=1 weights, averaged: another estimate of the ELBO
        lk = torch.logsumexp(model.log_weights(X, 300), 0).mean() - math.log(300)
    torch.testing.assert_close(l1, elbo, atol=0.15, rtol=0)
    assert lk > l1


def test_training_lowers_the_loss_and_sampling_runs():
    model = _model(prior={"name": "vampprior", "components": 5})
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    first = loss_of(model, X).loss.item()
    for _ in range(100):
        opt.zero_grad()
        loss_of(model, X).loss.backward()
        opt.step()
    assert loss_of(model, X).loss.item() < first - 1.0
    assert model.sample(4, 0.5, torch.Generator().manual_seed(0)).shape == (4, 12)
    assert model.reconstruct(X).shape == X.shape
