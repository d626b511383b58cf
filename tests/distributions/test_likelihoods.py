import pytest
import torch
from torch.distributions import Bernoulli as TorchBernoulli
from torch.distributions import Independent, Normal

from vaekit.distributions import Bernoulli, BernoulliConfig, Gaussian, GaussianConfig
from vaekit.errors import DataError


def test_bernoulli_log_prob_matches_torch_and_sums_event_dims():
    lik = Bernoulli(BernoulliConfig(), (1, 4, 4))
    logits = torch.randn(3, 1, 4, 4, dtype=torch.float64)
    x = torch.randint(0, 2, (3, 1, 4, 4)).double()
    ref = Independent(TorchBernoulli(logits=logits), 3).log_prob(x)
    torch.testing.assert_close(lik(logits).log_prob(x).double(), ref.float().double(), rtol=1e-5, atol=1e-4)


def test_bernoulli_broadcasts_over_sample_dimension():
    lik = Bernoulli(BernoulliConfig(), (6,))
    logits = torch.randn(5, 2, 6)  # (S, B, D)
    x = torch.randint(0, 2, (2, 6)).float()
    lp = lik(logits).log_prob(x)
    assert lp.shape == (5, 2)
    torch.testing.assert_close(lp[3], lik(logits[3]).log_prob(x))


def test_bernoulli_rejects_data_outside_unit_interval():
    lik = Bernoulli(BernoulliConfig(), (3,))
    lik.validate(torch.tensor([[0.0, 0.5, 1.0]]), "train")
    with pytest.raises(DataError, match="gaussian"):
        lik.validate(torch.tensor([[0.0, 2.0, 1.0]]), "train")


@pytest.mark.parametrize("variance", ["fixed", "learned", "decoder"])
def test_gaussian_log_prob_matches_torch(variance):
    lik = Gaussian(GaussianConfig(variance=variance, sigma=0.3), (2, 3))
    assert lik.param_shape() == ((4 if variance == "decoder" else 2), 3)
    params = torch.randn(4, *lik.param_shape())
    x = torch.randn(4, 2, 3)
    if variance == "decoder":
        mu, log_sigma = params[:, :2], params[:, 2:]
    else:
        mu, log_sigma = params, torch.full((2, 3), torch.log(torch.tensor(0.3)).item())
    ref = Independent(Normal(mu, log_sigma.exp().expand_as(mu)), 2).log_prob(x)
    torch.testing.assert_close(lik(params).log_prob(x), ref, rtol=1e-5, atol=1e-4)


def test_gaussian_learned_variance_is_a_parameter_with_a_floor():
    lik = Gaussian(GaussianConfig(variance="learned", min_sigma=0.01), (3,))
    assert any(p is lik.log_sigma for p in lik.parameters())
    with torch.no_grad():
        lik.log_sigma.fill_(-50.0)
    assert torch.allclose(lik(torch.zeros(1, 3)).log_sigma, torch.log(torch.tensor(0.01)))
    fixed = Gaussian(GaussianConfig(variance="fixed"), (3,))
    assert not list(fixed.parameters())


def test_sample_shapes_and_mean():
    lik = Gaussian(GaussianConfig(variance="fixed", sigma=1e-3), (5,))
    params = torch.randn(2, 5)
    d = lik(params)
    torch.testing.assert_close(d.sample(), params, atol=0.01, rtol=0)
    b = Bernoulli(BernoulliConfig(), (5,))(torch.full((2, 5), 30.0))
    assert torch.equal(b.sample(), torch.ones(2, 5))
