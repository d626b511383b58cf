"""The base every distribution in vaekit shares: posteriors q(z|x), priors' draws and likelihoods
p(x|z) all answer `log_prob(x, mask=None)` summed over their event dimensions, `sample`, `mode`,
and `mean` where one exists (a token sequence has none: its `mean` is its greedy decoding, which is
what the tools that show a model's example for a code take).

A mask, shaped like x (or broadcasting to it), is 1 where an entry is observed and 0 where it is
missing; the log-probability sums over the observed entries only, which is what a model trained
on incomplete rows needs (Mattei & Frellsen 2019).
"""

from __future__ import annotations

import torch


class Distribution:
    """A batch of distributions; `log_prob` returns the batch shape."""

    def log_prob(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        raise NotImplementedError

    @property
    def mode(self) -> torch.Tensor:
        """The most probable value."""
        raise NotImplementedError

    @property
    def mean(self) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no mean; use its mode")


def masked_sum(values: torch.Tensor, mask: torch.Tensor | None, event_dims: int) -> torch.Tensor:
    """Sum of elementwise log-probabilities over the last `event_dims` dimensions, counting only
    the entries the mask marks observed: (*batch, *event) -> (*batch,)."""
    if mask is not None:
        values = values * mask.to(values.dtype)
    return values.flatten(-event_dims).sum(-1) if event_dims else values


class PointMass(Distribution):
    """The posterior of a deterministic encoder (VQ-VAE, WAE): all mass on one code per example.

    It has a mean and a mode (the code) and draws that code; its variance is 0, so its
    log-variance is -inf and it has no density for a KL against a continuous prior: families
    with a point-mass posterior declare `Traits(posterior="point_mass")` and the tools that need
    a spread (traversals in posterior units, KL per dimension, I(x; z)) say so instead of
    inventing one."""

    def __init__(self, value: torch.Tensor) -> None:
        self.value = value

    @property
    def mu(self) -> torch.Tensor:
        return self.value

    @property
    def mean(self) -> torch.Tensor:
        return self.value

    @property
    def mode(self) -> torch.Tensor:
        return self.value

    @property
    def logvar(self) -> torch.Tensor:
        return torch.full_like(self.value, float("-inf"))

    @property
    def std(self) -> torch.Tensor:
        return torch.zeros_like(self.value)

    def rsample(self, num_samples: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """The code itself, (*batch, D), or repeated (S, *batch, D); gradients flow to it."""
        return self.value if num_samples is None else self.value.expand(num_samples, *self.value.shape)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.value.detach()

    def log_prob(self, z: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError("a point mass has no density; its family has no likelihood bound through it")

    def detach(self) -> PointMass:
        return PointMass(self.value.detach())
