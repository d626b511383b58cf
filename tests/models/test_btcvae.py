import math

import torch

from vaekit.config import parse_config
from vaekit.distributions import DiagonalGaussian
from vaekit.models import build_model
from vaekit.models.btcvae import kl_decomposition


def _terms(mu, logvar, n=10_000, seed=0):
    torch.manual_seed(seed)
    q = DiagonalGaussian(mu, logvar)
    z = q.rsample()
    log_pz = -0.5 * (math.log(2 * math.pi) + z**2).sum(-1)
    return kl_decomposition(z, mu, logvar, log_pz, n), q, z, log_pz


def test_terms_add_up_to_the_monte_carlo_kl():
    mu, logvar = torch.randn(64, 3), torch.randn(64, 3) * 0.2 - 1
    t, q, z, log_pz = _terms(mu, logvar)
    torch.testing.assert_close(t["mi"] + t["tc"] + t["dwkl"], q.log_prob(z) - log_pz)


def test_total_correlation_near_zero_for_independent_latents_and_large_for_dependent():
    torch.manual_seed(0)
    m = 1024
    independent = torch.randn(m, 2)
    dependent = independent[:, :1].repeat(1, 2)  # the two dimensions carry the same code
    logvar = torch.full((m, 2), math.log(0.3**2))
    tc_ind = _terms(independent, logvar, n=60_000)[0]["tc"].mean().item()
    tc_dep = _terms(dependent, logvar, n=60_000)[0]["tc"].mean().item()
    assert abs(tc_ind) < 0.1
    assert tc_dep > 0.5


def test_betatcvae_knows_the_training_set_size_and_trains():
    cfg = parse_config({"model": {"name": "betatcvae", "latent_dim": 2, "encoder": {"hidden": [16]}, "decoder": {"hidden": [16]}}})
    model = build_model(cfg.model, (6,))

    class Data:
        train = [0] * 500

    model.on_train_start(Data())
    assert int(model.dataset_size) == 500 and "dataset_size" in model.state_dict()
    out = model.loss(torch.rand(8, 6).round())
    assert torch.isfinite(out.loss) and {"mi", "tc", "dwkl"} <= set(out.metrics)


def test_capacity_rises_linearly_and_is_saved():
    cfg = parse_config({"model": {"name": "capacity_vae", "latent_dim": 2, "capacity": 10.0, "capacity_steps": 4}})
    model = build_model(cfg.model, (6,))
    x = torch.rand(8, 6).round()
    seen = []
    for _ in range(6):
        seen.append(model.loss(x).metrics["capacity"].item())
    assert seen == [0.0, 2.5, 5.0, 7.5, 10.0, 10.0]
    model.eval()
    model.loss(x)
    assert int(model.steps) == 6  # evaluation does not advance the schedule
    assert "steps" in model.state_dict()
