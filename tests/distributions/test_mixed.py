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


def test_mixed_dist_alone_is_exact_in_float64():
    # Without the likelihood's float32 cast the only error left is float64 rounding (~1e-15 per term).
    params, log_sigma, x = torch.randn(6, 12, dtype=torch.float64), torch.randn(4, dtype=torch.float64), rows(6)
    dist = MixedDist(LAYOUT, params, log_sigma, min_sigma=1e-3)
    lp = dist.log_prob(x)
    assert lp.dtype == torch.float64
    torch.testing.assert_close(lp, reference_terms(x.double(), unpack(params, log_sigma)).sum(-1), rtol=1e-12, atol=1e-12)


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


# Upper tail points at a false-alarm rate of 1e-6 per statistic (scipy.stats: chi2.isf(1e-6, 2),
# norm.isf(0.5e-6)): a correct sampler fails one of the checks below with probability ~1e-5 over
# seeds (and never with the fixed seed), while a wrong probability of 0.02 at N = 20000 moves a
# statistic by > 7 standard errors.
CHI2_2DF = 27.63
Z = 4.89


def chi_square(counts, probs):
    expected = probs * counts.sum()
    return float(((counts - expected) ** 2 / expected).sum())


def test_samples_are_valid_and_follow_the_probabilities():
    lik = likelihood("learned")
    n = 20_000
    one = torch.tensor([[0.4, 0.5, 1.0, -1.0, 0.0, -0.5, 0.5, 0.0, 1.2, -0.6, 0.3, 1.1]])  # (1, 12)
    dist = lik(one.expand(n, 12))
    x = dist.sample(torch.Generator().manual_seed(0))  # (n, D)
    lik.validate(x, "samples")  # exact one-hots, 0/1, whole counts: no fractional categories
    p = unpack(one[0], lik.log_sigma.detach())
    colour = x[:, 5:8].sum(0)
    assert chi_square(colour, torch.softmax(p["logits_col"], -1)) < CHI2_2DF
    modes = x[:, 2:5]
    assert chi_square(modes.sum(0), torch.softmax(p["logits_inc"], -1)) < CHI2_2DF
    for k in range(3):  # alpha under its drawn mode follows N(mu_k, sigma_k)
        alpha = x[modes[:, k] == 1, 1]
        se = p["ls_inc"][k].exp() / math.sqrt(len(alpha))
        assert abs(alpha.mean() - p["mu_inc"][k]) < Z * se
    sigma = p["ls_age"].exp()
    assert abs(x[:, 0].mean() - p["mu_age"]) < Z * sigma / math.sqrt(n)
    assert abs(x[:, 0].var() - sigma**2) < Z * sigma**2 * math.sqrt(2 / (n - 1))
    q = torch.sigmoid(p["logit_smoker"])
    assert abs(x[:, 8].mean() - q) < Z * math.sqrt(q * (1 - q) / n)
    rate = p["log_rate"].exp()
    assert abs(x[:, 9].mean() - rate) < Z * math.sqrt(rate / n)


