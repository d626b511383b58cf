"""Activation functions by name."""

from __future__ import annotations

from torch import nn

from vaekit.errors import ConfigError
from vaekit.registry import suggest

_ACTIVATIONS = {
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "softplus": nn.Softplus,
}


def activation(name: str) -> nn.Module:
    """A fresh activation module for `name` (relu, leaky_relu, elu, gelu, silu, tanh, softplus)."""
    if name not in _ACTIVATIONS:
        raise ConfigError(f"unknown activation '{name}'{suggest(name, list(_ACTIVATIONS))}")
    return _ACTIVATIONS[name]()
