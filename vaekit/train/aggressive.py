"""Aggressive training of the inference network, a remedy for posterior collapse.

He et al. 2019, "Lagging Inference Networks and Posterior Collapse in Variational Autoencoders",
https://arxiv.org/abs/1901.05534; reference code github.com/jxhe/vae-lagging-encoder (text.py,
image.py). Early in training the encoder lags behind the true posterior, so z tells the decoder
little and the decoder learns to ignore it. While the aggressive phase lasts, every training step
first trains the inference network alone until it catches up, then takes one step of the rest of
the model; after every epoch the mutual information I(x;z) on the validation split decides
whether the phase goes on. As in the reference code:

- the inner loop: encoder steps, the first on the step's own batch and the others on fresh
  random batches, at most `train.aggressive_inner_steps` of them; after every
  `train.aggressive_window` steps the window's mean loss is compared with the window's before,
  and the loop stops when it rose;
- then one step of the generative model (every parameter outside `Family.inference_parameters`)
  on the step's batch, with the same beta and learning rate;
- at the end of an aggressive epoch, I(x;z) on validation; the phase ends for good when it is
  below the last epoch's (0 before the first), so a run spends at least one epoch in it.

Where vaekit differs: the EMA of the weights is updated once per step, after the generative
update; I(x;z) is `vaekit.evaluate.latents.mutual_information` over the whole
validation split (the reference averages per-batch estimates), measured with the weights being
trained (not their EMA) from fixed draws. A non-finite encoder step ends that inner loop (and is
counted in `skipped_steps`); the step's own guard then decides as always.
"""

from __future__ import annotations

import math

import torch

from vaekit.config import TrainConfig
from vaekit.contract import Batch
from vaekit.data import Dataset
from vaekit.evaluate.latents import mutual_information, posterior_moments
from vaekit.train.batches import random_batch
from vaekit.train.distributed import Distributed
from vaekit.train.state import Counters
from vaekit.train.step import Step


class Aggressive:
    """The aggressive phase of one run: `encoder_steps` before each step of an aggressive epoch,
    `end_epoch` after every epoch. Its state (whether the phase has ended, the last I(x;z)) lives
    in the run's `Counters`, so a resumed run takes it up where it stopped."""

    def __init__(self, step: Step, data: Dataset, tc: TrainConfig, dist: Distributed, gen: torch.Generator) -> None:
        self.step, self.data, self.tc, self.dist, self.gen = step, data, tc, dist, gen
        self.taken = 0  # encoder steps this epoch

    def encoder_steps(self, batch: Batch, lr: float, beta: torch.Tensor, capacity: torch.Tensor) -> int:
        """He et al.'s inner loop before the step on `batch`: encoder-only steps until the mean
        loss of a window of them rises. Returns the number of steps skipped (0 or 1)."""
        tc = self.tc
        previous, window = math.inf, torch.zeros((), device=batch.x.device)
        for i in range(1, tc.aggressive_inner_steps + 1):
            result = self.step(batch, lr, beta, capacity, part="inference")
            if not result.ok:
                return 1
            self.taken += 1
            window = window + result.loss.float()
            if i % tc.aggressive_window == 0:
                current = self.dist.mean(window / tc.aggressive_window)  # one sync a window, decided alike by all
                if current > previous:
                    break
                previous, window = current, torch.zeros_like(window)
            if i < tc.aggressive_inner_steps:
                batch = self._fresh()
        return 0

    def _fresh(self) -> Batch:
        d = self.dist
        return random_batch(self.data.train, self.tc.batch_size, self.gen, d.device, self.data.dynamic_binarize,
                            rank=d.rank, world_size=d.world_size)

    def end_epoch(self, model: torch.nn.Module, counters: Counters, was_active: bool) -> dict[str, float | bool]:
        """The validation I(x;z) after an epoch (on the first process, shared with the others),
        the end of the phase when it fell, and the epoch's figures for metrics.jsonl: whether it
        was aggressive, its encoder steps and I(x;z)."""
        mi = self.dist.broadcast(validation_mi(model, self.data, self.tc.eval_batch_size) if self.dist.is_main else None)
        if was_active:
            counters.aggressive_ended = mi < counters.last_mi
            counters.last_mi = mi
        taken, self.taken = self.taken, 0
        return {"aggressive": was_active, "encoder_steps": taken, "val_mi": mi}


@torch.no_grad()
def validation_mi(model: torch.nn.Module, data: Dataset, batch_size: int) -> float:
    """I(x;z) in nats over the validation split's aggregate posterior (the raw estimate, which
    can come out a hair below 0 near collapse), in eval mode, from draws fixed across epochs."""
    was_training = model.training
    model.eval()
    try:
        mu, logvar = posterior_moments(model, data.val.x, batch_size, data.val.y)
    finally:
        model.train(was_training)
    return mutual_information(mu, logvar, generator=torch.Generator().manual_seed(0))


__all__ = ["Aggressive", "validation_mi"]
