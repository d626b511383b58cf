"""The one reduction from per-example terms to the loss and its metrics, against direct formulas."""

import math

import pytest
import torch

from vaekit.contract import KLTarget, Terms
from vaekit.errors import ConfigError
from vaekit.objectives import Weights, bits_per_dim, iwae_bound, kl_penalty, reduce

RECON = torch.tensor([-10.0, -20.0])
KL = torch.tensor([1.0, 3.0])


def test_loss_is_batch_mean_of_negative_beta_elbo():
    out = reduce(Terms(RECON, KL), Weights(beta=0.5))
    assert out.loss.item() == pytest.approx((10 + 0.5 * 1 + 20 + 0.5 * 3) / 2)
    assert out.metrics["elbo"].item() == pytest.approx(((-10 - 1) + (-20 - 3)) / 2)  # unweighted
    assert out.metrics["kl"].item() == pytest.approx(2.0) and out.metrics["recon"].item() == pytest.approx(-15.0)
    assert out.aux_loss is None


def test_free_bits_clamps_each_dimensions_batch_mean():
    kl_per_dim = torch.tensor([[0.1, 2.0], [0.3, 4.0]])  # batch means: 0.2, 3.0
    terms = Terms(RECON, kl_per_dim.sum(1), kl_per_dim=kl_per_dim)
    assert kl_penalty(terms, 0.5).item() == pytest.approx(0.5 + 3.0)
    assert kl_penalty(terms, 0.0).item() == pytest.approx(3.2)
    # dimensions under the floor get no gradient
    k = kl_per_dim.clone().requires_grad_(True)
    reduce(Terms(RECON, k.sum(1), kl_per_dim=k), Weights(free_bits=0.5)).loss.backward()
    assert torch.all(k.grad[:, 0] == 0) and torch.all(k.grad[:, 1] > 0)


def test_free_bits_per_layer_and_their_metrics():
    layers = (torch.tensor([0.1, 0.3]), torch.tensor([2.0, 4.0]))  # batch means 0.2 and 3.0
    terms = Terms(RECON, layers[0] + layers[1], kl_layers=layers)
    assert kl_penalty(terms, 0.5).item() == pytest.approx(0.5 + 3.0)
    out = reduce(terms, Weights(free_bits=0.5))
    assert out.loss.item() == pytest.approx(15.0 + 3.5)
    assert out.metrics["kl_layer1"].item() == pytest.approx(0.2) and out.metrics["kl_layer2"].item() == pytest.approx(3.0)


def test_free_bits_need_a_kl_per_dimension_or_layer():
    with pytest.raises(ConfigError, match="free bits need a KL per latent dimension"):
        reduce(Terms(RECON, KL), Weights(free_bits=0.5))


def test_a_regularizer_takes_the_kls_place_under_beta():
    reg = torch.tensor([4.0, 8.0])
    out = reduce(Terms(RECON, KL, regularizer=reg), Weights(beta=0.5))
    assert out.loss.item() == pytest.approx(15.0 + 0.5 * 6.0)
    assert out.metrics["kl"].item() == pytest.approx(2.0)  # the KL is still what is reported


def test_penalties_are_weighted_in_the_loss_and_logged_unweighted():
    pen = torch.tensor([1.0, 2.0])
    out = reduce(Terms(RECON, KL, recon_weight=0.5, penalties={"commitment": (0.25, pen)}, logs={"usage": torch.tensor(0.7)}))
    assert out.loss.item() == pytest.approx(0.5 * 15.0 + 2.0 + 0.25 * 1.5)
    assert out.metrics["commitment"].item() == pytest.approx(1.5) and out.metrics["usage"].item() == pytest.approx(0.7)


def test_a_kl_target_replaces_beta_by_gamma_and_the_capacity():
    target = KLTarget(gamma=10.0, capacity=25.0, steps=100)
    out = reduce(Terms(RECON, KL), Weights(beta=0.3, capacity=5.0), target)
    assert out.loss.item() == pytest.approx(15.0 + 10.0 * abs(2.0 - 5.0))
    assert out.metrics["capacity"].item() == 5.0


def test_the_auxiliary_loss_is_the_batch_mean_of_aux():
    out = reduce(Terms(RECON, KL, aux=torch.tensor([1.0, 5.0])))
    assert out.aux_loss.item() == pytest.approx(3.0)


def test_terms_of_k_samples_give_the_importance_weighted_bound():
    g = torch.Generator().manual_seed(0)
    recon, kl = -torch.rand(5, 3, generator=g) * 10, torch.rand(5, 3, generator=g)
    out = reduce(Terms(recon, kl), Weights(beta=0.5))
    log_w = (recon - 0.5 * kl).double()
    direct = (torch.logsumexp(log_w, 0) - math.log(5)).mean()
    assert out.loss.item() == pytest.approx(-direct.item(), rel=1e-6)
    unweighted = (torch.logsumexp((recon - kl).double(), 0) - math.log(5)).mean()
    assert out.metrics["iwae_bound"].item() == pytest.approx(unweighted.item(), rel=1e-6)
    assert out.metrics["elbo"].item() == pytest.approx((recon - kl).mean().item(), rel=1e-6)
    assert out.metrics["iwae_bound"] >= out.metrics["elbo"]  # Jensen: L_K >= L_1
    one = reduce(Terms(recon[:1], kl[:1]))  # K = 1 is the ELBO
    assert one.loss.item() == pytest.approx(-(recon[0] - kl[0]).mean().item(), rel=1e-6)


def test_the_doubly_reparameterised_gradient_keeps_the_value_and_weighs_the_encoder_by_w_squared():
    """log w_k = -(z_k - 1)^2 / 2 with z_k = mu + eps_k: DReG's gradient in mu is
    sum_k w~_k^2 dlogw_k/dz_k, where the standard estimator has sum_k w~_k dlogw_k/dz_k."""
    eps = torch.tensor([[[-1.0]], [[0.5]], [[2.0]]])  # (K=3, B=1, D=1)
    mu = torch.zeros(1, requires_grad=True)
    z = mu + eps
    z_leaf = z.detach().requires_grad_(True)
    recon = -0.5 * ((z_leaf - 1.0) ** 2).sum(-1)  # (K, B)
    out = reduce(Terms(recon, torch.zeros_like(recon), reparam=(z_leaf, z)))
    w = torch.softmax(recon.detach(), 0)  # (K, B)
    assert out.loss.item() == pytest.approx(-iwae_bound(recon.detach()).mean().item())
    out.loss.backward()
    expected = -((w**2) * (1.0 - z.detach().squeeze(-1))).sum()
    assert mu.grad.item() == pytest.approx(expected.item(), rel=1e-5)


def test_bits_per_dim():
    assert bits_per_dim(784 * math.log(2), 784) == pytest.approx(1.0)
