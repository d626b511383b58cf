import torch

from vaekit.config import parse_config
from vaekit.models import build_model
from family_helpers import loss_of

X = torch.bernoulli(torch.full((16, 10), 0.4), generator=torch.Generator().manual_seed(0))


def _model(name, **kw):
    torch.manual_seed(0)
    cfg = parse_config({"model": {"name": name, "latent_dim": 3, "encoder": {"hidden": [16]}, "decoder": {"hidden": [16]}, **kw}})
    return build_model(cfg.model, (10,))


def test_alpha0_lambda1_is_the_vae():
    info, vae = _model("infovae", alpha=0.0, lam=1.0), _model("vae")
    vae.load_state_dict(info.state_dict())
    torch.manual_seed(1)
    a = loss_of(info, X).loss
    torch.manual_seed(1)
    b = loss_of(vae, X).loss
    torch.testing.assert_close(a, b)


def test_loss_is_recon_plus_weighted_kl_and_mmd():
    for alpha, lam in ((1.0, 50.0), (0.5, 10.0)):
        model = _model("infovae", alpha=alpha, lam=lam)
        out = loss_of(model, X, beta=1.0)
        m = out.metrics
        expected = -m["recon"] + (1 - alpha) * m["kl"] + (alpha + lam - 1) * m["mmd"]
        torch.testing.assert_close(out.loss, expected)


def test_wae_codes_are_deterministic():
    model = _model("wae")
    torch.manual_seed(0)
    a = loss_of(model, X).metrics["recon"]
    torch.manual_seed(1)
    b = loss_of(model, X).metrics["recon"]
    torch.testing.assert_close(a, b)  # z = mu(x): the reconstruction term does not depend on the noise


def test_the_wae_posterior_is_a_point_mass_without_a_bound():
    import pytest

    from vaekit.distributions import PointMass
    from vaekit.errors import ConfigError

    model = _model("wae")
    q = model.encode(X)
    assert isinstance(q, PointMass) and q.mu.shape == (16, 3)  # the encoder emits the code itself
    assert model.traits.posterior == "point_mass" and not model.traits.bound
    terms = model(X)
    assert torch.equal(terms.kl, torch.zeros(16)) and torch.equal(terms.z, q.mu)
    with pytest.raises(ConfigError, match="no likelihood bound"):
        model.log_weights(X, 3)
    with pytest.raises(ConfigError, match="no KL term for model.alpha"):
        _model("wae", alpha=0.5)
