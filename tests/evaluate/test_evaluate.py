"""Evaluation: the importance-sampled NLL, active units and the `evaluate` runner, on a tiny
trained model."""

from __future__ import annotations

import copy
import io
import json
import math
import sys

import numpy as np

import pytest
import torch
from torch import nn

from vaekit.errors import ConfigError
from vaekit.evaluate import active_units, elbo_stats, evaluate, importance_nll, posterior_moments
from vaekit.data.load import limit as limit_split
from vaekit.evaluate.nll import auto_chunk, decoder_numbers
from vaekit.run import load_run
from vaekit.train.loop import train


@pytest.fixture(scope="module")
def data(make_data):
    return make_data(n_train=256, n_eval=64)


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_config, data):
    out = tmp_path_factory.mktemp("evaluate") / "run"
    train(tiny_config("train.epochs=8"), out, dataset=data, log=lambda msg: None)
    return load_run(out, dataset=data)


# ----------------------------------------------------------------------------- importance NLL


def test_nll_is_below_the_negative_elbo_and_above_zero(run, data):
    x = data.test.x
    nll = importance_nll(run.model, x, 500, seed=0)
    assert nll.shape == (len(x),) and nll.dtype == torch.float64
    neg_elbo = sum(-elbo_stats(run.model, x, seed=s)["elbo"] for s in range(10)) / 10
    assert nll.mean() < neg_elbo - 0.2  # a tighter bound than the ELBO, on average
    assert (nll > 0).all()  # binary data under a Bernoulli likelihood: p(x) <= 1, and the estimate bounds it


def test_nll_with_one_sample_is_the_negative_elbo(run, data):
    x = data.test.x.repeat(8, 1, 1, 1)  # more draws per example for a tighter comparison
    nll1 = importance_nll(run.model, x, 1, seed=3)
    stats = elbo_stats(run.model, x, seed=4)
    assert abs(float(nll1.mean()) + stats["elbo"]) < 4 * math.sqrt(2) * stats["elbo_stderr"]


def test_nll_decreases_with_k(run, data):
    means = [float(importance_nll(run.model, data.test.x, k, seed=0).mean()) for k in (1, 10, 100, 1000)]
    assert all(b <= a + 0.05 for a, b in zip(means, means[1:])), means  # weakly, up to sampling noise
    assert means[-1] < means[0] - 0.3


def test_same_seed_and_chunk_give_identical_estimates(run, data):
    x = data.test.x
    a = importance_nll(run.model, x, 50, chunk_size=7, seed=0)
    assert torch.equal(a, importance_nll(run.model, x, 50, chunk_size=7, seed=0))
    assert not torch.equal(a, importance_nll(run.model, x, 50, chunk_size=7, seed=1))


def test_chunk_size_does_not_bias_the_estimate(run, data):
    """Chunks may draw other samples, so the estimates are compared statistically: the mean
    paired difference lies within 4 standard errors, and within the seed-to-seed spread."""
    x = data.test.x.repeat(4, 1, 1, 1)
    a = importance_nll(run.model, x, 60, chunk_size=60, seed=0)
    for chunk in (1, 7, 25):
        d = a - importance_nll(run.model, x, 60, chunk_size=chunk, seed=5)
        assert abs(float(d.mean())) < 4 * float(d.std()) / math.sqrt(len(d)) + 1e-9


class ZeroWeights(nn.Module):
    """A stand-in model whose log-weights are all 0: the estimate is 0 when the chunks together
    draw exactly K samples, and log(K'/K) (at least log(8/7) = 0.13 here) when they draw K'."""

    num_dims = 4

    def __init__(self) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(()))
        self.draws: list[int] = []

    def log_weights(self, batch, num_samples: int) -> torch.Tensor:
        self.draws.append(num_samples)
        return torch.zeros(num_samples, len(batch))


