"""The batched log-probability of the mixed likelihood (vaekit/distributions/mixed_batched.py)
against an independent column-by-column computation with torch.distributions, on random layouts
with missing cells: values and gradients."""

import math

import pytest
import torch
from torch.distributions import Bernoulli, Categorical, Normal, Poisson

from vaekit.distributions.mixed import MixedConfig, MixedDist, MixedLikelihood
from vaekit.distributions.mixed_batched import _groups, build_plan
from vaekit.distributions.mixed_layout import Block, n_params, n_sigmas

KINDS = ("gaussian", "mode", "categorical", "bernoulli", "poisson")
FLOOR = math.log(0.05)


def random_layout(g: torch.Generator, extra: int = 6) -> list[Block]:
    """Every kind, with mode and categorical widths (10, 2, 1) and (12, 2, 1) that split each of
    the two into padded groups, then `extra` blocks of random kinds and widths, in random order."""
    spec = [("mode", 10), ("mode", 2), ("mode", 1), ("categorical", 12), ("categorical", 2), ("categorical", 1),
            ("gaussian", 1), ("bernoulli", 1), ("poisson", 1)]
    spec += [(KINDS[int(torch.randint(0, 5, (), generator=g))], int(torch.randint(1, 13, (), generator=g)))
             for _ in range(extra)]
    blocks, start = [], 0
    for i in torch.randperm(len(spec), generator=g).tolist():
        kind, k = spec[i]
        width, modes = {"mode": (1 + k, k), "categorical": (k, 0)}.get(kind, (1, 0))
        blocks.append(Block(f"c{i}", kind, start, width, modes))
        start += width
    return blocks


def random_rows(blocks: list[Block], n: int, g: torch.Generator) -> torch.Tensor:
    x = torch.zeros(n, blocks[-1].end, dtype=torch.float64)
    rows = torch.arange(n)
    for b in blocks:
        if b.kind == "gaussian":
            x[:, b.start] = torch.randn(n, generator=g, dtype=torch.float64)
        elif b.kind == "mode":
            x[:, b.start] = torch.rand(n, generator=g, dtype=torch.float64) * 4 - 2
            x[rows, b.start + 1 + torch.randint(0, b.modes, (n,), generator=g)] = 1.0
        elif b.kind == "categorical":
            x[rows, b.start + torch.randint(0, b.width, (n,), generator=g)] = 1.0
        elif b.kind == "bernoulli":
            x[:, b.start] = torch.randint(0, 2, (n,), generator=g).double()
        else:
            x[:, b.start] = torch.randint(0, 9, (n,), generator=g).double()
    return x


def reference(blocks, params, log_sigma, x, mask):
    """sum over observed columns of log p(x_column), one torch.distributions object per column,
    reading the decoder layout of the module's table directly."""
    decoder = log_sigma is None
    at, sig, total = 0, 0, 0.0
    for b in blocks:
        p = params[..., at:at + n_params(b, decoder)]
        at += p.shape[-1]
        k = n_sigmas(b)
        own = p.shape[-1] - (k if decoder else 0)
        ls = (p[..., own:] if decoder else log_sigma[sig:sig + k].expand(*p.shape[:-1], k)).clamp(min=FLOOR)
        sig += 0 if decoder else k
        v = x[..., b.start:b.end]
        if b.kind == "gaussian":
            term = Normal(p[..., 0], ls[..., 0].exp()).log_prob(v[..., 0])
        elif b.kind == "mode":
            m = v[..., 1:].argmax(-1).expand(p.shape[:-1])
            mu = p[..., b.modes:2 * b.modes].gather(-1, m[..., None])[..., 0]
            sigma = ls.gather(-1, m[..., None])[..., 0].exp()
            term = Categorical(logits=p[..., :b.modes]).log_prob(m) + Normal(mu, sigma).log_prob(v[..., 0])
        elif b.kind == "categorical":
            term = Categorical(logits=p).log_prob(v.argmax(-1).expand(p.shape[:-1]))
        elif b.kind == "bernoulli":
            term = Bernoulli(logits=p[..., 0]).log_prob(v[..., 0])
        else:
            term = Poisson(p[..., 0].exp()).log_prob(v[..., 0])
        observed = mask[..., b.start:b.end].all(-1)
        total = total + torch.where(observed, term, torch.zeros_like(term))
    return total


def missing(blocks, n: int, g: torch.Generator) -> torch.Tensor:
    """A bool mask (n, D): whole columns missing, and single entries of wider blocks (the whole
    column then counts as missing)."""
    keep = torch.rand(n, len(blocks), generator=g) > 0.3
    mask = keep.repeat_interleave(torch.tensor([b.width for b in blocks]), dim=1)
    return mask & (torch.rand(mask.shape, generator=g) > 0.05)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("variance", ["learned", "decoder"])
