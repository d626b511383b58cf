import pytest
import torch

from vaekit.config import parse_config
from vaekit.errors import ConfigError
from vaekit.models import build_model
from vaekit.registry import SAMPLERS
from vaekit.sample import GMMSampler, PriorSampler, sample


class FixedEncoder(torch.nn.Module):
    def forward(self, x):  # codes = the first two inputs; a small log-variance
        return torch.cat([x[:, :2], torch.full_like(x[:, :2], -6.0)], -1)


def _model():
    cfg = parse_config({"model": {"latent_dim": 2, "encoder": {"hidden": [4]}, "decoder": {"hidden": [4]},
                                  "likelihood": {"name": "gaussian", "variance": "fixed"}}})
    model = build_model(cfg.model, (3,))
    model.encoder = FixedEncoder()
    return model


def test_gmm_sampler_follows_the_training_codes_not_the_prior():
    torch.manual_seed(0)
    # Two tight clusters of codes at (+3, +3) and (-3, -3): far from the N(0, I) prior.
    centres = torch.tensor([[3.0, 3.0], [-3.0, -3.0]])
    x = torch.cat([centres[torch.randint(0, 2, (2000,))] + 0.2 * torch.randn(2000, 2), torch.zeros(2000, 1)], 1)
    model = _model()
    gmm = SAMPLERS.get("gmm")(model, components=2).fit(x)
    z = gmm.latents(4000, generator=torch.Generator().manual_seed(0))
    assert ((z - centres[0]).norm(dim=1) < 1).float().mean() > 0.45
    assert ((z - centres[1]).norm(dim=1) < 1).float().mean() > 0.45
    torch.testing.assert_close(z.std(0), x[:, :2].std(0), atol=0.1, rtol=0)
    # the density is highest at the clusters and tiny at the prior's mode
    assert gmm.log_prob(centres).min() > gmm.log_prob(torch.zeros(1, 2)).max() + 20
    hot = gmm.latents(4000, 1.0, torch.Generator().manual_seed(0))
    cold = gmm.latents(4000, 0.3, torch.Generator().manual_seed(0))
    spread = lambda z: torch.cdist(z, centres).min(dim=1).values.mean()  # noqa: E731  distance to the nearest centre
    torch.testing.assert_close(spread(cold) / spread(hot), torch.tensor(0.3), atol=0.05, rtol=0)
    out = sample(model, 5, seed=0, sampler=gmm)
    assert out.shape == (5, 3) and torch.equal(out, sample(model, 5, seed=0, sampler=gmm))


def test_prior_sampler_is_the_models_sample():
    model = _model()
    a = PriorSampler(model).fit().sample(4, 0.7, torch.Generator().manual_seed(1))
    b = model.sample(4, 0.7, torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b)


def test_unfitted_or_bad_gmm():
    with pytest.raises(ConfigError, match="fitted first"):
        GMMSampler(_model()).latents(3)
    with pytest.raises(ConfigError):
        GMMSampler(_model(), components=0)
