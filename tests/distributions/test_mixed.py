import math

import pytest
import torch
from torch.distributions import Bernoulli, Categorical, Normal, OneHotCategorical, Poisson

from vaekit.distributions.mixed import Block, MixedConfig, MixedDist, MixedLikelihood, check_layout
from vaekit.errors import ConfigError, DataError, InputError

# One block of every kind: a row is [age | alpha, 3 modes | 3 colours | smoker | visits], D = 10.
LAYOUT = [
    Block("age", "gaussian", 0, 1),
    Block("income", "mode", 1, 4, modes=3),
    Block("colour", "categorical", 5, 3),
    Block("smoker", "bernoulli", 8, 1),
    Block("visits", "poisson", 9, 1),
]
D = 10
# Float32 log-probabilities of about ten terms of magnitude up to ~30 carry rounding of ~1e-5.
TOL = dict(rtol=1e-5, atol=1e-4)


def unpack(params, log_sigma=None):
    """The documented decoder layout, sliced by hand: block after block, each block's own
    parameters then (decoder variance) its log-sigmas; learned log-sigmas are [age, income x3]."""
    if log_sigma is None:
        mu_age, ls_age = params[..., 0], params[..., 1]
        inc = params[..., 2:11]
        logits_inc, mu_inc, ls_inc = inc[..., 0:3], inc[..., 3:6], inc[..., 6:9]
        rest = params[..., 11:]
    else:
        mu_age, ls_age = params[..., 0], log_sigma[0].expand(params.shape[:-1])
        logits_inc, mu_inc = params[..., 1:4], params[..., 4:7]
        ls_inc = log_sigma[1:4].expand(mu_inc.shape)
        rest = params[..., 7:]
    return dict(mu_age=mu_age, ls_age=ls_age, logits_inc=logits_inc, mu_inc=mu_inc, ls_inc=ls_inc,
                logits_col=rest[..., 0:3], logit_smoker=rest[..., 3], log_rate=rest[..., 4])


def reference_terms(x, p):
    """Per-block log-probabilities (*batch, 5) from torch.distributions."""
    m = x[..., 2:5].argmax(-1)
    mu_m = p["mu_inc"].gather(-1, m.expand(p["mu_inc"].shape[:-1])[..., None])[..., 0]
    ls_m = p["ls_inc"].gather(-1, m.expand(p["ls_inc"].shape[:-1])[..., None])[..., 0]
    return torch.stack([
        Normal(p["mu_age"], p["ls_age"].exp()).log_prob(x[..., 0]),
        Categorical(logits=p["logits_inc"]).log_prob(m) + Normal(mu_m, ls_m.exp()).log_prob(x[..., 1]),
        OneHotCategorical(logits=p["logits_col"]).log_prob(x[..., 5:8]),
        Bernoulli(logits=p["logit_smoker"]).log_prob(x[..., 8]),
        Poisson(p["log_rate"].exp()).log_prob(x[..., 9]),
    ], -1)


def rows(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, D)
    x[:, 0] = torch.randn(n, generator=g)
    x[:, 1] = torch.rand(n, generator=g) * 2 - 1
    x[torch.arange(n), 2 + torch.randint(0, 3, (n,), generator=g)] = 1.0
    x[torch.arange(n), 5 + torch.randint(0, 3, (n,), generator=g)] = 1.0
    x[:, 8] = torch.randint(0, 2, (n,), generator=g).float()
    x[:, 9] = torch.randint(0, 7, (n,), generator=g).float()
    return x


def likelihood(variance="learned", **kw):
    lik = MixedLikelihood(MixedConfig(variance=variance, **kw), (D,), LAYOUT)
    if lik.log_sigma is not None:
        with torch.no_grad():  # distinct sigmas, so a mix-up of columns or modes shows
            lik.log_sigma.copy_(torch.tensor([-0.3, 0.2, -0.7, 0.5]))
    return lik


@pytest.mark.parametrize("variance", ["learned", "decoder"])
def test_log_prob_matches_torch_distributions_block_by_block(variance):
    lik = likelihood(variance)
    assert lik.param_shape() == ((12,) if variance == "learned" else (16,))
    params = torch.randn(6, *lik.param_shape())
    x = rows(6)
    ref = reference_terms(x, unpack(params, lik.log_sigma))
    torch.testing.assert_close(lik(params).log_prob(x), ref.sum(-1), **TOL)