@pytest.mark.parametrize("k, chunk, batch", [(10, 3, 4), (10, 10, 7), (10, 64, 7), (1, 5, 10), (7, 0, 3)])
def test_chunks_and_batches_cover_exactly_k_samples_and_every_example(k, chunk, batch):
    model = ZeroWeights()
    nll = importance_nll(model, torch.zeros(10, 4), k, batch_size=batch, chunk_size=chunk)
    assert nll.dtype == torch.float64 and nll.shape == (10,)
    assert nll.abs().max() < 1e-12  # fp64 rounding at most, far below a wrong count's log(8/7)
    batches = -(-10 // batch)
    assert sum(model.draws) == k * batches and max(model.draws) <= (chunk or k)


def test_auto_chunk_fills_the_budget():
    assert auto_chunk(5000, 100, 784) == (16 << 20) // (100 * 784 * 4)
    assert auto_chunk(10, 100, 784) == 10  # never more than K
    assert auto_chunk(5000, 100_000, 784) == 1  # at least one


def test_auto_chunk_is_used_when_chunk_size_is_zero(run, data):
    x = data.test.x
    chunk = auto_chunk(300, 16, decoder_numbers(run.model))
    assert torch.equal(importance_nll(run.model, x, 300, batch_size=16, chunk_size=0, seed=0),
                       importance_nll(run.model, x, 300, batch_size=16, chunk_size=chunk, seed=0))


def test_seeded_estimates_leave_the_global_stream_and_mode_alone(run, data):
    run.model.train()
    try:
        torch.manual_seed(11)
        expected = torch.rand(3)
        torch.manual_seed(11)
        importance_nll(run.model, data.test.x[:5], 20, seed=0)
        elbo_stats(run.model, data.test.x[:5], seed=0)
        assert torch.equal(torch.rand(3), expected)
        assert run.model.training
    finally:
        run.model.eval()
    a = importance_nll(run.model, data.test.x[:5], 20, seed=None)
    assert not torch.equal(a, importance_nll(run.model, data.test.x[:5], 20, seed=None))  # seed=None: fresh draws


# ----------------------------------------------------------------------------- active units


def test_active_units_count_dimensions_whose_posterior_mean_varies():
    g = torch.Generator().manual_seed(0)
    base = torch.randn(1000, 4, generator=g)
    mu = base * torch.tensor([0.0, 0.05, 0.2, 1.0])  # variances about 0, 0.0025, 0.04, 1
    count, var = active_units(mu, threshold=0.01)
    assert count == 2 and var.shape == (4,)
    torch.testing.assert_close(var, base.double().var(0) * torch.tensor([0.0, 0.05, 0.2, 1.0]).double() ** 2)
    assert active_units(mu, threshold=2.0)[0] == 0
    assert active_units(mu[:1])[0] == 0  # one example has no spread


def mu_layer(model) -> nn.Linear:
    """The encoder's output layer; its first latent_dim rows give the posterior mean."""
    return [m for m in model.encoder.modules() if isinstance(m, nn.Linear)][-1]


@pytest.mark.parametrize("ignored", [[1, 3], [0, 1, 2, 3]])
def test_dimensions_the_encoder_ignores_are_inactive(run, data, ignored):
    model = copy.deepcopy(run.model)
    layer = mu_layer(model)
    with torch.no_grad():
        layer.weight[ignored] = 0.0  # those means no longer depend on x
        layer.bias[ignored] = 0.3
    mu, logvar = posterior_moments(model, data.test.x, batch_size=10)
    assert mu.shape == logvar.shape == (len(data.test.x), 4)
    count, var = active_units(mu)
    assert count == 4 - len(ignored)
    assert set(torch.nonzero(var > 0.01).flatten().tolist()) == set(range(4)) - set(ignored)
    assert (mu[:, ignored] == 0.3).all()


def test_the_trained_model_uses_every_dimension(run, data):
    mu, _ = posterior_moments(run.model, data.test.x)
    assert active_units(mu)[0] == 4


# ----------------------------------------------------------------------------- the runner

KEYS = {"split", "num_examples", "importance_samples", "elbo", "elbo_stderr", "recon", "kl", "nll", "nll_stderr",
        "nll_nats_per_dim", "nll_bits_per_dim", "active_units", "latent_dim", "num_dims"}


def test_evaluate_writes_eval_split_json(run, data):
    result = evaluate(run, "test", 30, limit=40)
    path = run.path / "eval_test.json"
    stored = json.loads(path.read_text())
    assert set(stored) == set(result)
    for key, value in result.items():  # approx key by key: it takes no lists nested in a dict
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            assert stored[key] == pytest.approx(value), key
        elif isinstance(value, list) and all(isinstance(v, (int, float)) for v in value):
            assert stored[key] == pytest.approx(value), key
        else:
            assert stored[key] == value, key
    assert KEYS <= set(result)
    assert result["split"] == "test" and result["num_examples"] == 40 and result["importance_samples"] == 30
    assert result["latent_dim"] == 4 and result["num_dims"] == 64 and result["active_units"] == 4
    assert result["nll_bits_per_dim"] == pytest.approx(result["nll"] / (64 * math.log(2)))
    assert result["nll_nats_per_dim"] == pytest.approx(result["nll"] / 64)
    assert result["elbo"] == pytest.approx(result["recon"] - result["kl"])
    # --limit takes the seeded random subset that data.limit takes, not a prefix
    x = limit_split(data.test, 40, np.random.default_rng(0)).x
    assert not torch.equal(x, data.test.x[:40])
    assert result["nll"] == pytest.approx(float(importance_nll(run.model, x, 30, batch_size=100, seed=0).mean()))
    assert result["elbo"] == pytest.approx(elbo_stats(run.model, x, seed=0)["elbo"])
    assert -result["elbo"] > result["nll"] > 0


def test_evaluate_defaults_come_from_the_eval_config(run):
    result = evaluate(run, write=False)  # tiny config: split test, K = 20
    assert result["split"] == "test" and result["importance_samples"] == 20 and result["num_examples"] == 64
    assert not (run.path / "eval_val.json").exists()
    evaluate(run, "val", 5)
    assert json.loads((run.path / "eval_val.json").read_text())["split"] == "val"


def test_evaluate_is_repeatable_and_rejects_k_below_one(run):
    a, b = evaluate(run, "test", 10, write=False), evaluate(run, "test", 10, write=False)
    timing = ("seconds", "measured")  # durations, and when each group was measured
    assert {k: v for k, v in a.items() if k not in timing} == {k: v for k, v in b.items() if k not in timing}
    with pytest.raises(ConfigError, match="at least 1"):
        evaluate(run, "test", 0)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_sees_the_nll_progress_and_a_log_does_not(run, data, monkeypatch):
    """K=5000 on 10,000 images runs for minutes: a bar on a terminal, nothing in a captured log."""
    for stream, shown in ((Terminal(), True), (io.StringIO(), False)):
        monkeypatch.setattr(sys, "stderr", stream)
        importance_nll(run.model, data.test.x[:20], 5, batch_size=7)
        assert ("NLL (K=5)" in stream.getvalue()) == shown
