"""The ELBO and its terms over a whole split, batched."""

from __future__ import annotations

import math

import torch
from torch import nn

from vaekit.seeding import seeded


@torch.no_grad()
def elbo_stats(model: nn.Module, x: torch.Tensor, batch_size: int = 500, seed: int | None = 0,
               y: torch.Tensor | None = None) -> dict[str, float]:
    """Mean single-sample ELBO, log p(x|z) and KL over `x` in nats per example, with the standard
    error of the ELBO. A fixed `seed` draws the same noise every call, so that epoch-to-epoch
    differences of the validation ELBO come from the model, not from the draw; the caller's RNG
    stream is left untouched."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    sums = {"elbo": 0.0, "recon": 0.0, "kl": 0.0}
    sq = 0.0
    with seeded(seed, device):
        for start in range(0, len(x), batch_size):
            xb = x[start : start + batch_size].to(device, non_blocking=True)
            out = model(xb, None if y is None else y[start : start + batch_size].to(device))
            elbo = (out.recon - out.kl).double()
            sums["elbo"] += float(elbo.sum())
            sums["recon"] += float(out.recon.double().sum())
            sums["kl"] += float(out.kl.double().sum())
            sq += float((elbo**2).sum())
    model.train(was_training)
    n = len(x)
    stats = {k: v / n for k, v in sums.items()}
    var = max(0.0, sq / n - stats["elbo"] ** 2)
    stats["elbo_stderr"] = math.sqrt(var / max(1, n - 1))
    return stats
