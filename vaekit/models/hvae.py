"""The hierarchical VAE of the VampPrior paper: each posterior sees x, the decoder sees every layer.

Tomczak & Welling, "VAE with a VampPrior", AISTATS 2018, https://arxiv.org/abs/1705.07120
(section 3.2, the two-layer HVAE; its figures are for the VampPrior on the top layer).

Layers z_1 (bottom) ... z_L (top).
  inference   q(z_L | x) q(z_{L-1} | x, z_L) ... q(z_1 | x, z_2)
  generation  p(z_L) p(z_{L-1} | z_L) ... p(z_1 | z_2) p(x | z_1, ..., z_L)
The prior module is the top layer's, so a VampPrior mixes q(z_L | u_k). Where the Ladder VAE
(ladder.py) merges bottom-up estimates with the top-down prior and decodes from z_1 alone, here
every posterior is its own network of x and the layer above, and the decoder reads all layers
at once: the paper's remedy for a top layer that carries no information.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from vaekit.sections import AT_LEAST_1, Range
from vaekit.contract import Batch, as_batch
from vaekit.distributions import DiagonalGaussian
from vaekit.errors import ConfigError
from vaekit.models.layers import LayeredVAE
from vaekit.models.vae import VAEConfig
from vaekit.nn.mlp import hidden_layer, mlp
from vaekit.registry import MODELS, NETWORKS


@dataclass(frozen=True)
class HVAEConfig(VAEConfig):
    name: str = "hvae"
    latent_dim: int = 40  # the top layer z_L, the one the prior module is over
    lower_dims: tuple[int, ...] = (40,)  # the layers below it, bottom first: (40,) makes two layers
    hidden: int = 300  # width of the small networks between layers
    gated: bool = True  # gated layers in those networks, as in the paper
    activation: str = "relu"  # their activation when not gated
    logvar_min: float = -6.0  # every log-variance is clamped to this range (the paper's hardtanh)
    logvar_max: float = 2.0

    ranges: ClassVar[dict[str, Range]] = {"lower_dims": AT_LEAST_1, "hidden": AT_LEAST_1}


@MODELS.register("hvae", config=HVAEConfig)
class HVAE(LayeredVAE):
    """A hierarchy of Gaussian latent layers; q(z_i | x, z_{i+1}), p(x | all layers); KL per layer."""

    def __init__(self, config: HVAEConfig, data_shape: tuple[int, ...], num_classes: int | None = None) -> None:
        if not config.lower_dims or any(d <= 0 for d in config.lower_dims):
            raise ConfigError(f"model.lower_dims must list one or more positive sizes, got {list(config.lower_dims)}")
        if config.logvar_min >= config.logvar_max:
            raise ConfigError(f"model.logvar_min ({config.logvar_min}) must be below model.logvar_max ({config.logvar_max})")
        self.dims = [*config.lower_dims, config.latent_dim]  # bottom to top
        super().__init__(config, data_shape, num_classes)  # encoder: q(z_L | x); decoder: p(x | z_1..z_L)
        h, act, gated = config.hidden, config.activation, config.gated
        below = range(len(self.dims) - 1)
        backbone = NETWORKS.get(config.encoder.name)
        # q(z_i | x, z_{i+1}): features of x (the backbone) and of z_{i+1}, joined, then the head.
        self.q_x = nn.ModuleList(backbone.encoder(config.encoder, self.data_shape, h) for _ in below)
        self.q_z = nn.ModuleList(hidden_layer(self.dims[i + 1], h, act, gated) for i in below)
        self.q_joint = nn.ModuleList(mlp([2 * h, h, 2 * self.dims[i]], act, gated) for i in below)
        # p(z_i | z_{i+1}).
        self.p_down = nn.ModuleList(mlp([self.dims[i + 1], h, h, 2 * self.dims[i]], act, gated) for i in below)

    def network_inputs(self) -> tuple[tuple[int, ...], int]:
        return self.data_shape, sum(self.dims)

    def inference_parameters(self) -> list[nn.Parameter]:
        """q(z_L | x) and every q(z_i | x, z_{i+1}); p(z_i | z_{i+1}) is the generative model's."""
        return [p for m in (self.encoder, self.q_x, self.q_z, self.q_joint) for p in m.parameters()]

    def _gaussian(self, h: torch.Tensor) -> DiagonalGaussian:
        return DiagonalGaussian.from_params(h, self.config.logvar_min, self.config.logvar_max)

    def encode(self, batch: Batch | torch.Tensor) -> DiagonalGaussian:
        """q(z_L | x), the top layer's posterior (what embeddings and the VampPrior use)."""
        return self._gaussian(self.encoder(as_batch(batch).x))

    def posterior(self, i: int, h_x: torch.Tensor, z_above: torch.Tensor) -> DiagonalGaussian:
        """q(z_i | x, z_{i+1}) from the x-features h_x (B, h) and z_{i+1} (*S, B, d)."""
        h_z = self.q_z[i](z_above)
        return self._gaussian(self.q_joint[i](torch.cat([h_x.expand_as(h_z), h_z], dim=-1)))

    def conditional_prior(self, i: int, z_above: torch.Tensor) -> DiagonalGaussian:
        """p(z_i | z_{i+1})."""
        return self._gaussian(self.p_down[i](z_above))

    def infer_top(self, x: torch.Tensor):
        return self.encode(x), x

    def layer(self, i: int, context, z_above: torch.Tensor):
        # The x-features are (B, h), computed once per layer and broadcast over the S samples.
        return self.posterior(i, self.q_x[i](context), z_above), self.conditional_prior(i, z_above)

    def decode_layers(self, zs: list[torch.Tensor]):
        return self.decode(torch.cat(zs, dim=-1))

    def _down(self, z: torch.Tensor, temperature: float = 0.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """All layers from a top-layer code z_L through p(z_i | z_{i+1}), concatenated bottom
        first; temperature 0 follows the means."""
        zs = [z]
        for i in reversed(range(len(self.dims) - 1)):
            p_i = self.conditional_prior(i, zs[0])
            eps = torch.randn(p_i.mu.shape, device=z.device, generator=generator) if temperature > 0 else 0.0
            zs.insert(0, p_i.mu + temperature * p_i.std * eps)
        return torch.cat(zs, dim=-1)

    def decode_code(self, z: torch.Tensor, y: torch.Tensor | None = None):
        """p(x | z_L, the layers below at the means of p(z_i | z_{i+1}))."""
        return self.decode(self._down(z), y)

    @torch.no_grad()
    def decode_px(self, z: torch.Tensor, temperature: float = 1.0, generator: torch.Generator | None = None,
                  y: torch.Tensor | None = None):
        """A top-layer code z_L with the layers below drawn from p(z_i | z_{i+1}) at `temperature`."""
        return self.decode(self._down(z, temperature, generator))

    @torch.no_grad()
    def reconstruct(self, batch: Batch | torch.Tensor) -> torch.Tensor:
        """Every layer at its posterior mean, top first."""
        x = as_batch(batch).x
        zs = [self.encode(x).mu]
        for i in reversed(range(len(self.dims) - 1)):
            zs.insert(0, self.posterior(i, self.q_x[i](x), zs[0]).mu)
        return self.decode(torch.cat(zs, dim=-1)).mean
