"""Imputation and conditional sampling (vaekit.sample.impute) against the closed form of
probabilistic PCA, plus exactness, seeding, table outputs and refusals.

Probabilistic PCA (Tipping & Bishop 1999): z ~ N(0, I_L), x = W z + b + N(0, s^2 I_D), so x is
Gaussian with mean b and covariance C = W W^T + s^2 I, and for observed entries o and missing m

    p(x_m | x_o) = N(b_m + C_mo C_oo^-1 (x_o - b_o),  C_mm - C_mo C_oo^-1 C_om),
    p(z | x_o)   = N(S W_o^T (x_o - b_o) / s^2,  S),  S = (I + W_o^T W_o / s^2)^-1.

Tolerances. A self-normalised importance-sampling average over K codes of a function g(z) has
asymptotic variance V_g / K with V_g = E_p[rho (g - E_p g)^2], rho = p(z|x_o) / q(z) (q the
proposal): computed here independently by Monte Carlo over 400,000 exact posterior draws. Drawing M
rows from the weighted pool adds the variance of one row over M (law of total variance): Sigma_ii / M
for a mean, (Sigma_ii Sigma_jj + Sigma_ij^2) / M for a sample covariance of Gaussian rows (the
Wishart variance). B independent rows divide both by B. Every check allows 5 standard deviations
(a false failure about once in 10^6 entries; the seeds are fixed, so a pass is reproducible).
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import MultivariateNormal, Normal

from vaekit.checks import MAX_IMAGES, MAX_K
from vaekit.contract import Batch, Family, Traits
from vaekit.distributions import DiagonalGaussian
from vaekit.distributions.likelihoods import GaussianDist
from vaekit.distributions.mixed import Block, MixedConfig
from vaekit.distributions.priors import StandardNormal, StandardNormalConfig
from vaekit.errors import InputError
from vaekit.models import CVAEConfig, HVAEConfig, VAEConfig, VQVAEConfig, WAEConfig, build_model
from vaekit.nn.mlp import MLPConfig
from vaekit.sample.impute import MAX_DRAWS, conditional_draws, impute_draws, impute_mean

D, L, S = 5, 2, 0.5
G = torch.Generator().manual_seed(0)
W = torch.randn(D, L, generator=G, dtype=torch.float64)
B_ = torch.randn(D, generator=G, dtype=torch.float64)


class PPCA(Family):
    """The linear-Gaussian model with a diagonal Gaussian encoder: mean shifted by `shift` posterior
    standard deviations and spread `scale` times the posterior's marginal standard deviation (so
    neither the default nor the bad encoder is the exact posterior, whose covariance is full)."""

    traits = Traits()

    def __init__(self, shift: float = 0.0, scale: float = 1.0) -> None:
        super().__init__()
        self.register_buffer("W", W.float())
        self.register_buffer("b", B_.float())
        self.prior = StandardNormal(StandardNormalConfig(), L)
        self.data_shape = (D,)
        self.shift, self.scale = shift, scale

    def proposal(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and standard deviation of q(z|x_o) per row, (B, L) each."""
        wo = self.W * mask[:, :, None]  # (B, D, L): rows of W of the missing entries zeroed
        cov = torch.linalg.inv(torch.eye(L) + wo.transpose(1, 2) @ wo / S**2)  # (B, L, L)
        mu = (cov @ wo.transpose(1, 2) @ ((x - self.b) * mask)[:, :, None])[:, :, 0] / S**2
        sd = cov.diagonal(dim1=1, dim2=2).sqrt()
        return mu + self.shift * sd, self.scale * sd

    def encode(self, batch):
        mu, sd = self.proposal(batch.x, batch.mask)
        return DiagonalGaussian(mu, 2 * torch.log(sd))

    def decode(self, z, y=None):
        mu = z @ self.W.T + self.b
        return GaussianDist(mu, torch.full_like(mu, math.log(S)), 1)


# ----------------------------------------------------------------------------- the closed form (float64)


