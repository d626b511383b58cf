"""The hierarchical VAE with top-down inference of the Ladder VAE.

Sønderby, Raiko, Maaløe, Sønderby & Winther, "Ladder Variational Autoencoders", NeurIPS 2016,
https://arxiv.org/abs/1602.02282.

Stochastic layers z_1 (bottom) ... z_L (top). The generative model is p(z_L) p(z_{L-1}|z_L) ...
p(x|z_1). Inference runs a deterministic bottom-up pass d_1 = f(x), d_{i+1} = f_i(d_i) whose heads
give estimates (mu^_i, sigma^_i); then, top-down, q(z_L|x) = N(mu^_L, sigma^_L) and for i < L
q(z_i|z_{i+1}, x) is the precision-weighted merge of N(mu^_i, sigma^_i) with the generative
p(z_i|z_{i+1}), so inference and generation share the top-down path. The backbone (any
registered network, MLP or conv) maps x to d_1 and z_1 to the likelihood's parameters; the prior
module (standard normal, mixture, VampPrior) is the top layer's.
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
from vaekit.nn.mlp import mlp
from vaekit.registry import MODELS


@dataclass(frozen=True)
class LadderConfig(VAEConfig):
    name: str = "ladder"
    latent_dim: int = 32  # the top layer z_L, the one the prior module is over
    lower_dims: tuple[int, ...] = (64,)  # the layers below it, bottom first: (64,) makes two layers
    hidden: int = 256  # width of the deterministic blocks between layers
    activation: str = "elu"

    ranges: ClassVar[dict[str, Range]] = {"lower_dims": AT_LEAST_1, "hidden": AT_LEAST_1}


def merge(q: DiagonalGaussian, p: DiagonalGaussian) -> DiagonalGaussian:
    """Precision-weighted combination of two Gaussians (the product, renormalised)."""
    prec_q, prec_p = torch.exp(-q.logvar), torch.exp(-p.logvar)
    var = 1.0 / (prec_q + prec_p)
    return DiagonalGaussian((q.mu * prec_q + p.mu * prec_p) * var, torch.log(var))


@MODELS.register("ladder", config=LadderConfig)
class LadderVAE(LayeredVAE):
    """A hierarchy of Gaussian latent layers with top-down inference; KL reported per layer."""

    def __init__(self, config: LadderConfig, data_shape: tuple[int, ...], num_classes: int | None = None) -> None:
        if not config.lower_dims or any(d <= 0 for d in config.lower_dims):
            raise ConfigError(f"model.lower_dims must list one or more positive sizes, got {list(config.lower_dims)}")
        self.dims = [*config.lower_dims, config.latent_dim]  # bottom to top
        super().__init__(config, data_shape, num_classes)
        h, act = config.hidden, config.activation
        # The backbone encoder (built by VAE) gives d_1; deterministic blocks give d_2..d_L; heads
        # give (mu^, logvar^) of each layer.
        self.up = nn.ModuleList(mlp([h, h, h], act) for _ in self.dims[1:])
        self.up_heads = nn.ModuleList(nn.Linear(h, 2 * d) for d in self.dims)
        # Top-down: p(z_i | z_{i+1}) for i < L.
        self.down = nn.ModuleList(mlp([self.dims[i + 1], h, h, 2 * self.dims[i]], act) for i in range(len(self.dims) - 1))

    def encoder_features(self) -> int:
        return self.config.hidden

    def inference_parameters(self) -> list[nn.Parameter]:
        """The bottom-up pass (the encoder, its blocks and heads). The top-down p(z_i | z_{i+1}),
        which the posterior merges with, is the generative model's."""
        return [p for m in (self.encoder, self.up, self.up_heads) for p in m.parameters()]

    def network_inputs(self) -> tuple[tuple[int, ...], int]:
        return self.data_shape, self.dims[0]

    def bottom_up(self, x: torch.Tensor) -> list[DiagonalGaussian]:
        """The bottom-up estimates N(mu^_i, sigma^_i), bottom first."""
        d = torch.nn.functional.elu(self.encoder(x))
        out = [DiagonalGaussian.from_params(self.up_heads[0](d))]
        for block, head in zip(self.up, self.up_heads[1:]):
            d = block(d)
            out.append(DiagonalGaussian.from_params(head(d)))
        return out

    def encode(self, batch: Batch | torch.Tensor) -> DiagonalGaussian:
        """q(z_L | x), the top layer's posterior (what embeddings and the VampPrior use)."""
        return self.bottom_up(as_batch(batch).x)[-1]

    def infer_top(self, x: torch.Tensor):
        est = self.bottom_up(x)
        return est[-1], est

    def layer(self, i: int, context, z_above: torch.Tensor):
        """The generative p(z_i | z_{i+1}), and its precision-weighted merge with the bottom-up
        estimate of layer i as the posterior."""
        p_i = DiagonalGaussian.from_params(self.down[i](z_above))
        return merge(context[i], p_i), p_i

    def decode_layers(self, zs: list[torch.Tensor]):
        return self.decode(zs[0])

    def decode_code(self, z: torch.Tensor, y: torch.Tensor | None = None):
        """p(x|z_L) for a top-layer code: the layers below follow the generative path at their
        means, p(z_i | z_{i+1})."""
        for down in reversed(self.down):  # z_L -> z_{L-1} -> ... -> z_1
            z = DiagonalGaussian.from_params(down(z)).mu
        return self.decode(z, y)

    @torch.no_grad()
    def decode_px(self, z: torch.Tensor, temperature: float = 1.0, generator: torch.Generator | None = None,
                  y: torch.Tensor | None = None):
        """A top-layer code z_L with the layers below drawn from p(z_i | z_{i+1}) at `temperature`."""
        for i in range(len(self.dims) - 2, -1, -1):
            p_i = DiagonalGaussian.from_params(self.down[i](z))
            eps = torch.randn(p_i.mu.shape, device=z.device, generator=generator)
            z = p_i.mu + temperature * p_i.std * eps
        return self.decode(z)

    @torch.no_grad()
    def reconstruct(self, batch: Batch | torch.Tensor) -> torch.Tensor:
        """Top-down with every layer at its posterior mean."""
        est = self.bottom_up(as_batch(batch).x)
        z = est[-1].mu
        for i in range(len(self.dims) - 2, -1, -1):
            z = merge(est[i], DiagonalGaussian.from_params(self.down[i](z))).mu
        return self.decode(z).mean
