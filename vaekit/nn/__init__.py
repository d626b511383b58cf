"""Shared network blocks: MLP and convolutional encoders/decoders, and sequence networks over
token ids (recurrent, Transformer)."""

from vaekit.nn import conv, mlp, recurrent, transformer  # noqa: F401  (registers the networks)
from vaekit.nn.activations import activation

__all__ = ["activation"]
