import math

import torch

from vaekit.config import parse_config
from vaekit.distributions import DiagonalGaussian
from vaekit.models import build_model
from vaekit.models.btcvae import kl_decomposition
from family_helpers import loss_of
from vaekit.train.schedules import capacity_at


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

    model.on_train_start({"train_size": 500})
    assert int(model.dataset_size) == 500 and "dataset_size" in model.state_dict()
    out = loss_of(model, torch.rand(8, 6).round())
    assert torch.isfinite(out.loss) and {"mi", "tc", "dwkl"} <= set(out.metrics)


def test_capacity_rises_linearly_in_the_trainers_schedule():
    cfg = parse_config({"model": {"name": "capacity_vae", "latent_dim": 2, "capacity": 10.0, "capacity_steps": 4,
                                  "gamma": 3.0}})
    model = build_model(cfg.model, (6,))
    target = model.traits.kl_target
    assert [capacity_at(step, target) for step in range(6)] == [0.0, 2.5, 5.0, 7.5, 10.0, 10.0]
    assert capacity_at(7, None) == 0.0  # families without a KL target
    x = torch.rand(8, 6).round()
    torch.manual_seed(0)
    out = loss_of(model, x, capacity=2.5)
    torch.manual_seed(0)
    terms = model(x)  # the same draw
    torch.testing.assert_close(out.loss, -terms.recon.mean() + 3.0 * (terms.kl.mean() - 2.5).abs())
    assert out.metrics["capacity"].item() == 2.5
    assert "steps" not in model.state_dict()  # the schedule's step is the trainer's, saved in its state


def test_a_capacity_run_saved_with_the_old_step_counter_still_loads():
    cfg = parse_config({"model": {"name": "capacity_vae", "latent_dim": 2}})
    model = build_model(cfg.model, (6,))
    state = {**model.state_dict(), "steps": torch.tensor(17)}
    model.load_state_dict(state)  # the old buffer is dropped, not an unexpected key
