"""Disentanglement metrics on codes whose answer is known: axis-aligned copies of the factors,
mixtures of them, duplicates, noise, and a hand-made encoder on the shapes data set."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import mutual_info_score
from torch import nn

from vaekit.config import DataConfig
from vaekit.data import load_dataset
from vaekit.data.shapes import all_factors
from vaekit.distributions import DiagonalGaussian
from vaekit.errors import ConfigError
from vaekit.evaluate import factorvae_score, mig
from vaekit.evaluate.disentangle import (
    discrete_mutual_info,
    discretize,
    disentanglement_scores,
    require_factors,
)

FACTORS = all_factors()  # (2880, 5): the full factorial grid
F = FACTORS.shape[1]


def standardised(f: np.ndarray = FACTORS) -> np.ndarray:
    return (f - f.mean(axis=0)) / f.std(axis=0)


def aligned_codes(seed: int = 0, noise: float = 0.01) -> np.ndarray:
    """One code dimension per factor, permuted, plus a little noise and one pure-noise dimension."""
    rng = np.random.default_rng(seed)
    z = standardised()[:, rng.permutation(F)] * rng.uniform(0.5, 3.0, F)
    return np.concatenate([z + noise * rng.standard_normal(z.shape), rng.standard_normal((len(z), 1))], axis=1)


# ----------------------------------------------------------------------------- building blocks


def test_discrete_mutual_info_matches_scikit_learn():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 6, 500)
    b = (a + rng.integers(0, 3, 500)) % 7  # dependent on a, not a function of it
    assert discrete_mutual_info(a, b) == pytest.approx(mutual_info_score(a, b), rel=1e-10)
    assert discrete_mutual_info(a, a) == pytest.approx(mutual_info_score(a, a), rel=1e-10)


def test_discretize_uses_equal_width_bins_between_min_and_max():
    codes = np.array([[0.0], [0.49], [0.51], [1.0]])
    assert discretize(codes, num_bins=2).ravel().tolist() == [0, 0, 1, 1]
    assert discretize(np.arange(20.0)[:, None], num_bins=20).ravel().tolist() == list(range(20))
    assert len(set(discretize(np.full((5, 1), 3.0)).ravel().tolist())) == 1  # a constant dimension: one bin


# ----------------------------------------------------------------------------- MIG


def test_mig_by_hand():
    factor = np.array([[0], [0], [1], [1]])
    assert mig(np.array([[0, 0], [0, 1], [1, 0], [1, 1]]), factor, num_bins=2) == pytest.approx(1.0)
    # second dimension [0, 0, 0, 1]: I = H(3/4, 1/4) - 0.5 log 2 nats; the gap is log 2 minus that
    second = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25)) - 0.5 * math.log(2)
    codes = np.array([[0, 0], [0, 0], [1, 0], [1, 1]])
    assert mig(codes, factor, num_bins=2) == pytest.approx((math.log(2) - second) / math.log(2))


def test_axis_aligned_codes_have_mig_near_one():
    for seed in range(3):
        assert mig(aligned_codes(seed), FACTORS) > 0.97
    assert mig(torch.tensor(aligned_codes()), torch.from_numpy(FACTORS)) > 0.97  # tensors too


def test_codes_that_mix_the_factors_have_a_low_mig():
    z = standardised()
    reflection = np.eye(F) - 2 * np.ones((F, F)) / F  # every factor in every dimension, weights 0.6 and -0.4
    assert mig(z @ reflection, FACTORS) < 0.15
    mixing = []  # random rotations in which no factor dominates a dimension (no weight above 0.7)
    for seed in range(200):
        q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((F, F)))
        if np.abs(q).max() < 0.7:
            mixing.append(q)
    assert len(mixing) >= 3
    for q in mixing[:3]:
        assert mig(z @ q, FACTORS) < 0.15


def test_a_factor_split_over_two_dimensions_has_no_gap():
    z = standardised()
    assert mig(np.concatenate([z, z + 1e-3], axis=1), FACTORS) < 0.02  # the best two dimensions tie


def test_codes_independent_of_the_factors_have_mig_near_zero():
    codes = np.random.default_rng(0).standard_normal((len(FACTORS), 6))
    assert 0 <= mig(codes, FACTORS) < 0.02


def test_mig_ignores_constant_factors_and_rejects_bad_input():
    f = np.concatenate([FACTORS, np.zeros((len(FACTORS), 1), dtype=np.int64)], axis=1)
    assert mig(aligned_codes(), f) == pytest.approx(mig(aligned_codes(), FACTORS))
    with pytest.raises(ValueError):
        mig(aligned_codes(), np.zeros((len(FACTORS), 2), dtype=np.int64))  # nothing varies
    with pytest.raises(ValueError):
        mig(aligned_codes(), FACTORS.astype(np.float32))
    with pytest.raises(ValueError):
        mig(aligned_codes()[:10], FACTORS)


# ----------------------------------------------------------------------------- FactorVAE score


def test_axis_aligned_codes_score_one():
    assert factorvae_score(aligned_codes(), FACTORS, num_train=2000, num_eval=1000) == 1.0
    z = standardised()
    assert factorvae_score(np.concatenate([z, z], axis=1), FACTORS, num_train=2000, num_eval=1000) == 1.0


def test_each_dimension_is_measured_in_its_own_spread():
    """A noisy dimension for x beside a tiny, clean one for y: in raw units the y dimension always
    varies least (the score would be 1/2); divided by their spreads, each names its factor."""
    f = FACTORS[:, [3, 4]]
    z = standardised(f)
    noise = np.random.default_rng(0).standard_normal(len(f))
    codes = np.stack([z[:, 0] + 0.5 * noise, 0.01 * z[:, 1]], axis=1)
    assert factorvae_score(codes, f, prune_variance=0.0) == 1.0


def test_codes_independent_of_the_factors_score_chance():
    codes = np.random.default_rng(0).standard_normal((len(FACTORS), 6))
    assert factorvae_score(codes, FACTORS) == pytest.approx(1 / F, abs=0.04)


def test_collapsed_dimensions_are_pruned():
    codes = np.concatenate([aligned_codes(), np.full((len(FACTORS), 2), 0.3)], axis=1)  # two constant dimensions
    assert factorvae_score(codes, FACTORS, num_train=1000, num_eval=500) == 1.0
    assert factorvae_score(np.zeros((len(FACTORS), 3)), FACTORS) == 0.0  # nothing left to vote with


def test_factorvae_score_is_seeded_and_takes_an_encoding_function():
    codes = np.random.default_rng(1).standard_normal((len(FACTORS), 4))
    a = factorvae_score(codes, FACTORS, num_train=500, num_eval=500, seed=3)
    assert a == factorvae_score(codes, FACTORS, num_train=500, num_eval=500, seed=3)
    assert a != factorvae_score(codes, FACTORS, num_train=500, num_eval=500, seed=4)
    x = torch.from_numpy(codes)
    via_function = factorvae_score(lambda xb: 2 * xb + 1, FACTORS, x=x, num_train=500, num_eval=500, seed=3,
                                   encode_batch_size=7)
    assert via_function == a  # the score is invariant to scaling and shifting each dimension
    with pytest.raises(ValueError, match="needs the inputs"):
        factorvae_score(lambda xb: xb, FACTORS)


# ----------------------------------------------------------------------------- from a model and the data set


class Centroid(nn.Module):
    """An 'encoder' whose codes are the centre of mass of the image: x and y, and nothing else."""

    def __init__(self) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(()))

    def encode(self, batch) -> DiagonalGaussian:
        img = batch.x[:, 0]  # (N, H, W)
        r = torch.arange(img.shape[-1], dtype=img.dtype) + 0.5
        mass = img.sum(dim=(1, 2))
        mu = torch.stack([(img.sum(1) * r).sum(1) / mass, (img.sum(2) * r).sum(1) / mass], dim=1)  # (N, 2)
        return DiagonalGaussian(mu, torch.zeros_like(mu))


def test_an_encoder_that_finds_the_position_disentangles_two_of_five_factors():
    data = load_dataset(DataConfig(name="shapes"))
    factors = require_factors(data.test, "shapes")
    scores = disentanglement_scores(Centroid(), data.test.x, factors, batch_size=100)
    assert 0.35 < scores["mig"] < 0.42  # x and y perfectly, shape, scale and rotation not at all: 2/5
    assert scores["factorvae_score"] == pytest.approx(2 / 5, abs=0.03)  # votes for x and y are right, the rest not


def test_sets_without_factors_are_refused_by_name():
    data = load_dataset(DataConfig(name="digits", limit=5))
    with pytest.raises(ConfigError, match="'digits' has none.*shapes"):
        require_factors(data.test, "digits")
