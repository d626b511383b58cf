"""Beta annealing (linear and cyclical) and learning-rate schedules: values at chosen steps against
hand computations and against the cyclical schedule's reference code."""

from __future__ import annotations

import math

import pytest

from vaekit.config import ObjectiveConfig, TrainConfig, parse_config
from vaekit.errors import ConfigError, InputError
from vaekit.train.schedules import beta_at, check_beta_schedule, lr_at, plateau_update


def test_beta_rises_linearly_over_the_warmup_epochs():
    obj = ObjectiveConfig(beta=2.0, warmup_epochs=2.0)
    steps_per_epoch = 10  # so warm-up lasts 20 steps
    assert [beta_at(s, steps_per_epoch, obj) for s in (0, 5, 10, 15, 20, 35)] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.0]
    assert beta_at(3, 4, ObjectiveConfig(beta=1.0, warmup_epochs=0.5)) == 1.0  # fractional epochs: 2 steps
    assert beta_at(1, 4, ObjectiveConfig(beta=1.0, warmup_epochs=0.5)) == 0.5


def test_beta_without_warmup_is_constant():
    obj = ObjectiveConfig(beta=0.25)
    assert {beta_at(s, 7, obj) for s in (0, 1, 1000)} == {0.25}


def test_cyclical_beta_by_hand():
    # T = 20 steps, M = 2 cycles of 10 steps, R = 0.5: beta rises over 5 steps, holds for 5.
    obj = ObjectiveConfig(beta=2.0, cycles=2, cycle_ratio=0.5)
    rise = [0.0, 0.4, 0.8, 1.2, 1.6, 2.0, 2.0, 2.0, 2.0, 2.0]
    assert [beta_at(s, 7, obj, total_steps=20) for s in range(20)] == pytest.approx(rise + rise)
    # T = 10, M = 4: cycles of T/M = 2.5 steps, restarting every ceil(2.5) = 3 steps; tau = (s mod 3) / 2.5.
    obj = ObjectiveConfig(beta=1.0, cycles=4, cycle_ratio=0.5)
    assert [beta_at(s, 7, obj, total_steps=10) for s in range(10)] == pytest.approx(
        [0.0, 0.8, 1.0, 0.0, 0.8, 1.0, 0.0, 0.8, 1.0, 0.0])
    # R = 1: beta rises over the whole cycle and never holds.
    obj = ObjectiveConfig(beta=1.0, cycles=1, cycle_ratio=1.0)
    assert [beta_at(s, 7, obj, total_steps=4) for s in range(4)] == pytest.approx([0.0, 0.25, 0.5, 0.75])


def frange_cycle_linear(n_iter: int, start: float = 0.0, stop: float = 1.0, n_cycle: int = 4, ratio: float = 0.5):
    """The schedule of Fu et al.'s own code (github.com/haofuml/cyclical_annealing, README), kept
    as they wrote it: an independent computation for T divisible by M."""
    schedule = [stop] * n_iter
    period = n_iter / n_cycle
    step = (stop - start) / (period * ratio)
    for c in range(n_cycle):
        v, i = start, 0
        while v <= stop and int(i + c * period) < n_iter:
            schedule[int(i + c * period)] = v
            v += step
            i += 1
    return schedule


@pytest.mark.parametrize("total, cycles, ratio", [(40, 4, 0.5), (60, 3, 0.25), (24, 2, 1.0), (50, 5, 0.8)])
def test_cyclical_beta_matches_the_papers_reference_code(total, cycles, ratio):
    obj = ObjectiveConfig(beta=1.0, cycles=cycles, cycle_ratio=ratio)
    ours = [beta_at(s, 3, obj, total_steps=total) for s in range(total)]
    assert ours == pytest.approx(frange_cycle_linear(total, n_cycle=cycles, ratio=ratio), abs=1e-9)


def test_cyclical_beta_is_a_pure_function_of_the_step():
    obj = ObjectiveConfig(beta=0.5, cycles=3, cycle_ratio=0.5)
    whole = [beta_at(s, 4, obj, total_steps=36) for s in range(36)]
    resumed = [beta_at(s, 4, obj, total_steps=36) for s in range(20, 36)]  # a run resumed at step 20
    assert resumed == whole[20:]
    assert max(whole) == pytest.approx(0.5) and whole.count(0.0) == 3  # three restarts at 0


def test_cyclical_beta_needs_the_total_steps():
    with pytest.raises(InputError, match="total_steps"):
        beta_at(3, 4, ObjectiveConfig(cycles=2))


@pytest.mark.parametrize("overrides, message", [
    (["objective.cycle_ratio=0", "objective.cycles=2"], r"objective.cycle_ratio must lie in \(0, 1\]"),
    (["objective.cycle_ratio=1.5", "objective.cycles=2"], r"objective.cycle_ratio must lie in \(0, 1\]"),
    (["objective.cycles=-1"], "objective.cycles must be at least 0"),
    (["objective.cycles=2", "objective.warmup_epochs=3"], "two beta schedules; set one of them"),
    (["objective.cycle_ratio=0.25"], "cyclical annealing, which is off; set objective.cycles"),
    (["objective.cycles=1.5"], "objective.cycles"),
])
def test_cyclical_settings_are_validated(overrides, message):
    with pytest.raises(ConfigError, match=message):
        parse_config({}, overrides)


def test_cycles_shorter_than_a_step_are_refused():
    check_beta_schedule(ObjectiveConfig(cycles=4, cycle_ratio=0.5), 8)  # rises of one step each: allowed
    with pytest.raises(ConfigError, match=r"objective.cycles=5 cuts a training of 8 steps .* use fewer cycles"):
        check_beta_schedule(ObjectiveConfig(cycles=5, cycle_ratio=0.5), 8)
    check_beta_schedule(ObjectiveConfig(warmup_epochs=100.0), 1)  # linear warm-up has no such limit


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
