"""Beta warm-up and learning-rate schedules: values at chosen steps against hand computations."""

from __future__ import annotations

import math

import pytest

from vaekit.config import ObjectiveConfig, TrainConfig
from vaekit.train.schedules import beta_at, lr_at, plateau_update


def test_beta_rises_linearly_over_the_warmup_epochs():
    obj = ObjectiveConfig(beta=2.0, warmup_epochs=2.0)
    steps_per_epoch = 10  # so warm-up lasts 20 steps
    assert [beta_at(s, steps_per_epoch, obj) for s in (0, 5, 10, 15, 20, 35)] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.0]
    assert beta_at(3, 4, ObjectiveConfig(beta=1.0, warmup_epochs=0.5)) == 1.0  # fractional epochs: 2 steps
    assert beta_at(1, 4, ObjectiveConfig(beta=1.0, warmup_epochs=0.5)) == 0.5


def test_beta_without_warmup_is_constant():
    obj = ObjectiveConfig(beta=0.25)
    assert {beta_at(s, 7, obj) for s in (0, 1, 1000)} == {0.25}


def test_lr_warmup_then_constant():
    tc = TrainConfig(lr=0.1, lr_warmup_steps=4)
    values = [lr_at(s, 100, tc) for s in range(6)]
    assert values == pytest.approx([0.025, 0.05, 0.075, 0.1, 0.1, 0.1])


def test_cosine_runs_from_lr_to_min_lr_after_warmup():
    tc = TrainConfig(lr=1.0, min_lr=0.1, lr_schedule="cosine", lr_warmup_steps=10)
    total = 110  # 100 steps of decay after the warm-up
    assert lr_at(9, total, tc) == pytest.approx(1.0)  # the last warm-up step reaches the base rate
    assert lr_at(10, total, tc) == pytest.approx(1.0)
    assert lr_at(60, total, tc) == pytest.approx(0.55)  # half way: the mean of lr and min_lr
    assert lr_at(35, total, tc) == pytest.approx(0.1 + 0.45 * (1 + math.cos(math.pi / 4)))
    assert lr_at(110, total, tc) == pytest.approx(0.1)
    assert lr_at(500, total, tc) == pytest.approx(0.1)  # never below the floor past the end
    decay = [lr_at(s, total, tc) for s in range(10, 111)]
    assert decay == sorted(decay, reverse=True)


def test_plateau_scale_sets_the_rate_above_its_floor():
    tc = TrainConfig(lr=0.1, min_lr=0.02, lr_schedule="plateau")
    assert lr_at(50, 100, tc, plateau_scale=1.0) == pytest.approx(0.1)
    assert lr_at(50, 100, tc, plateau_scale=0.5) == pytest.approx(0.05)
    assert lr_at(50, 100, tc, plateau_scale=0.125) == pytest.approx(0.02)
    assert lr_at(50, 100, TrainConfig(lr=0.1), plateau_scale=0.5) == 0.1  # other schedules ignore it


def test_plateau_update_cuts_after_every_patience_epochs_without_improvement():
    tc = TrainConfig(lr_schedule="plateau", plateau_patience=2, plateau_factor=0.5)
    scale = 1.0
    history = []
    for since_best in (0, 1, 2, 3, 4, 0, 1, 2):
        scale = plateau_update(scale, since_best, tc)
        history.append(scale)
    assert history == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125]
    assert plateau_update(1.0, 2, TrainConfig(lr_schedule="cosine", plateau_patience=2)) == 1.0
