import torch
from torch.distributions import Independent, Normal, kl_divergence

from vaekit.distributions import DiagonalGaussian


def _q(seed=0, b=4, d=3):
    g = torch.Generator().manual_seed(seed)
    return DiagonalGaussian(torch.randn(b, d, generator=g, dtype=torch.float64),
                            torch.randn(b, d, generator=g, dtype=torch.float64) * 0.5)


def test_log_prob_matches_torch_distributions():
    q = _q()
    z = q.rsample(5)  # (5, B, D)
    ref = Independent(Normal(q.mu, q.std), 1).log_prob(z)
    torch.testing.assert_close(q.log_prob(z), ref)


def test_kl_to_standard_normal_matches_torch_and_monte_carlo():
    q = _q(1)
    ref = kl_divergence(Independent(Normal(q.mu, q.std), 1), Independent(Normal(torch.zeros_like(q.mu), torch.ones_like(q.mu)), 1))
    torch.testing.assert_close(q.kl(), ref)
    torch.manual_seed(0)
    z = q.rsample(200_000)
    std_normal = Independent(Normal(torch.zeros_like(q.mu), torch.ones_like(q.mu)), 1)
    mc = (q.log_prob(z) - std_normal.log_prob(z)).mean(0)
    torch.testing.assert_close(mc, q.kl(), atol=0.03, rtol=0.02)


def test_kl_between_diagonal_gaussians_matches_torch():
    q, p = _q(2), _q(3)
    ref = kl_divergence(Independent(Normal(q.mu, q.std), 1), Independent(Normal(p.mu, p.std), 1))
    torch.testing.assert_close(q.kl(p), ref)
    torch.testing.assert_close(q.kl(q), torch.zeros(4, dtype=torch.float64))


def test_rsample_moments_and_gradients():
    mu = torch.tensor([[1.0, -2.0]], requires_grad=True)
    logvar = torch.tensor([[0.0, 1.0]], requires_grad=True)
    q = DiagonalGaussian(mu, logvar)
    torch.manual_seed(0)
    z = q.rsample(100_000)
    torch.testing.assert_close(z.mean(0), mu.detach(), atol=0.03, rtol=0)
    torch.testing.assert_close(z.var(0), logvar.detach().exp(), atol=0.05, rtol=0.03)
    z.sum().backward()  # the reparameterisation carries gradients to both parameters
    assert mu.grad is not None and logvar.grad is not None and logvar.grad.abs().sum() > 0
