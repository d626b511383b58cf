import pytest
import torch
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

from vaekit.config import parse_config
from vaekit.distributions import GaussianMixture, VampPrior
from vaekit.distributions.mixtures import MixtureConfig, VampPriorConfig
from vaekit.errors import ConfigError
from vaekit.models import build_model
from family_helpers import loss_of


def _reference(weights, mu, logvar):
    return MixtureSameFamily(Categorical(probs=weights), Independent(Normal(mu, torch.exp(0.5 * logvar)), 1))


def test_gaussian_mixture_log_prob_and_samples_match_torch():
    torch.manual_seed(0)
    prior = GaussianMixture(MixtureConfig(components=4), 3)
    with torch.no_grad():
        prior.logits.copy_(torch.tensor([0.0, 1.0, -1.0, 0.5]))
        prior.logvar.copy_(torch.randn(4, 3) * 0.3)
    ref = _reference(torch.softmax(prior.logits, 0), prior.mu, prior.logvar)
    z = torch.randn(5, 7, 3)
    torch.testing.assert_close(prior.log_prob(z), ref.log_prob(z))
    s = prior.sample(40_000, generator=torch.Generator().manual_seed(0)).detach()
    torch.testing.assert_close(s.mean(0), ref.mean.detach(), atol=0.03, rtol=0)
    torch.testing.assert_close(s.var(0), ref.variance.detach(), atol=0.05, rtol=0.03)


def test_vampprior_is_the_mixture_of_posteriors_of_its_pseudo_inputs():
    torch.manual_seed(0)
    model = build_model(parse_config({"model": {"latent_dim": 2, "encoder": {"hidden": [8]}, "decoder": {"hidden": [8]},
                                                 "prior": {"name": "vampprior", "components": 6}}}).model, (5,))
    assert isinstance(model.prior, VampPrior)
    q = model.encode(model.prior.pseudo_inputs)
    ref = _reference(torch.full((6,), 1 / 6), q.mu.detach(), q.logvar.detach())
    z = torch.randn(11, 2)
    torch.testing.assert_close(model.prior.log_prob(z).detach(), ref.log_prob(z))
    # brute force: the average of the six posterior densities
    brute = torch.stack([q.__class__(q.mu[k], q.logvar[k]).log_prob(z).exp() for k in range(6)]).mean(0).log()
    torch.testing.assert_close(model.prior.log_prob(z).detach(), brute.detach(), rtol=1e-4, atol=1e-5)


def test_vampprior_is_saved_and_loaded_with_the_model(tmp_path):
    cfg = parse_config({"model": {"latent_dim": 2, "prior": {"name": "vampprior", "components": 3}}}).model
    a, b = build_model(cfg, (4,)), build_model(cfg, (4,))
    assert "prior.pseudo_inputs" in a.state_dict()
    b.load_state_dict(a.state_dict())
    z = torch.randn(3, 2)
    torch.testing.assert_close(a.prior.log_prob(z), b.prior.log_prob(z))  # b's prior reads b's encoder


def test_temperature_narrows_mixture_samples():
    prior = GaussianMixture(MixtureConfig(components=1), 2)
    g = torch.Generator().manual_seed(0)
    assert prior.sample(20_000, 0.5, g).detach().std(0).mean() < 0.6 * prior.sample(20_000, 1.0, g).detach().std(0).mean()


def test_bad_component_counts_and_free_bits():
    with pytest.raises(ConfigError):
        GaussianMixture(MixtureConfig(components=0), 2)
    with pytest.raises(ConfigError):
        VampPrior(VampPriorConfig(components=0), 2, (4,))
    model = build_model(parse_config({"model": {"latent_dim": 2, "prior": {"name": "mixture"}}}).model, (4,))
    with pytest.raises(ConfigError, match="free bits"):
        loss_of(model, torch.rand(3, 4), free_bits=0.5)