def conditional(x: torch.Tensor, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and covariance of p(x_m | x_o) for one row."""
    c = W @ W.T + S**2 * torch.eye(D, dtype=torch.float64)
    o, m = obs, ~obs
    if not o.any():
        return B_[m], c[m][:, m]
    gain = c[m][:, o] @ torch.linalg.inv(c[o][:, o])
    return B_[m] + gain @ (x[o] - B_[o]), c[m][:, m] - gain @ c[o][:, m]


def posterior(x: torch.Tensor, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and covariance of p(z | x_o) for one row."""
    wo = W[obs]
    cov = torch.linalg.inv(torch.eye(L, dtype=torch.float64) + wo.T @ wo / S**2)
    return cov @ wo.T @ (x[obs] - B_[obs]) / S**2, cov


def snis_variance(x, obs, q_mu, q_sd, g) -> torch.Tensor:
    """V_g = E_p[rho (g - E_p g)^2] per output of g, p = p(z|x_o), rho = p / q (see the docstring)."""
    mu, cov = posterior(x, obs)
    p = MultivariateNormal(mu, cov)
    eps = torch.randn(400_000, L, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    z = mu + eps @ torch.linalg.cholesky(cov).T
    rho = torch.exp(p.log_prob(z) - Normal(q_mu.double(), q_sd.double()).log_prob(z).sum(-1))
    v = g(z)
    return (rho[:, None] * (v - v.mean(0)) ** 2).mean(0)


def rows(n: int, patterns: list[list[int]], seed: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """n rows drawn from the model, and masks cycling through `patterns` (lists of observed entries)."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, L, generator=g, dtype=torch.float64)
    x = z @ W.T + B_ + S * torch.randn(n, D, generator=g, dtype=torch.float64)
    mask = torch.zeros(n, D)
    for i in range(n):
        mask[i, patterns[i % len(patterns)]] = 1
    return x.float(), mask


PATTERNS = [[0, 1, 2], [1, 3], [4], []]  # the empty one: a row with nothing observed imputes from p(x)


# ----------------------------------------------------------------------------- against the closed form


@pytest.mark.parametrize("shift,scale,chunk", [(0.0, 1.0, None), (1.0, 1.5, None), (1.0, 1.5, 3)])
def test_impute_mean_matches_the_conditional_mean(shift, scale, chunk):
    model, k = PPCA(shift, scale), 20_000
    x, mask = rows(8, PATTERNS)
    got = impute_mean(model, Batch(x, mask=mask), num_samples=k, generator=torch.Generator().manual_seed(3), chunk=chunk)
    q_mu, q_sd = model.proposal(x, mask)
    for i in range(len(x)):
        obs = mask[i].bool()
        if obs.all():
            continue
        truth, _ = conditional(x[i].double(), obs)
        post_mu, _ = posterior(x[i].double(), obs)
        v = snis_variance(x[i].double(), obs, q_mu[i], q_sd[i], lambda z: z @ W[~obs].T)
        tol = 5 * (v / k).sqrt()
        assert ((got[i, ~obs].double() - truth).abs() <= tol).all(), (i, got[i, ~obs], truth, tol)
        if shift:  # the bad proposal: the plain average over q's draws, E_q[W_m z + b_m], is far off
            plain = q_mu[i].double() @ W[~obs].T + B_[~obs]
            assert ((plain - truth).abs() > 4 * tol).any(), (i, plain, truth, tol)


def _moments_tolerance(x, obs, q_mu, q_sd, cov, draws: int, pool: int):
    """5 sigma for the mean and covariance of `draws` rows resampled from weighted pools of `pool` codes in all."""
    idx = torch.triu_indices(len(cov), len(cov))
    w_m = W[~obs]

    def centred(z):
        f = z @ w_m.T
        return f - f.mean(0)

    v_mean = snis_variance(x, obs, q_mu, q_sd, lambda z: z @ w_m.T)
    v_cov = snis_variance(x, obs, q_mu, q_sd, lambda z: (centred(z)[:, :, None] * centred(z)[:, None, :])[:, idx[0], idx[1]])
    d = cov.diagonal()
    mean_tol = 5 * (d / draws + v_mean / pool).sqrt()
    wishart = d[idx[0]] * d[idx[1]] + cov[idx[0], idx[1]] ** 2
    cov_tol = 5 * (wishart / draws + v_cov / pool).sqrt()
    return idx, mean_tol, cov_tol


def test_impute_draws_have_the_conditional_mean_and_covariance():
    # B copies of one row: each has its own pool of K codes, so the draws of all rows pool as B M draws from B K codes.
    model, k, m, b = PPCA(1.0, 1.5), 5_000, 1_000, 8
    x, mask = rows(1, [[0, 2]])
    x, mask = x.expand(b, D).clone(), mask.expand(b, D).clone()
    obs = mask[0].bool()
    got = impute_draws(model, Batch(x, mask=mask), draws=m, num_samples=k, generator=torch.Generator().manual_seed(4))
    assert got.shape == (m, b, D)
    sample = got[:, :, ~obs].reshape(-1, int((~obs).sum())).double()  # (B M, missing)
    mean, cov = conditional(x[0].double(), obs)
    q_mu, q_sd = model.proposal(x[:1], mask[:1])
    idx, mean_tol, cov_tol = _moments_tolerance(x[0].double(), obs, q_mu[0], q_sd[0], cov, b * m, b * k)
    assert ((sample.mean(0) - mean).abs() <= mean_tol).all(), (sample.mean(0), mean, mean_tol)
    got_cov = torch.cov(sample.T)[idx[0], idx[1]]
    assert ((got_cov - cov[idx[0], idx[1]]).abs() <= cov_tol).all(), (got_cov, cov, cov_tol)
    # without the weights the draws would centre on the proposal's mean, far outside the tolerance
    plain = q_mu[0].double() @ W[~obs].T + B_[~obs]
    assert ((plain - mean).abs() > 4 * mean_tol).any()


def test_conditional_draws_have_the_conditional_mean_and_covariance():
    model, k, n = PPCA(), 40_000, 8_000
    x, mask = rows(1, [[1, 4]], seed=5)
    obs = mask[0].bool()
    got = conditional_draws(model, x[0], mask[0], n, num_samples=k, generator=torch.Generator().manual_seed(6))
    assert got.shape == (n, D)
    assert torch.equal(got[:, obs], x[0, obs].expand(n, -1))
    mean, cov = conditional(x[0].double(), obs)
    # the proposal is the prior N(0, I)
    idx, mean_tol, cov_tol = _moments_tolerance(x[0].double(), obs, torch.zeros(L), torch.ones(L), cov, n, k)
    sample = got[:, ~obs].double()
    assert ((sample.mean(0) - mean).abs() <= mean_tol).all(), (sample.mean(0), mean, mean_tol)
    got_cov = torch.cov(sample.T)[idx[0], idx[1]]
    assert ((got_cov - cov[idx[0], idx[1]]).abs() <= cov_tol).all(), (got_cov, cov, cov_tol)
    assert ((B_[~obs] - mean).abs() > 4 * mean_tol).any()  # the given entries move the answer: not just p(x)


# ----------------------------------------------------------------------------- exactness and seeding


def test_observed_entries_come_back_bit_identical_and_missing_ones_may_hold_nan():
    model = PPCA(1.0, 1.5)
    x, mask = rows(6, PATTERNS)
    x = x + 1e-7 * torch.arange(D)  # values no float32 round trip through the model would keep
    x_nan = torch.where(mask.bool(), x, torch.tensor(float("nan")))
    draws = impute_draws(model, Batch(x_nan, mask=mask), draws=3, num_samples=50, generator=torch.Generator().manual_seed(0))
    mean = impute_mean(model, Batch(x_nan, mask=mask), num_samples=50, generator=torch.Generator().manual_seed(0))
    keep = mask.bool()
    assert torch.equal(draws[:, keep], x[keep].expand(3, -1)) and torch.equal(mean[keep], x[keep])
    assert torch.isfinite(draws).all() and torch.isfinite(mean).all()
    # NaN or zeros in the missing entries give the same answer: the model never sees them
    zeros = torch.where(keep, x, torch.zeros(()))
    again = impute_draws(model, Batch(zeros, mask=mask), draws=3, num_samples=50, generator=torch.Generator().manual_seed(0))
    assert torch.equal(draws, again)


def test_the_same_seed_gives_the_same_result_and_another_seed_another():
    model = PPCA(1.0, 1.5)
    x, mask = rows(5, PATTERNS)
    b = Batch(x, mask=mask)

    def run(seed):
        g = torch.Generator().manual_seed(seed)
        return (impute_draws(model, b, draws=2, num_samples=30, generator=g),
                impute_mean(model, b, num_samples=30, generator=g),
                conditional_draws(model, x[0], mask[0], 4, num_samples=30, generator=g))

    first, second, other = run(7), run(7), run(8)
    assert all(torch.equal(p, q) for p, q in zip(first, second))
    assert all(not torch.equal(p, q) for p, q in zip(first, other))


def test_the_model_is_left_in_the_mode_it_was_in():
    model = PPCA().train()
    x, mask = rows(2, PATTERNS)
    impute_mean(model, Batch(x, mask=mask), num_samples=5)
    assert model.training


# ----------------------------------------------------------------------------- tables and real families

LAYOUT = (Block("age", "gaussian", 0, 1), Block("income", "mode", 1, 3, modes=2), Block("colour", "categorical", 4, 3),
          Block("smoker", "bernoulli", 7, 1), Block("visits", "poisson", 8, 1))
TABLE_D = 9


def _table(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """n valid rows of LAYOUT and block-wise masks (each column missing with probability 1/2)."""
    g = torch.Generator().manual_seed(seed)
    age = torch.randn(n, 1, generator=g)
    mode = torch.nn.functional.one_hot(torch.randint(2, (n,), generator=g), 2).float()
    colour = torch.nn.functional.one_hot(torch.randint(3, (n,), generator=g), 3).float()
    smoker = torch.randint(2, (n, 1), generator=g).float()
    visits = torch.randint(5, (n, 1), generator=g).float()
    x = torch.cat([age, torch.randn(n, 1, generator=g), mode, colour, smoker, visits], 1)
    cols = torch.rand(n, len(LAYOUT), generator=g) < 0.5
    mask = torch.cat([cols[:, i:i + 1].expand(n, blk.width) for i, blk in enumerate(LAYOUT)], 1).float()
    return x, mask


def _table_model():
    torch.manual_seed(0)
    net = MLPConfig(hidden=(16,))
    return build_model(VAEConfig(latent_dim=3, encoder=net, decoder=net, likelihood=MixedConfig(layout=LAYOUT)), (TABLE_D,))


def _check_row_kinds(rows: torch.Tensor) -> None:
    rows = rows.reshape(-1, TABLE_D)
    for onehot in (rows[:, 2:4], rows[:, 4:7]):
        assert ((onehot == 0) | (onehot == 1)).all() and (onehot.sum(-1) == 1).all()
    assert ((rows[:, 7] == 0) | (rows[:, 7] == 1)).all()
    assert (rows[:, 8] >= 0).all() and (rows[:, 8] == rows[:, 8].round()).all()


def test_a_table_model_imputes_exact_one_hots_and_counts():
    model = _table_model()
    x, mask = _table(40)
    g = torch.Generator().manual_seed(0)
    draws = impute_draws(model, Batch(x, mask=mask), draws=4, num_samples=20, generator=g, chunk=7)
    assert draws.shape == (4, 40, TABLE_D)
    _check_row_kinds(draws)
    assert torch.equal(draws[:, mask.bool()], x[mask.bool()].expand(4, -1))
    mean = impute_mean(model, Batch(x, mask=mask), num_samples=20, generator=g)
    assert torch.allclose(mean[:, 4:7].sum(-1), torch.ones(40), atol=1e-5)  # imputed probabilities of a category
    given = torch.zeros(TABLE_D, dtype=torch.bool)
    given[4:7] = True
    rows = conditional_draws(model, x[0], given.float(), 25, num_samples=50, generator=g)
    _check_row_kinds(rows)
    assert torch.equal(rows[:, 4:7], x[0, 4:7].expand(25, -1))


def test_a_conditional_family_takes_its_labels():
    torch.manual_seed(0)
    net = MLPConfig(hidden=(8,))
    model = build_model(CVAEConfig(name="cvae", latent_dim=2, encoder=net, decoder=net, num_classes=3,
                                   likelihood=MixedConfig(layout=LAYOUT)), (TABLE_D,), num_classes=3)
    x, mask = _table(6)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    g = torch.Generator().manual_seed(0)
    _check_row_kinds(impute_draws(model, Batch(x, y, mask), draws=2, num_samples=10, generator=g))
    _check_row_kinds(conditional_draws(model, x[0], mask[0], 3, num_samples=10, generator=g, y=1))
    with pytest.raises(InputError, match="needs the label of every row"):
        impute_mean(model, Batch(x, mask=mask), num_samples=10)
    with pytest.raises(InputError, match="needs the class y"):
        conditional_draws(model, x[0], mask[0], 3, num_samples=10)


# ----------------------------------------------------------------------------- refusals


class NoBound(PPCA):
    traits = Traits(bound=False)


@pytest.mark.parametrize("make,message", [
    (lambda: build_model(HVAEConfig(latent_dim=2, lower_dims=(2,), hidden=8), (4,)), "hierarchical family 'hvae'"),
    (lambda: build_model(VQVAEConfig(latent_dim=2, code_dim=2, codebook_size=4, prior_hidden=8), (4,)), "'vqvae': its point-mass"),
    (lambda: build_model(WAEConfig(latent_dim=2), (4,)), "'wae'"),
    (lambda: NoBound(), "'NoBound': it has no likelihood bound"),
    (lambda: torch.nn.Linear(2, 2), "expects a vaekit model"),
])
def test_families_the_maths_does_not_cover_are_refused(make, message):
    model = make()
    x, mask = torch.zeros(2, 4), torch.ones(2, 4)
    for call in (lambda: impute_draws(model, Batch(x, mask=mask)), lambda: impute_mean(model, Batch(x, mask=mask)),
                 lambda: conditional_draws(model, x[0], mask[0], 2)):
        with pytest.raises(InputError, match=message):
            call()


def _bad_arguments():
    x, mask = rows(3, PATTERNS)
    b = Batch(x, mask=mask)
    nan_obs = x.clone()
    nan_obs[0, 0] = float("nan")  # row 0 observes entry 0
    return {
        "draws 0": (lambda m: impute_draws(m, b, draws=0), "draws must be at least 1"),
        "draws too many": (lambda m: impute_draws(m, b, draws=MAX_DRAWS + 1), f"at most {MAX_DRAWS}"),
        "samples 0": (lambda m: impute_mean(m, b, num_samples=0), "num_samples must be at least 1"),
        "samples too many": (lambda m: impute_mean(m, b, num_samples=MAX_K + 1), "num_samples must be at most"),
        "samples not int": (lambda m: impute_mean(m, b, num_samples=2.5), "must be an integer"),
        "chunk 0": (lambda m: impute_mean(m, b, chunk=0), "chunk must be at least 1"),
        "no mask": (lambda m: impute_mean(m, Batch(x)), "needs the mask"),
        "mask values": (lambda m: impute_mean(m, Batch(x, mask=mask * 2)), "other than 0 and 1"),
        "x shape": (lambda m: impute_mean(m, Batch(x[:, :3], mask=mask[:, :3])), r"shape \(N, 5\)"),
        "x ints": (lambda m: impute_mean(m, Batch(x.long(), mask=mask)), "floating-point"),
        "not a batch": (lambda m: impute_mean(m, x), "expects a vaekit Batch"),
        "nan observed": (lambda m: impute_draws(m, Batch(nan_obs, mask=mask)), "NaN or infinite values in observed"),
        "n 0": (lambda m: conditional_draws(m, x[0], mask[0], 0), "n must be at least 1"),
        "n too many": (lambda m: conditional_draws(m, x[0], mask[0], MAX_IMAGES + 1), f"n must be at most {MAX_IMAGES}"),
        "given mask shape": (lambda m: conditional_draws(m, x[0], mask[0, :3], 2), "mask tensor"),
        "y unconditional": (lambda m: conditional_draws(m, x[0], mask[0], 2, y=1), "unconditional"),
    }


@pytest.mark.parametrize("case", sorted(_bad_arguments()))
def test_bad_arguments_are_refused_in_one_line(case):
    call, message = _bad_arguments()[case]
    with pytest.raises(InputError, match=message) as info:
        call(PPCA())
    assert "\n" not in str(info.value)


def test_observed_values_the_likelihood_cannot_hold_are_refused():
    model = _table_model()
    x, mask = _table(4)
    mask[2] = 1
    x[2, 8] = -3.0  # a negative count: probability 0 under the Poisson column
    with pytest.raises(InputError, match="row 2 have no probability"):
        impute_draws(model, Batch(x, mask=mask), num_samples=5)