def test_log_prob_and_gradients_match_torch_distributions_on_random_layouts(seed, variance):
    g = torch.Generator().manual_seed(seed)
    blocks = random_layout(g)
    plan = build_plan(blocks, variance == "decoder")
    assert len(plan.mode_groups) >= 2 and len(plan.categorical_groups) >= 2  # padding across groups is exercised
    n, s = 9, 2
    x, mask = random_rows(blocks, n, g), missing(blocks, n, g)
    x_nan = x.masked_fill(~mask, float("nan"))  # missing entries may hold anything
    decoder = variance == "decoder"
    params = (2 * torch.randn(s, n, sum(n_params(b, decoder) for b in blocks), generator=g, dtype=torch.float64))
    params.requires_grad_(True)
    log_sigma = None
    if not decoder:  # some under the floor, whose gradient the clamp stops
        log_sigma = torch.randn(sum(n_sigmas(b) for b in blocks), generator=g, dtype=torch.float64)
        log_sigma.requires_grad_(True)
    inputs = [params] if decoder else [params, log_sigma]
    dist = MixedDist(blocks, params, log_sigma, min_sigma=math.exp(FLOOR))
    for m in (None, mask):
        got = dist.log_prob(x if m is None else x_nan, None if m is None else m.double())
        want = reference(blocks, params, log_sigma, x, torch.ones_like(mask) if m is None else mask)
        assert got.shape == (s, n) and torch.isfinite(got).all()
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-9)
        weights = torch.randn(s, n, generator=g, dtype=torch.float64)  # a gradient that tells the rows apart
        g_got = torch.autograd.grad((got * weights).sum(), inputs)
        g_want = torch.autograd.grad((want * weights).sum(), inputs)
        for a, b in zip(g_got, g_want):
            assert torch.isfinite(a).all()
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-9)


def test_likelihood_in_float32_matches_the_float64_reference():
    g = torch.Generator().manual_seed(5)
    blocks = random_layout(g)
    lik = MixedLikelihood(MixedConfig(min_sigma=math.exp(FLOOR)), (blocks[-1].end,), blocks)
    with torch.no_grad():
        lik.log_sigma.copy_(torch.randn(lik.log_sigma.shape, generator=g))
    x, mask = random_rows(blocks, 16, g), missing(blocks, 16, g)
    params = torch.randn(16, *lik.param_shape(), generator=g, requires_grad=True)
    got = lik(params).log_prob(x.float(), mask.float())
    assert got.dtype == torch.float32
    got.sum().backward()
    p64, s64 = params.detach().double().requires_grad_(True), lik.log_sigma.detach().double().requires_grad_(True)
    want = reference(blocks, p64, s64, x, mask)
    want.sum().backward()
    torch.testing.assert_close(got.double(), want, rtol=1e-5, atol=1e-4)  # float32 sums of ~30 terms
    torch.testing.assert_close(params.grad.double(), p64.grad, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(lik.log_sigma.grad.double(), s64.grad, rtol=1e-5, atol=1e-5)


def test_groups_pad_at_most_twice_and_keep_every_block():
    g = torch.Generator().manual_seed(0)
    for _ in range(50):
        widths = torch.randint(1, 40, (int(torch.randint(1, 15, (), generator=g)),), generator=g).tolist()
        blocks = [Block(f"c{i}", "categorical", 0, w) for i, w in enumerate(widths)]
        groups = _groups(blocks, lambda b: b.width)
        assert sorted(b.name for grp in groups for b in grp) == sorted(b.name for b in blocks)
        for grp in groups:
            assert max(b.width for b in grp) == grp[0].width  # padded to the first, the widest
            assert grp[0].width * len(grp) <= 2 * sum(b.width for b in grp)
    # 12 and 2 pad to 24 entries for 14 (at most 28); a 1 more would make 36 for 15
    assert [[b.width for b in grp] for grp in _groups([Block(str(w), "categorical", 0, w) for w in (2, 12, 1)],
                                                      lambda b: b.width)] == [[12, 2], [1]]


@pytest.mark.parametrize("layout", [
    [Block("a", "categorical", 0, 4), Block("b", "bernoulli", 4, 1), Block("c", "categorical", 5, 1)],  # nothing continuous
    [Block("a", "gaussian", 0, 1), Block("b", "gaussian", 1, 1)],  # no logits
    [Block("a", "mode", 0, 4, modes=3)],  # one block
    [Block("a", "poisson", 0, 1), Block("b", "mode", 1, 2, modes=1)],
])
def test_layouts_of_few_kinds(layout):
    g = torch.Generator().manual_seed(3)
    x, mask = random_rows(layout, 6, g), missing(layout, 6, g)
    for log_sigma in (None, torch.randn(sum(n_sigmas(b) for b in layout), generator=g, dtype=torch.float64)):
        if log_sigma is not None and not log_sigma.numel():
            continue  # a likelihood with no continuous column has no learned sigma
        params = torch.randn(6, sum(n_params(b, log_sigma is None) for b in layout), generator=g, dtype=torch.float64)
        dist = MixedDist(layout, params, log_sigma, min_sigma=math.exp(FLOOR))
        torch.testing.assert_close(dist.log_prob(x), reference(layout, params, log_sigma, x, torch.ones_like(mask)),
                                   rtol=1e-5, atol=1e-9)
        torch.testing.assert_close(dist.log_prob(x, mask), reference(layout, params, log_sigma, x, mask),
                                   rtol=1e-5, atol=1e-9)
