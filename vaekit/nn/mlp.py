"""Fully connected encoder and decoder."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from vaekit.sections import AT_LEAST_1, NetworkConfig, Range
from vaekit.errors import ConfigError
from vaekit.nn.activations import activation
from vaekit.registry import NETWORKS


@dataclass(frozen=True)
class MLPConfig(NetworkConfig):
    """Hidden widths of the MLP, input side first (the decoder uses them reversed)."""

    name: str = "mlp"
    hidden: tuple[int, ...] = (512,)
    activation: str = "relu"
    gated: bool = False  # gated hidden layers, h = (W x + b) * sigmoid(V x + c), as in the VampPrior paper

    ranges: ClassVar[dict[str, Range]] = {"hidden": AT_LEAST_1}


class Gated(nn.Module):
    """A gated dense layer (Dauphin et al. 2017; used by Tomczak & Welling 2018): one matmul
    produces both halves, the gate is a sigmoid."""

    def __init__(self, d_in: int, d_out: int) -> None:
        super().__init__()
        self.linear = nn.Linear(d_in, 2 * d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, g = self.linear(x).chunk(2, dim=-1)
        return h * torch.sigmoid(g)


def hidden_layer(d_in: int, d_out: int, act: str, gated: bool = False) -> nn.Module:
    """One hidden layer: gated, or linear + activation."""
    return Gated(d_in, d_out) if gated else nn.Sequential(nn.Linear(d_in, d_out), activation(act))


def mlp(sizes: list[int], act: str, gated: bool = False) -> nn.Sequential:
    """Layers through `sizes`: hidden ones are linear + activation (or gated), the last is linear."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        if i == len(sizes) - 2:
            layers.append(nn.Linear(a, b))
        elif gated:
            layers.append(Gated(a, b))
        else:
            layers.extend([nn.Linear(a, b), activation(act)])
    return nn.Sequential(*layers)


class MLPEncoder(nn.Module):
    """(B, *in_shape) -> (B, out_features)."""

    def __init__(self, config: MLPConfig, in_shape: tuple[int, ...], out_features: int) -> None:
        super().__init__()
        _check(config)
        self.net = mlp([math.prod(in_shape), *config.hidden, out_features], config.activation, config.gated)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))


class MLPDecoder(nn.Module):
    """(B, in_features) -> (B, *out_shape)."""

    def __init__(self, config: MLPConfig, in_features: int, out_shape: tuple[int, ...]) -> None:
        super().__init__()
        _check(config)
        self.out_shape = tuple(out_shape)
        self.net = mlp([in_features, *reversed(config.hidden), math.prod(out_shape)], config.activation, config.gated)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.net(z)
        return h.view(*h.shape[:-1], *self.out_shape)


MAX_LAYERS = 100  # hidden layers; far past any useful depth (a list pasted twice thousands of times is a typo)


def _check(config: MLPConfig) -> None:
    if any(h <= 0 for h in config.hidden):
        raise ConfigError(f"mlp hidden widths must be positive, got {list(config.hidden)}")
    if len(config.hidden) > MAX_LAYERS:
        raise ConfigError(f"the mlp has {len(config.hidden)} hidden layers, more than {MAX_LAYERS}; "
                          "list one width per layer, for example hidden=[256,128]")


@NETWORKS.register("mlp", config=MLPConfig)
class MLP:
    """Registry entry: builds the MLP encoder or decoder."""

    spatial = False  # the encoder reads flat vectors; conditioning is concatenated
    tokens = False  # reads numbers, not token ids (see vaekit.nn.sequence)

    encoder = MLPEncoder
    decoder = MLPDecoder
