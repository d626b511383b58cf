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


def beta_at(step: int, steps_per_epoch: int, objective: ObjectiveConfig) -> float:
    """KL weight at `step`: rises linearly from 0 to `beta` over `warmup_epochs` (Bowman et al. 2016)."""
    warmup_steps = objective.warmup_epochs * steps_per_epoch
    if warmup_steps <= 0:
        return objective.beta
    return objective.beta * min(1.0, step / warmup_steps)


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
