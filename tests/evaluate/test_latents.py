"""Latent health: KL per dimension, the mutual information I(x; z) and the collapse warning,
against closed forms, torch.distributions, Monte Carlo and an independent grid integration."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.distributions import Normal, kl_divergence

from vaekit.evaluate import (
    active_units,
    collapse_warning,
    kl_per_dim,
    mutual_information,
    posterior_moments,
)
from vaekit.models import build_model


def moments(n: int, d: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g) * 1.5, torch.randn(n, d, generator=g) * 0.8 - 0.5


# ----------------------------------------------------------------------------- KL per dimension


def test_kl_per_dim_matches_torch_distributions():
    mu, logvar = moments(50, 6)
    kl = kl_per_dim(mu, logvar)
    expected = kl_divergence(Normal(mu.double(), (0.5 * logvar.double()).exp()), Normal(0.0, 1.0)).mean(dim=0)
    assert kl.shape == (6,) and kl.dtype == torch.float64
    torch.testing.assert_close(kl, expected)


def test_kl_per_dim_matches_a_monte_carlo_estimate():
    mu, logvar = moments(3, 4, seed=1)
    q = Normal(mu.double(), (0.5 * logvar.double()).exp())
    z = q.sample((200_000,))  # (S, N, D)
    log_ratio = q.log_prob(z) - Normal(0.0, 1.0).log_prob(z)  # (S, N, D)
    estimate = log_ratio.mean(dim=(0, 1))
    stderr = log_ratio.mean(dim=1).std(dim=0) / math.sqrt(z.shape[0])
    assert (kl_per_dim(mu, logvar) - estimate).abs().max() < 5 * stderr.max()


def test_kl_per_dim_is_zero_exactly_at_the_standard_normal():
    kl = kl_per_dim(torch.zeros(5, 3), torch.zeros(5, 3))
    assert torch.equal(kl, torch.zeros(3, dtype=torch.float64))
    assert (kl_per_dim(*moments(20, 3)) > 0).all()


# ----------------------------------------------------------------------------- mutual information


def test_identical_posteriors_carry_no_information():
    mu = torch.tensor([0.3, -1.0, 2.0]).expand(400, 3)
    logvar = torch.tensor([-0.5, 0.2, -2.0]).expand(400, 3)
    assert abs(mutual_information(mu, logvar, generator=torch.Generator().manual_seed(0))) < 1e-9


def test_separated_narrow_posteriors_reach_log_n():
    g = torch.Generator().manual_seed(0)
    n = 300
    mu = torch.randn(n, 4, generator=g) * 10  # nearest neighbours are ~1 apart, posteriors ~0.003 wide
    logvar = torch.full((n, 4), -12.0)
    mi = mutual_information(mu, logvar, generator=g)
    assert mi == pytest.approx(math.log(n), abs=1e-3)
    assert mi <= math.log(n) + 1e-9  # the upper bound


def test_linear_gaussian_case_matches_the_closed_form():
    """mu ~ N(0, a^2) and a fixed posterior variance s^2 per dimension: z = mu + s * eps is
    Gaussian with variance a^2 + s^2, so I(x; z) = sum_d 0.5 log(1 + a_d^2 / s_d^2)."""
    g = torch.Generator().manual_seed(0)
    a, s = torch.tensor([1.0, 2.0]), torch.tensor([0.5, 0.5])
    mu = torch.randn(4000, 2, generator=g) * a
    logvar = (s**2).log().expand(4000, 2)
    expected = float(0.5 * torch.log1p(a**2 / s**2).sum())  # 0.5 log 5 + 0.5 log 17 = 2.22
    assert mutual_information(mu, logvar, num_samples=4, generator=g) == pytest.approx(expected, abs=0.04)


def brute_force_mi(mu: np.ndarray, var: np.ndarray, half_width: float = 9.0, steps: int = 500) -> float:
    """I = (1/N) sum_n KL(q_n || q_bar) with q_bar the mixture, integrated on a 2-D grid."""
    lo, hi = (mu - half_width * np.sqrt(var)).min(axis=0), (mu + half_width * np.sqrt(var)).max(axis=0)
    u, v = np.linspace(lo[0], hi[0], steps), np.linspace(lo[1], hi[1], steps)
    cell = (u[1] - u[0]) * (v[1] - v[0])
    densities = []
    for m, s2 in zip(mu, var):
        pu = np.exp(-((u - m[0]) ** 2) / (2 * s2[0])) / np.sqrt(2 * np.pi * s2[0])
        pv = np.exp(-((v - m[1]) ** 2) / (2 * s2[1])) / np.sqrt(2 * np.pi * s2[1])
        densities.append(np.outer(pu, pv))
    q = np.stack(densities)  # (N, steps, steps)
    q_bar = q.mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(q > 0, q * (np.log(q) - np.log(q_bar)), 0.0)
    return float(terms.sum(axis=(1, 2)).mean() * cell)


@pytest.mark.parametrize("seed", [0, 1])
def test_mutual_information_matches_a_grid_integration(seed):
    rng = np.random.default_rng(seed)
    mu = rng.normal(0, 1.0, (8, 2))
    var = np.exp(rng.normal(-1.0, 0.5, (8, 2)))  # posteriors of different widths that overlap
    expected = brute_force_mi(mu, var)
    mi = mutual_information(torch.tensor(mu), torch.tensor(np.log(var)), num_samples=20_000,
                            generator=torch.Generator().manual_seed(seed))
    assert 0.2 < expected < math.log(8) - 0.2  # neither extreme: the mixture matters
    assert mi == pytest.approx(expected, abs=0.01)


def test_chunks_and_seeds():
    mu, logvar = moments(50, 3)
    one = mutual_information(mu, logvar, num_samples=3, generator=torch.Generator().manual_seed(5))
    chunked = mutual_information(mu, logvar, num_samples=3, generator=torch.Generator().manual_seed(5), chunk_rows=7)
    assert chunked == pytest.approx(one, rel=1e-12)  # chunks change memory, not the estimate
    other = mutual_information(mu, logvar, num_samples=3, generator=torch.Generator().manual_seed(6))
    assert other != one and 0 < one < math.log(50)
    with pytest.raises(ValueError):
        mutual_information(mu, logvar[:, :2])
    with pytest.raises(ValueError):
        mutual_information(mu, logvar, num_samples=0)


# ----------------------------------------------------------------------------- collapse warning


def test_collapse_gets_a_warning_with_remedies():
    for au, mi in [(0, 2.0), (3, 0.001)]:  # no active unit, or no information
        warning = collapse_warning(au, 8, mi, torch.full((8,), 0.001))
        assert warning is not None and "posterior collapse" in warning
        assert "objective.warmup_epochs" in warning and "objective.free_bits" in warning and "weaker decoder" in warning
        assert f"{au} of 8" in warning


def test_mostly_inactive_units_get_a_milder_note():
    kl = torch.tensor([2.0, 0.0, 0.0, 1.5, 0.0, 0.0, 0.0, 0.01])
    note = collapse_warning(2, 8, 3.0, kl)
    assert note is not None and "collapse" not in note
    assert "only 2 of 8" in note and "dimensions 0, 3" in note and "objective.free_bits" in note


def test_a_healthy_latent_space_gets_no_warning():
    assert collapse_warning(8, 8, 3.0, torch.ones(8)) is None
    assert collapse_warning(4, 8, 3.0, [1.0] * 8) is None  # half active is not "most inactive"


def test_an_encoder_that_ignores_the_input_is_reported_as_collapsed(tiny_data, tiny_config):
    model = build_model(tiny_config().model, tiny_data.shape)
    x = tiny_data.test.x
    mu, logvar = posterior_moments(model, x)
    assert active_units(mu, 1e-4)[0] > 0  # an untrained encoder's output does depend on x
    last = [m for m in model.encoder.modules() if isinstance(m, nn.Linear)][-1]
    with torch.no_grad():
        last.weight.zero_()  # mu and logvar become the bias: the same for every x
    mu, logvar = posterior_moments(model, x)
    au, _ = active_units(mu)
    mi = mutual_information(mu, logvar, generator=torch.Generator().manual_seed(0))
    assert au == 0 and abs(mi) < 1e-6
    warning = collapse_warning(au, mu.shape[1], mi, kl_per_dim(mu, logvar))
    assert warning is not None and "posterior collapse" in warning
