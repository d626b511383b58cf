import math

import torch

from vaekit.config import parse_config
from vaekit.models import build_model
from vaekit.objectives import iwae_bound, log_likelihood, log_mean_exp


def test_iwae_bound_is_stable_and_exact_for_equal_weights():
    log_w = torch.full((1000, 3), -1e4)
    torch.testing.assert_close(iwae_bound(log_w), torch.full((3,), -1e4))
    log_w = torch.tensor([[0.0], [math.log(3.0)]])
    torch.testing.assert_close(iwae_bound(log_w), torch.tensor([math.log(2.0)]))


def test_log_mean_exp_matches_a_float64_reference_and_is_stable():
    g = torch.Generator().manual_seed(0)
    log_w = torch.randn(257, 6, generator=g, dtype=torch.float64) * 30  # weights spanning e^±100
    reference = torch.logsumexp(log_w, dim=0) - math.log(257)  # fp64: agrees to a few ulps
    torch.testing.assert_close(log_mean_exp(log_w), reference, atol=1e-12, rtol=1e-13)
    assert log_mean_exp(log_w.float()).dtype == torch.float64  # fp32 weights, fp64 combination
    far = torch.full((1000, 2), -1e4)  # exp would underflow without the shift by the maximum
    torch.testing.assert_close(log_mean_exp(far), torch.full((2,), -1e4, dtype=torch.float64), atol=1e-9, rtol=0)
    edge = log_mean_exp(torch.tensor([[-math.inf, 0.0], [-math.inf, -math.inf]]))
    assert edge[0] == -math.inf and abs(float(edge[1]) + math.log(2)) < 1e-15


def test_log_mean_exp_of_equal_weights_has_no_log_k_rounding():
    """K equal weights w give w: exp(0) = 1, a sum of K ones is exact, K / K = 1, log 1 = 0. The
    form logsumexp - log K gave -1.2e-7 instead of 0 on some CPUs (two roundings of log K)."""
    for k in (1, 7, 49, 5000):
        for w in (0.0, -3.5):
            out = log_mean_exp(torch.full((k, 3), w))
            assert (out - w).abs().max() < 1e-12


class Fixed(torch.nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, h):
        return self.fn(h)


def linear_gaussian(post_scale: float, post_logvar: float):
    """p(z) = N(0, 1), p(x|z) = N(x; z, 0.5^2), so p(x) = N(0, 1.25) exactly; the exact posterior
    is N(0.8 x, 0.2). Other encoder settings give a deliberately wrong posterior."""
    cfg = parse_config({"model": {"latent_dim": 1, "encoder": {"hidden": [4]}, "decoder": {"hidden": [4]},
                                  "likelihood": {"name": "gaussian", "variance": "fixed", "sigma": 0.5}}}).model
    model = build_model(cfg, (1,))
    model.decoder = Fixed(lambda z: z)
    model.encoder = Fixed(lambda x: torch.cat([post_scale * x, torch.full_like(x, post_logvar)], -1))
    return model


X = torch.linspace(-2.5, 2.5, 200).unsqueeze(1)
EXACT = torch.distributions.Normal(0.0, math.sqrt(1.25)).log_prob(X).squeeze(1)


def test_iwae_matches_exact_likelihood_with_exact_posterior():
    model = linear_gaussian(0.8, math.log(0.2))
    torch.manual_seed(0)
    torch.testing.assert_close(log_likelihood(model, X, 100, 30), EXACT.double(), atol=1e-4, rtol=0)


def test_iwae_at_least_elbo_rising_with_k_towards_log_px():
    model = linear_gaussian(0.3, math.log(0.6))  # a poor posterior: a wide gap to close
    m, v, s2 = 0.3 * X.squeeze(1), 0.6, 0.25  # the analytic ELBO of this model:
    elbo = -0.5 * math.log(2 * math.pi * s2) - ((X.squeeze(1) - m) ** 2 + v) / (2 * s2) - 0.5 * (m**2 + v - 1 - math.log(v))
    estimates = {}
    for k in (1, 5, 50, 500):
        torch.manual_seed(1)
        estimates[k] = log_likelihood(model, X, k, chunk_size=64)
    torch.manual_seed(2)
    l1 = log_likelihood(model, X.repeat(100, 1), 1, 1)  # L_1, averaged over 100 draws per point
    torch.testing.assert_close(l1.mean(), elbo.mean().double(), atol=0.05, rtol=0)  # L_1 is the ELBO
    means = [estimates[k].mean().item() for k in (1, 5, 50, 500)]
    assert means == sorted(means) and means[-1] - means[0] > 0.2
    assert means[-1] <= EXACT.mean().item() + 1e-3  # a lower bound on average
    assert EXACT.mean().item() - means[-1] < 0.05  # and close to log p(x) at large K
