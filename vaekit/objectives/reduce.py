"""The one reduction from a family's per-example terms to the training loss and its metrics.

Every family's `forward` returns `vaekit.contract.Terms`; this module, and nothing else, takes the
batch mean, weighs the KL by beta, applies free bits or a KL target, adds the family's named
penalties, forms the importance-weighted bound for terms of K samples, and builds the metrics the
loop logs. Conventions: nats per example, summed over data and latent dimensions, mean over the
batch. The metrics report the unweighted ELBO (beta = 1), so runs with different weights compare.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vaekit.contract import KLTarget, Terms
from vaekit.errors import ConfigError
from vaekit.objectives.elbo import Loss
from vaekit.objectives.iwae import iwae_bound


@dataclass(frozen=True)
class Weights:
    """The objective's weights at one step, from the trainer's schedules: beta (a tensor, so a
    compiled step is not re-traced as it moves), free bits in nats, and the current capacity C of
    a family trained towards a KL target."""

    beta: float | torch.Tensor = 1.0
    free_bits: float = 0.0
    capacity: float | torch.Tensor = 0.0


def family_loss(model, batch, weights: Weights = Weights()) -> Loss:
    """A family's training loss on one batch (a `Batch`, or a tensor x): its `forward` terms
    through `reduce`, with its KL target if it has one. What the training step computes."""
    return reduce(model(batch), weights, model.traits.kl_target)


def kl_penalty(terms: Terms, free_bits: float) -> torch.Tensor:
    """The batch-mean KL to penalise. With free bits (Kingma et al. 2016), each latent dimension's
    batch-mean KL (each layer's, for a hierarchy) counts at least `free_bits` nats, so the units
    below it get no gradient."""
    if free_bits <= 0.0:
        return terms.kl.mean()
    if terms.kl_per_dim is not None:
        return torch.clamp(terms.kl_per_dim.mean(0), min=free_bits).sum()
    if terms.kl_layers is not None:
        return torch.stack([k.mean().clamp(min=free_bits) for k in terms.kl_layers]).sum()
    raise ConfigError("free bits need a KL per latent dimension, which this prior has no closed form for; "
                      "set objective.free_bits=0 or use model.prior.name=standard_normal")


def reduce(terms: Terms, weights: Weights = Weights(), kl_target: KLTarget | None = None) -> Loss:
    """The loss to minimise (a scalar), the auxiliary loss if the family has one, and detached
    batch-mean metrics (tensors: the loop never forces a device sync per step)."""
    if terms.samples is not None:
        loss, metrics = _bound_loss(terms, weights.beta)
    else:
        loss, metrics = _elbo_loss(terms, weights, kl_target)
    with torch.no_grad():
        for name, (weight, value) in terms.penalties.items():
            metrics[name] = value.detach().mean()
        for name, value in terms.logs.items():
            metrics[name] = value.detach().float().mean()
        if terms.kl_layers is not None:
            for i, k in enumerate(terms.kl_layers, start=1):
                metrics[f"kl_layer{i}"] = k.detach().mean()
    for weight, value in terms.penalties.values():
        loss = loss + weight * value.mean()
    aux = terms.aux.mean() if terms.aux is not None else None
    if aux is not None:
        metrics.setdefault("aux_loss", aux.detach())
    return Loss(loss, metrics, aux_loss=aux)


def _elbo_loss(terms: Terms, weights: Weights, kl_target: KLTarget | None) -> tuple[torch.Tensor, dict]:
    """-recon_weight * recon + (beta * KL-term | beta * regularizer | gamma |KL - C|), batch-mean."""
    recon, kl = terms.recon, terms.kl
    if kl_target is not None:
        reg = kl_target.gamma * (kl.mean() - weights.capacity).abs()
    elif terms.regularizer is not None:
        reg = weights.beta * terms.regularizer.mean()
    else:
        reg = weights.beta * kl_penalty(terms, weights.free_bits)
    loss = -terms.recon_weight * recon.mean() + reg
    with torch.no_grad():
        metrics = {"elbo": (recon - kl).mean(), "recon": recon.mean(), "kl": kl.mean()}
        if kl_target is not None:
            metrics["capacity"] = torch.as_tensor(weights.capacity, dtype=torch.float32).detach()
    return loss, metrics


def _bound_loss(terms: Terms, beta: float | torch.Tensor) -> tuple[torch.Tensor, dict]:
    """The negative K-sample bound with log w = log p(x|z) - beta (log q(z|x) - log p(z)),
    batch-mean (Burda et al. 2016). With `terms.reparam` (the doubly reparameterised estimator,
    Tucker et al. 2019) the value is the same and the encoder's gradient is
    sum_k w~_k^2 d log w_k / dz_k dz_k/dphi, flowing through the reparameterised draw alone."""
    log_w = terms.recon - beta * terms.kl  # (K, B)
    if terms.reparam is None or not torch.is_grad_enabled():
        loss = -iwae_bound(log_w).mean()
    else:
        z_leaf, z = terms.reparam
        w = torch.softmax(log_w.detach().float(), dim=0)  # (K, B) normalised weights
        (dlogw_dz,) = torch.autograd.grad(log_w.sum(), z_leaf, retain_graph=True)
        encoder_term = ((w**2).unsqueeze(-1) * dlogw_dz.detach() * z).sum((0, -1))
        surrogate = -((w * log_w).sum(0) + encoder_term).mean()
        loss = -iwae_bound(log_w.detach()).mean() + (surrogate - surrogate.detach())
    with torch.no_grad():
        unweighted = (terms.recon - terms.kl).detach()  # beta = 1: the bound and the ELBO themselves
        metrics = {"iwae_bound": iwae_bound(unweighted).mean(), "elbo": unweighted.mean(),
                   "recon": terms.recon.detach().mean(), "kl": terms.kl.detach().mean()}
    return loss, metrics
