"""Convolutional encoder and decoder for images.

Each stage halves (encoder) or doubles (decoder) the spatial size with a 4x4 stride-2
convolution, so image sides must be divisible by 2 ** len(channels).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from vaekit.sections import AT_LEAST_1, NON_NEGATIVE, NetworkConfig, Range
from vaekit.errors import ConfigError
from vaekit.nn.activations import activation
from vaekit.registry import NETWORKS


@dataclass(frozen=True)
class ConvConfig(NetworkConfig):
    """Channels per stride-2 stage (input side first) and the width of the dense layer."""

    name: str = "conv"
    channels: tuple[int, ...] = (32, 64)
    hidden: int = 256  # dense layer between the feature map and the latent code; 0 = none
    activation: str = "relu"

    ranges: ClassVar[dict[str, Range]] = {"channels": AT_LEAST_1, "hidden": NON_NEGATIVE}


def _feature_size(config: ConvConfig, shape: tuple[int, ...]) -> tuple[int, int]:
    if len(shape) != 3:
        raise ConfigError(
            f"the conv network needs images (C, H, W), but the data has shape {tuple(shape)}; "
            "use model.encoder.name=mlp and model.decoder.name=mlp for vectors"
        )
    factor = 2 ** len(config.channels)
    _, h, w = shape
    if h % factor or w % factor:
        raise ConfigError(
            f"images of {h}x{w} do not fit a conv network with {len(config.channels)} stride-2 stages: "
            f"sides must be divisible by {factor}; resize them (data.image_size) or use fewer stages "
            "(model.encoder.channels / model.decoder.channels)"
        )
    return h // factor, w // factor


class ConvEncoder(nn.Module):
    """(B, C, H, W) -> (B, out_features)."""

    def __init__(self, config: ConvConfig, in_shape: tuple[int, ...], out_features: int) -> None:
        super().__init__()
        fh, fw = _feature_size(config, in_shape)
        layers: list[nn.Module] = []
        c_in = in_shape[0]
        for c in config.channels:
            layers += [nn.Conv2d(c_in, c, 4, stride=2, padding=1), activation(config.activation)]
            c_in = c
        layers.append(nn.Flatten())
        flat = c_in * fh * fw
        if config.hidden:
            layers += [nn.Linear(flat, config.hidden), activation(config.activation)]
            flat = config.hidden
        layers.append(nn.Linear(flat, out_features))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ConvDecoder(nn.Module):
    """(B, in_features) -> (B, C_out, H, W); the stages mirror the encoder's."""

    def __init__(self, config: ConvConfig, in_features: int, out_shape: tuple[int, ...]) -> None:
        super().__init__()
        fh, fw = _feature_size(config, out_shape)
        chans = list(reversed(config.channels))
        self.start = (chans[0], fh, fw)
        dense: list[nn.Module] = []
        width = in_features
        if config.hidden:
            dense += [nn.Linear(width, config.hidden), activation(config.activation)]
            width = config.hidden
        dense += [nn.Linear(width, chans[0] * fh * fw), activation(config.activation)]
        self.dense = nn.Sequential(*dense)
        layers: list[nn.Module] = []
        for i, c in enumerate(chans):
            last = i == len(chans) - 1
            c_out = out_shape[0] if last else chans[i + 1]
            layers.append(nn.ConvTranspose2d(c, c_out, 4, stride=2, padding=1))
            if not last:
                layers.append(activation(config.activation))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        lead = z.shape[:-1]
        h = self.dense(z.reshape(-1, z.shape[-1])).view(-1, *self.start)  # (B, C, h, w)
        out = self.net(h)
        return out.view(*lead, *out.shape[1:])


@NETWORKS.register("conv", config=ConvConfig)
class Conv:
    """Registry entry: builds the convolutional encoder or decoder."""

    spatial = True  # the encoder reads (C, H, W) images; conditioning enters as extra channels
    tokens = False  # reads numbers, not token ids (see vaekit.nn.sequence)

    encoder = ConvEncoder
    decoder = ConvDecoder
