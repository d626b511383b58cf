"""The shared distribution base: masked log-probabilities against torch.distributions, modes,
and the point-mass posterior."""

import math

import pytest
import torch
from torch import distributions as td

from vaekit.distributions import DiagonalGaussian, Distribution, PointMass
from vaekit.distributions.likelihoods import BernoulliDist, GaussianDist

G = torch.Generator().manual_seed(0)
X = torch.bernoulli(torch.full((4, 2, 3), 0.4), generator=G)  # (B, *shape)
MASK = torch.bernoulli(torch.full((4, 2, 3), 0.6), generator=G)


def test_bernoulli_masked_log_prob_sums_the_observed_entries_only():
    logits = torch.randn(4, 2, 3, generator=G)
    dist = BernoulliDist(logits, event_dims=2)
    ref = td.Bernoulli(logits=logits).log_prob(X)
    torch.testing.assert_close(dist.log_prob(X), ref.sum((1, 2)))
    torch.testing.assert_close(dist.log_prob(X, MASK), (ref * MASK).sum((1, 2)))
    torch.testing.assert_close(dist.log_prob(X, torch.ones_like(X)), dist.log_prob(X))
    assert torch.equal(dist.mode, (logits > 0).float()) and isinstance(dist, Distribution)


def test_bernoulli_mask_broadcasts_over_leading_sample_dimensions():
    logits = torch.randn(5, 4, 2, 3, generator=G)  # (S, B, *shape), as the NLL decodes
    ref = td.Bernoulli(logits=logits).log_prob(X)  # x and the mask broadcast over S
    torch.testing.assert_close(BernoulliDist(logits, 2).log_prob(X, MASK), (ref * MASK).sum((-2, -1)))


def test_gaussian_masked_log_prob_and_mode():
    mu, log_sigma = torch.randn(4, 2, 3, generator=G), 0.3 * torch.randn(4, 2, 3, generator=G)
    dist = GaussianDist(mu, log_sigma, event_dims=2)
    x = torch.randn(4, 2, 3, generator=G)
    ref = td.Normal(mu, log_sigma.exp()).log_prob(x)
    torch.testing.assert_close(dist.log_prob(x, MASK), (ref * MASK).sum((1, 2)))
    assert torch.equal(dist.mode, mu) and torch.equal(dist.mean, mu)


def test_diagonal_gaussian_masked_log_prob():
    mu, logvar = torch.randn(4, 3, generator=G), torch.randn(4, 3, generator=G)
    q = DiagonalGaussian(mu, logvar)
    z = torch.randn(4, 3, generator=G)
    mask = MASK[:, 0]
    ref = td.Normal(mu, (0.5 * logvar).exp()).log_prob(z)
    torch.testing.assert_close(q.log_prob(z, mask), (ref * mask).sum(-1))
    assert torch.equal(q.mode, mu)


def test_a_point_mass_is_its_code():
    v = torch.randn(4, 3, generator=G, requires_grad=True)
    q = PointMass(v)
    assert q.mean is v and q.mode is v and q.mu is v
    assert torch.equal(q.std, torch.zeros(4, 3)) and bool((q.logvar == -math.inf).all())
    assert q.rsample() is v and q.rsample(5).shape == (5, 4, 3)
    q.rsample(2).sum().backward()  # draws are the code: the gradient reaches it
    assert torch.equal(v.grad, torch.full((4, 3), 2.0))
    with pytest.raises(NotImplementedError, match="no density"):
        q.log_prob(v)


def test_a_distribution_without_a_mean_says_so():
    with pytest.raises(NotImplementedError, match="has no mean; use its mode"):
        Distribution().mean
