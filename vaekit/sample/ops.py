"""What a user does with a trained model: generate, reconstruct, interpolate, embed."""

from __future__ import annotations

import torch
from torch import nn

from vaekit.errors import ConfigError


def _generator(model: nn.Module, seed: int | None) -> torch.Generator | None:
    if seed is None:
        return None
    return torch.Generator(device=next(model.parameters()).device).manual_seed(seed)


@torch.no_grad()
def sample(model: nn.Module, n: int, temperature: float = 1.0, seed: int | None = None,
           y: int | torch.Tensor | None = None, sampler=None) -> torch.Tensor:
    """n generated examples (the likelihood's mean) from the prior scaled by `temperature`;
    the same seed gives the same samples. `y`, a class or n labels, conditions a conditional
    model. `sampler`, a fitted sampler (vaekit.sample.GMMSampler), replaces the prior."""
    if n < 1:
        raise ValueError(f"number of samples must be at least 1, got {n}")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    if y is not None and not getattr(model, "conditional", False):
        raise ConfigError("this model is unconditional, so it cannot generate a chosen class; "
                          "train a conditional one (model.name=cvae) or leave out --class")
    device = next(model.parameters()).device
    if isinstance(y, int):
        y = torch.full((n,), y, dtype=torch.long)
    y = None if y is None else y.to(device)
    if sampler is not None:
        return sampler.sample(n, temperature, _generator(model, seed), y=y).cpu()
    return model.sample(n, temperature, _generator(model, seed), y=y).cpu()


@torch.no_grad()
def reconstruct(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """Reconstructions (the likelihood's mean at the posterior mean) of x."""
    device = next(model.parameters()).device
    return model.reconstruct(x.to(device), None if y is None else y.to(device)).cpu()


@torch.no_grad()
def interpolate(model: nn.Module, xa: torch.Tensor, xb: torch.Tensor, steps: int = 8,
                ya: torch.Tensor | None = None, yb: torch.Tensor | None = None) -> torch.Tensor:
    """Decodings along the straight line between the posterior means of xa[i] and xb[i]:
    (P, steps, *shape) for P pairs. A conditional model also moves its one-hot condition
    from ya[i] to yb[i] along the line."""
    device = next(model.parameters()).device
    conditional = getattr(model, "conditional", False)
    ya, yb = (ya.to(device), yb.to(device)) if conditional and ya is not None and yb is not None else (None, None)
    za, zb = model.encode(xa.to(device), ya).mu, model.encode(xb.to(device), yb).mu  # (P, D)
    t = torch.linspace(0, 1, steps, device=device).view(1, steps, 1)
    z = za.unsqueeze(1) * (1 - t) + zb.unsqueeze(1) * t  # (P, steps, D)
    c = None
    if ya is not None:
        k = model.num_classes
        ca, cb = torch.nn.functional.one_hot(ya, k).float(), torch.nn.functional.one_hot(yb, k).float()
        c = ca.unsqueeze(1) * (1 - t) + cb.unsqueeze(1) * t  # (P, steps, K): the condition moves too
    return model.decode(z, c).mean.cpu()


@torch.no_grad()
def encode(model: nn.Module, x: torch.Tensor, batch_size: int = 500,
           y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior means and log-variances, (N, D) each."""
    from vaekit.evaluate.latents import posterior_moments

    return posterior_moments(model, x, batch_size, y)


@torch.no_grad()
def decode(model: nn.Module, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """The likelihood's mean at latent codes z (N, D)."""
    device = next(model.parameters()).device
    return model.decode(z.to(device), None if y is None else y.to(device)).mean.cpu()
