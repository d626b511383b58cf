"""The ELBO and its terms over a whole split, batched."""

from __future__ import annotations

import math

import torch
from torch import nn

from vaekit.contract import Batch
from vaekit.evaluate.nll import trim
from vaekit.objectives import Weights, family_loss
from vaekit.seeding import seeded


@torch.no_grad()
def per_example_terms(model: nn.Module, x: torch.Tensor, batch_size: int = 500, seed: int | None = 0,
                      y: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Single-sample ELBO, log p(x|z) and KL of every example: (N,) float64 tensors in nats.
    A fixed `seed` draws the same noise every call and leaves the caller's RNG stream untouched."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    parts: dict[str, list[torch.Tensor]] = {"elbo": [], "recon": [], "kl": []}
    with seeded(seed, device):
        for start in range(0, len(x), batch_size):
            xb = trim(model, x[start : start + batch_size]).to(device, non_blocking=True)  # text: to its longest sentence
            terms = model(Batch(xb, None if y is None else y[start : start + batch_size].to(device)))
            recon, kl = terms.recon, terms.kl
            if terms.samples is not None:  # K draws per example (an IWAE): their mean
                recon, kl = recon.mean(0), kl.mean(0)
            parts["elbo"].append((recon - kl).double().cpu())
            parts["recon"].append(recon.double().cpu())
            parts["kl"].append(kl.double().cpu())
    model.train(was_training)
    return {k: torch.cat(v) for k, v in parts.items()}


def per_example_elbo(model: nn.Module, x: torch.Tensor, batch_size: int = 500, seed: int | None = 0,
                     y: torch.Tensor | None = None) -> torch.Tensor:
    """The single-sample ELBO of every example, (N,)."""
    return per_example_terms(model, x, batch_size, seed, y)["elbo"]


def elbo_stats(model: nn.Module, x: torch.Tensor, batch_size: int = 500, seed: int | None = 0,
               y: torch.Tensor | None = None) -> dict[str, float]:
    """Mean single-sample ELBO, log p(x|z) and KL over `x` in nats per example, with the standard
    error of the ELBO. The fixed `seed` makes epoch-to-epoch differences of the validation ELBO
    come from the model, not from the draw."""
    terms = per_example_terms(model, x, batch_size, seed, y)
    stats = {k: float(v.mean()) for k, v in terms.items()}
    n = len(x)
    stats["elbo_stderr"] = float(terms["elbo"].std()) / math.sqrt(n) if n > 1 else 0.0
    return stats


@torch.no_grad()
def objective_stats(model: nn.Module, x: torch.Tensor, batch_size: int = 500, seed: int | None = 0,
                    y: torch.Tensor | None = None, beta: float = 1.0) -> float:
    """The family's own training loss (its terms through `vaekit.objectives.reduce` at this beta;
    a KL target at its full capacity), averaged over `x` in eval mode with fixed noise: what
    families not trained on the ELBO are judged by on held-out data."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total = 0.0
    with seeded(seed, device):
        for start in range(0, len(x), batch_size):
            xb = x[start : start + batch_size].to(device, non_blocking=True)
            yb = None if y is None else y[start : start + batch_size].to(device)
            target = model.traits.kl_target
            weights = Weights(beta, 0.0, target.capacity if target is not None else 0.0)
            total += float(family_loss(model, Batch(xb, yb), weights).loss) * len(xb)
    model.train(was_training)
    return total / len(x)
