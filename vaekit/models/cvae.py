"""The conditional VAE.

Sohn, Lee & Yan, "Learning Structured Output Representation using Deep Conditional Generative
Models", NeurIPS 2015, https://papers.nips.cc/paper/5775.

A condition c (here the one-hot label) enters both networks: q(z | x, c) and p(x | z, c), with
the prior p(z) left unconditional. Generating a chosen class is decoding prior draws with its c.
For images and a convolutional encoder, c enters as constant extra channels; for an MLP encoder
it is concatenated to the flattened input; the decoder always sees [z, c].

On text (the tokens likelihood) x is a row of token ids, which c cannot be concatenated to. There
the sequence encoder reads x alone and emits features h(x) (B, 2D); c joins them after it, and a
linear head gives (mu, log sigma^2) = W [h(x), c] + b of q(z|x,c). Since h(x) is itself a linear
map of the encoder's final states, this is the most general linear read-out of [states, c], just
as the MLP encoder's first layer reads [x, c]. The sequence decoder reads [z, c] as its code (the
initial state and every step's input, or the prefix position), so generation, importance
sampling and teacher forcing all see the class.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from vaekit.sections import NON_NEGATIVE, Range
from vaekit.contract import Batch, Traits, as_batch
from vaekit.distributions import DiagonalGaussian
from vaekit.errors import ConfigError, DataError
from vaekit.models.vae import VAE, VAEConfig
from vaekit.registry import MODELS, NETWORKS


@dataclass(frozen=True)
class CVAEConfig(VAEConfig):
    name: str = "cvae"
    num_classes: int = 0  # 0 takes the number of classes from the data's labels

    ranges: ClassVar[dict[str, Range]] = {"num_classes": NON_NEGATIVE}


@MODELS.register("cvae", config=CVAEConfig)
class CVAE(VAE):
    """q(z|x,y) and p(x|z,y) with one-hot labels y; everything else is the VAE's."""

    traits = Traits(conditional=True, text=True)

    def __init__(self, config: CVAEConfig, data_shape: tuple[int, ...], num_classes: int | None = None) -> None:
        classes = config.num_classes or num_classes or 0
        if classes < 2:
            raise ConfigError("the conditional VAE needs labels with at least 2 classes; use a labelled data "
                              "set (digits, mnist, fashion-mnist, an image folder with class subfolders) or set model.num_classes")
        # Plain attributes, set before the networks are built from them in VAE.__init__.
        self.num_classes = classes
        self.spatial = getattr(NETWORKS.get(config.encoder.name), "spatial", False)
        super().__init__(config, data_shape, num_classes)
        # On text, c joins the encoder's features h(x) instead of x: q(z|x,c) from [h(x), c].
        self.head = nn.Linear(self.encoder_features() + classes, 2 * self.latent_dim) if self.tokens else None

    @property
    def tokens(self) -> bool:
        """Whether x are token ids (the tokens likelihood, built before the networks)."""
        return self.likelihood.tokens

    def network_inputs(self) -> tuple[tuple[int, ...], int]:
        if self.tokens:  # ids take no condition: the encoder reads x alone, `head` adds c
            return self.data_shape, self.latent_dim + self.num_classes
        c, *rest = self.data_shape
        enc_in = (c + self.num_classes, *rest) if self.spatial else (math.prod(self.data_shape) + self.num_classes,)
        return enc_in, self.latent_dim + self.num_classes

    def _onehot(self, y: torch.Tensor | None) -> torch.Tensor:
        if y is None:
            raise DataError("the conditional VAE needs the labels of every example, but none were given; "
                            "pass y (or --class when sampling)")
        if y.dtype.is_floating_point:
            return y  # already a conditioning vector
        if int(y.max()) >= self.num_classes or int(y.min()) < 0:
            raise DataError(f"labels must lie in 0..{self.num_classes - 1}, got {int(y.min())}..{int(y.max())}")
        return F.one_hot(y, self.num_classes).float()

    def encode(self, batch: Batch | torch.Tensor) -> DiagonalGaussian:
        b = as_batch(batch)
        x = b.x
        if self.tokens:
            h = self.encoder(x)  # (B, 2D): features of the ids alone
            mu, logvar = self.head(torch.cat([h, self._onehot(b.y).to(h.dtype)], dim=-1)).float().chunk(2, dim=-1)
            return DiagonalGaussian(mu, logvar)
        c = self._onehot(b.y).to(x.dtype)  # (B, K)
        if self.spatial:
            inp = torch.cat([x, c[:, :, None, None].expand(-1, -1, *x.shape[2:])], dim=1)
        else:
            inp = torch.cat([x.flatten(1), c], dim=1)
        mu, logvar = self.encoder(inp).float().chunk(2, dim=-1)
        return DiagonalGaussian(mu, logvar)

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None):
        c = self._onehot(y).to(z.dtype).expand(*z.shape[:-1], self.num_classes)  # (*lead, K)
        return self.likelihood(self.decoder(torch.cat([z, c], dim=-1)))
