"""What a user does with a trained model: generate, reconstruct, interpolate, traverse, embed."""

from __future__ import annotations

from collections.abc import Sequence

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
    return model.decode_code(z, c).mean.cpu()


@torch.no_grad()
def encode(model: nn.Module, x: torch.Tensor, batch_size: int = 500,
           y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior means and log-variances, (N, D) each."""
    from vaekit.evaluate.latents import posterior_moments

    return posterior_moments(model, x, batch_size, y)


@torch.no_grad()
def decode(model: nn.Module, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """The likelihood's mean at latent codes z (N, D) of the space `encode` returns (a hierarchical
    model's top layer)."""
    device = next(model.parameters()).device
    return model.decode_code(z.to(device), None if y is None else y.to(device)).mean.cpu()


# ----------------------------------------------------------------------------- traversals


def gaussian_posterior(model: nn.Module) -> bool:
    """Whether `encode` gives a real Gaussian posterior, with standard deviations and per-dimension
    KLs that mean something (the VQ-VAE's is a point mass on its codes)."""
    return bool(getattr(model, "gaussian_posterior", True))


def _prior_moments(model: nn.Module, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation of each latent dimension under the prior, (D,) each: exact for
    N(0, I), else estimated from 10,000 seeded draws (mixture and VampPrior priors)."""
    from vaekit.distributions.priors import StandardNormal

    prior = model.prior
    if isinstance(prior, StandardNormal):
        return torch.zeros(prior.latent_dim, device=device), torch.ones(prior.latent_dim, device=device)
    z = prior.sample(10_000, 1.0, torch.Generator(device=device).manual_seed(0)).float()
    return z.mean(0), z.std(0)


@torch.no_grad()
def traverse(model: nn.Module, x: torch.Tensor, dim: int,
             values: Sequence[float] | torch.Tensor = (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0), *,
             units: str = "prior", y: torch.Tensor | None = None) -> torch.Tensor:
    """Latent traversals: (N, V, *shape) decodings for N examples and V values.

    Each x[i] is encoded to its posterior mean; latent dimension `dim` then takes each of
    `values` while the others stay at that mean, and the codes are decoded (the likelihood's
    mean). `units="prior"` reads the values in prior standard deviations around the prior's mean
    (for N(0, I): the coordinate itself); `units="posterior"` reads them in the example's own
    posterior standard deviation around its posterior mean. A hierarchical model is traversed in
    its top layer; a conditional one is encoded and decoded with the labels `y` (N,).
    """
    if units not in ("prior", "posterior"):
        raise ValueError(f"units must be 'prior' or 'posterior', got {units!r}")
    if not gaussian_posterior(model):
        raise ConfigError(f"model '{model.config.name}' has no Gaussian posterior (its codes are a point mass), "
                          "so there are no standard deviations to traverse in")
    device = next(model.parameters()).device
    v = torch.as_tensor(values, dtype=torch.float32, device=device).flatten()  # (V,)
    if len(v) == 0:
        raise ValueError("traverse needs at least one value")
    y = None if y is None else y.to(device)
    q = model.encode(x.to(device), y)
    n, d = q.mu.shape
    if not 0 <= dim < d:
        raise ValueError(f"dim must lie in 0..{d - 1} (the latent dimensions), got {dim}")
    if units == "prior":
        mean, std = _prior_moments(model, device)
        column = (mean[dim] + v * std[dim]).expand(n, -1)  # (N, V)
    else:
        column = q.mu[:, dim : dim + 1] + v * q.std[:, dim : dim + 1]  # (N, V)
    z = q.mu.unsqueeze(1).repeat(1, len(v), 1)  # (N, V, D): every code starts at the posterior mean
    z[:, :, dim] = column
    ys = None if y is None else y.repeat_interleave(len(v))  # (N * V,): each example keeps its label
    out = model.decode_code(z.reshape(n * len(v), d), ys).mean
    return out.reshape(n, len(v), *out.shape[1:]).cpu()
