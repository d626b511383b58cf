import torch
from torch.distributions import Independent, Normal

from vaekit.distributions import DiagonalGaussian
from vaekit.distributions.priors import Prior, StandardNormal, StandardNormalConfig


def test_standard_normal_log_prob_and_temperature():
    p = StandardNormal(StandardNormalConfig(), 4)
    z = torch.randn(7, 4)
    ref = Independent(Normal(torch.zeros(4), torch.ones(4)), 1).log_prob(z)
    torch.testing.assert_close(p.log_prob(z), ref)
    g = torch.Generator().manual_seed(0)
    s = p.sample(50_000, temperature=0.5, generator=g)
    assert s.shape == (50_000, 4)
    torch.testing.assert_close(s.std(0), torch.full((4,), 0.5), atol=0.01, rtol=0)


def test_monte_carlo_kl_fallback_matches_analytic():
    class NoClosedForm(StandardNormal):
        def kl_per_dim(self, q):
            return None

    q = DiagonalGaussian(torch.randn(3, 2, dtype=torch.float64), torch.randn(3, 2, dtype=torch.float64) * 0.3)
    p = NoClosedForm(StandardNormalConfig(), 2)
    torch.manual_seed(0)
    z = q.rsample(100_000)
    mc = p.kl(q, z).mean(0)
    torch.testing.assert_close(mc, q.kl(), atol=0.03, rtol=0.02)
    assert isinstance(p, Prior)