def test_sample_uses_the_generator():
    dist = likelihood("decoder")(torch.randn(50, 16))
    a, b = dist.sample(torch.Generator().manual_seed(3)), dist.sample(torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert not torch.equal(a, dist.sample(torch.Generator().manual_seed(4)))


def test_mode_and_mean():
    lik = likelihood("learned")
    params = torch.randn(5, 12)
    p, dist = unpack(params, lik.log_sigma.detach()), lik(params)
    mode, mean = dist.mode, dist.mean
    m = p["logits_inc"].argmax(-1)
    torch.testing.assert_close(mode[:, 0], p["mu_age"])
    torch.testing.assert_close(mode[:, 1], p["mu_inc"].gather(-1, m[:, None])[:, 0])
    assert torch.equal(mode[:, 2:5], torch.nn.functional.one_hot(m, 3).float())
    assert torch.equal(mode[:, 5:8], torch.nn.functional.one_hot(p["logits_col"].argmax(-1), 3).float())
    assert torch.equal(mode[:, 8], (p["logit_smoker"] > 0).float())
    assert torch.equal(mode[:, 9], p["log_rate"].exp().floor())
    probs = torch.softmax(p["logits_inc"], -1)
    torch.testing.assert_close(mean[:, 1], (probs * p["mu_inc"]).sum(-1))
    torch.testing.assert_close(mean[:, 2:5], probs)
    torch.testing.assert_close(mean[:, 5:8], torch.softmax(p["logits_col"], -1))
    torch.testing.assert_close(mean[:, 8], torch.sigmoid(p["logit_smoker"]))
    torch.testing.assert_close(mean[:, 9], p["log_rate"].exp())


def test_layout_accepts_dicts_and_rejects_what_does_not_tile_the_row():
    as_dicts = [dict(name=b.name, kind=b.kind, start=b.start, width=b.width, modes=b.modes) for b in LAYOUT]
    assert check_layout(as_dicts, D) == tuple(LAYOUT)
    bad = {
        "gap": ([Block("a", "gaussian", 0, 1), Block("b", "gaussian", 2, 1)], "starts at 2"),
        "overlap": ([Block("a", "categorical", 0, 3), Block("b", "gaussian", 2, 1)], "starts at 2"),
        "short": ([Block("a", "gaussian", 0, 1)], "covers 1 entries but a row has 2"),
        "kind": ([Block("a", "categorial", 0, 2)], "did you mean 'categorical'"),
        "width": ([Block("a", "bernoulli", 0, 2)], "needs width 1"),
        "modes": ([Block("a", "mode", 0, 2, modes=2)], "width 1 \\+ modes"),
        "name": ([Block("a", "gaussian", 0, 1), Block("a", "gaussian", 1, 1)], "two blocks named 'a'"),
        "key": ([dict(name="a", kind="gaussian", start=0, width=1, mode=1)], "did you mean 'modes'"),
        "empty": ([], "no blocks"),
    }
    for case, (layout, message) in bad.items():
        with pytest.raises(InputError, match=message):
            check_layout(layout, 2 if case != "modes" else 3)
    with pytest.raises(ConfigError, match="layout"):
        check_layout([Block("a", "gaussian", 0, 2)], 2, error=ConfigError)


def test_likelihood_checks_its_shapes():
    with pytest.raises(InputError, match="covers 10 entries but a row has 11"):
        MixedLikelihood(MixedConfig(), (11,), LAYOUT)
    with pytest.raises(ConfigError, match="shape \\(D,\\)"):
        MixedLikelihood(MixedConfig(), (2, 5), LAYOUT)
    lik = likelihood("learned")
    with pytest.raises(InputError, match="needs 12 decoder outputs per row, got 16"):
        lik(torch.zeros(2, 16))
    with pytest.raises(InputError, match="has 10 entries, got x with 9"):
        lik(torch.zeros(2, 12)).log_prob(torch.zeros(2, 9))


def test_learned_sigma_only_when_some_column_is_continuous():
    cats = [Block("c", "categorical", 0, 3), Block("b", "bernoulli", 3, 1)]
    for variance in ("learned", "decoder"):
        lik = MixedLikelihood(MixedConfig(variance=variance), (4,), cats)
        assert lik.param_shape() == (4,) and not list(lik.parameters())
    lik = likelihood("learned", sigma=0.5)
    assert [p.shape for p in lik.parameters()] == [torch.Size([4])]
    fresh = MixedLikelihood(MixedConfig(sigma=0.5), (D,), LAYOUT)
    torch.testing.assert_close(fresh.log_sigma.detach(), torch.full((4,), math.log(0.5)))


def test_config_rejects_a_starting_sigma_under_the_floor_and_unknown_variance():
    with pytest.raises(ConfigError, match="below model.likelihood.min_sigma"):
        MixedConfig(sigma=0.001, min_sigma=0.01)
    MixedConfig(variance="decoder", sigma=0.001, min_sigma=0.01)  # no starting sigma to hide
    with pytest.raises(ConfigError, match="'learned' or 'decoder'"):
        MixedConfig(variance="fixed")
    with pytest.raises(ConfigError, match="min_sigma must be positive"):
        MixedConfig(min_sigma=0.0)


def test_validate_names_the_column_and_skips_masked_rows():
    lik = likelihood()
    x = rows(6)
    lik.validate(x, "train")
    broken = {
        "colour": (lambda v: v[0, 5:8].fill_(0.5), "not one-hot"),
        "income": (lambda v: v[1, 2:5].fill_(1.0), "not one-hot"),
        "smoker": (lambda v: v[2, 8].fill_(0.5), "other than 0 and 1"),
        "visits": (lambda v: v[3, 9].fill_(1.5), "whole counts"),
        "age": (lambda v: v[4, 0].fill_(float("nan")), "non-finite"),
    }
    for column, (breaks, message) in broken.items():
        bad = x.clone()
        breaks(bad)
        with pytest.raises(DataError, match=f"train column '{column}'.*{message}"):
            lik.validate(bad, "train")
        lik.validate(bad, "train", mask=torch.isfinite(bad) & (bad == x))  # the broken entry marked missing
    with pytest.raises(DataError, match="rows of 10 entries"):
        lik.validate(torch.zeros(3, 9), "train")
