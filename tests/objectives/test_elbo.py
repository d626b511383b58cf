import math

import pytest
import torch

from vaekit.objectives import bits_per_dim, elbo_loss, kl_term


def test_loss_is_batch_mean_of_negative_beta_elbo():
    recon = torch.tensor([-10.0, -20.0])
    kl = torch.tensor([1.0, 3.0])
    out = elbo_loss(recon, kl, beta=0.5)
    assert out.loss.item() == pytest.approx((10 + 0.5 * 1 + 20 + 0.5 * 3) / 2)
    assert out.metrics["elbo"].item() == pytest.approx(((-10 - 1) + (-20 - 3)) / 2)  # unweighted
    assert out.metrics["kl"].item() == pytest.approx(2.0)


def test_free_bits_clamps_each_dimensions_batch_mean():
    kl_per_dim = torch.tensor([[0.1, 2.0], [0.3, 4.0]])  # batch means: 0.2, 3.0
    assert kl_term(kl_per_dim.sum(1), kl_per_dim, 0.5).item() == pytest.approx(0.5 + 3.0)
    assert kl_term(kl_per_dim.sum(1), kl_per_dim, 0.0).item() == pytest.approx(3.2)
    # dimensions under the floor get no gradient
    k = kl_per_dim.clone().requires_grad_(True)
    kl_term(k.sum(1), k, 0.5).backward()
    assert torch.all(k.grad[:, 0] == 0) and torch.all(k.grad[:, 1] > 0)


def test_bits_per_dim():
    assert bits_per_dim(784 * math.log(2), 784) == pytest.approx(1.0)