def test_mask_drops_exactly_the_masked_columns():
    lik = likelihood("decoder")
    params, x = torch.randn(5, 16), rows(5)
    ref = reference_terms(x, unpack(params))  # (5, 5 blocks)
    keep = torch.tensor([[1, 1, 1, 1, 1], [0, 1, 1, 1, 1], [1, 0, 0, 1, 1], [1, 1, 1, 0, 0], [0, 0, 0, 0, 0]]).bool()
    widths = torch.tensor([1, 4, 3, 1, 1])
    mask = keep.repeat_interleave(widths, dim=1).float()  # (5, D)
    torch.testing.assert_close(lik(params).log_prob(x, mask), (ref * keep).sum(-1), **TOL)
    torch.testing.assert_close(lik(params).log_prob(x, torch.ones(5, D)), ref.sum(-1), **TOL)
    # one missing entry of a block makes the whole column missing
    partial = torch.ones(5, D)
    partial[:, 6] = 0.0
    torch.testing.assert_close(lik(params).log_prob(x, partial), ref[:, [0, 1, 3, 4]].sum(-1), **TOL)


def test_missing_entries_may_hold_nan_without_reaching_value_or_gradient():
    lik = likelihood("learned")
    params = torch.randn(4, 12, requires_grad=True)
    x, mask = rows(4), torch.ones(4, D)
    mask[:, [0, 1, 2, 3, 4, 9]] = 0.0  # age, income and visits missing
    filled = x.clone()
    filled[mask == 0] = float("nan")
    lp = lik(params).log_prob(filled, mask)
    torch.testing.assert_close(lp, lik(params).log_prob(x, mask))
    lp.sum().backward()
    assert torch.isfinite(params.grad).all() and torch.isfinite(lik.log_sigma.grad).all()
    assert torch.equal(params.grad[:, :7], torch.zeros(4, 7))  # the missing columns' parameters get none


def test_broadcasts_over_leading_sample_dimension():
    lik = likelihood("decoder")
    params, x = torch.randn(7, 3, 16), rows(3)  # (S, B, P) against (B, D)
    mask = (torch.rand(3, D, generator=torch.Generator().manual_seed(1)) > 0.3).float()
    dist = lik(params)
    lp, lpm = dist.log_prob(x), dist.log_prob(x, mask)
    assert lp.shape == lpm.shape == (7, 3)
    for s in range(7):
        torch.testing.assert_close(lp[s], lik(params[s]).log_prob(x))
        torch.testing.assert_close(lpm[s], lik(params[s]).log_prob(x, mask))
    torch.testing.assert_close(lp, reference_terms(x, unpack(params)).sum(-1), **TOL)
    assert dist.sample().shape == dist.mode.shape == dist.mean.shape == (7, 3, D)


def test_gradients_reach_every_parameter():
    lik = likelihood("learned")
    params = torch.randn(8, 12, requires_grad=True)
    lik(params).log_prob(rows(8)).sum().backward()
    assert (params.grad.abs().sum(0) > 0).all()  # every decoder output
    assert (lik.log_sigma.grad.abs() > 0).all()  # every learned sigma


@pytest.mark.parametrize("variance", ["learned", "decoder"])
def test_sigma_floor_keeps_everything_finite(variance):
    lik = likelihood(variance, min_sigma=0.05)
    params = torch.randn(4, *lik.param_shape())
    floored = params.clone()
    if variance == "learned":
        with torch.no_grad():
            lik.log_sigma.fill_(float("-inf"))
        ref = unpack(floored, torch.full((4,), math.log(0.05)))
    else:
        params[:, [1, 8, 9, 10]] = float("-inf")  # every decoder log-sigma
        floored[:, [1, 8, 9, 10]] = math.log(0.05)
        ref = unpack(floored)
    params.requires_grad_(True)
    x = rows(4)
    x[:, 0] = ref["mu_age"]  # on the mean: the peak of the density, the worst case of a collapsed sigma
    dist = lik(params)
    assert torch.equal(dist.block("age").log_sigma, torch.full((4, 1), math.log(0.05)))
    lp = dist.log_prob(x)
    assert torch.isfinite(lp).all()
    torch.testing.assert_close(lp, reference_terms(x, ref).sum(-1), **TOL)
    lp.sum().backward()
    assert torch.isfinite(params.grad).all()
    assert torch.isfinite(dist.sample(torch.Generator().manual_seed(0))).all()
