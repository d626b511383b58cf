"""Shared network blocks: MLP and convolutional encoders/decoders."""

from vaekit.nn import conv, mlp  # noqa: F401  (registers the networks)
from vaekit.nn.activations import activation

__all__ = ["activation"]
