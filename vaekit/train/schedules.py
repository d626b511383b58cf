"""Schedules: the KL weight beta, a KL target's capacity and the learning rate, as pure functions
of the step.

Pure functions of saved counters make a resumed run follow exactly the schedule an
uninterrupted one would have; the only stateful one, the plateau scale, lives in the training
state.
"""

from __future__ import annotations

import math

from vaekit.config import ObjectiveConfig, TrainConfig
from vaekit.contract import KLTarget
from vaekit.errors import ConfigError, InputError


def beta_at(step: int, steps_per_epoch: int, objective: ObjectiveConfig, total_steps: int | None = None) -> float:
    """KL weight at `step` (counted from 0). Linear annealing (Bowman et al. 2016): beta rises
    linearly from 0 to `beta` over `warmup_epochs`. Cyclical annealing (`objective.cycles` = M > 0;
    Fu et al. 2019, "Cyclical Annealing Schedule", https://arxiv.org/abs/1903.10145), over the
    whole training of T = `total_steps` steps, as the paper defines it (its iteration t - 1 is our
    step):

        tau = (step mod ceil(T / M)) / (T / M),    beta_t = beta * min(1, tau / R)

    with R = `cycle_ratio`: each of the M cycles raises beta from 0 over its first R and holds it
    at `beta` for the rest. T is train.epochs times the steps of an epoch, so resuming with more
    epochs stretches the cycles, as it stretches a cosine learning rate."""
    if objective.cycles > 0:
        if total_steps is None:
            raise InputError("beta_at needs total_steps under cyclical annealing (objective.cycles > 0)")
        period = total_steps / objective.cycles
        tau = (step % math.ceil(period)) / period
        return objective.beta * min(1.0, tau / objective.cycle_ratio)
    warmup_steps = objective.warmup_epochs * steps_per_epoch
    if warmup_steps <= 0:
        return objective.beta
    return objective.beta * min(1.0, step / warmup_steps)


def check_beta_schedule(objective: ObjectiveConfig, total_steps: int) -> None:
    """Refuse cycles too short for a training of `total_steps` steps: the rise of each cycle
    (cycle_ratio of T / cycles steps) must last at least one step, or beta would jump (or, with
    more cycles than steps, stay at 0 for good)."""
    if objective.cycles > 0 and objective.cycle_ratio * total_steps / objective.cycles < 1:
        raise ConfigError(f"objective.cycles={objective.cycles} cuts a training of {total_steps} steps (train.epochs "
                          f"times the steps of an epoch) into cycles whose rise (cycle_ratio={objective.cycle_ratio:g} "
                          f"of each) is shorter than a step; use fewer cycles or more epochs")


def capacity_at(step: int, target: KLTarget | None) -> float:
    """The capacity C at `step` of a family trained towards a KL target (Burgess et al. 2018):
    rising linearly from 0 to `target.capacity` nats over `target.steps` steps; 0 without one."""
    if target is None:
        return 0.0
    return target.capacity * min(1.0, step / max(1, target.steps))


def lr_at(step: int, total_steps: int, train: TrainConfig, plateau_scale: float = 1.0) -> float:
    """Learning rate at `step`: linear warm-up, then constant, cosine decay to `min_lr`, or the
    base rate times the plateau scale."""
    if train.lr_warmup_steps > 0 and step < train.lr_warmup_steps:
        return train.lr * (step + 1) / train.lr_warmup_steps
    if train.lr_schedule == "cosine":
        span = max(1, total_steps - train.lr_warmup_steps)
        progress = min(1.0, (step - train.lr_warmup_steps) / span)
        return train.min_lr + 0.5 * (train.lr - train.min_lr) * (1 + math.cos(math.pi * progress))
    if train.lr_schedule == "plateau":
        return max(train.min_lr, train.lr * plateau_scale)
    return train.lr


def plateau_update(scale: float, epochs_since_best: int, train: TrainConfig) -> float:
    """Halve the plateau scale after every `plateau_patience` epochs without a better validation ELBO."""
    if train.lr_schedule == "plateau" and epochs_since_best > 0 and epochs_since_best % train.plateau_patience == 0:
        return scale * train.plateau_factor
    return scale
