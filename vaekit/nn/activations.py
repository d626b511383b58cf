"""Activation functions by name."""

from __future__ import annotations

from torch import nn

from vaekit.errors import ConfigError
from vaekit.registry import suggest

# In place where the op allows it: every activation here follows a linear or conv layer whose
# output nothing else reads, and skipping the copy saves a pass over the largest activations.
_ACTIVATIONS = {
    "relu": lambda: nn.ReLU(inplace=True),
    "leaky_relu": lambda: nn.LeakyReLU(0.2, inplace=True),
    "elu": lambda: nn.ELU(inplace=True),
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
