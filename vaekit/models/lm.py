"""A language model: the autoregressive decoder of a text VAE with no latent code.

Mikolov et al., "Recurrent neural network based language model", Interspeech 2010; the baseline of
Bowman et al. 2016 (https://arxiv.org/abs/1511.06349) and of every text VAE paper since: a VAE
whose decoder is this model must reach its likelihood while putting information in z, or its
latent is decoration.

p(x) = prod_t p(x_t | x_<t), the same sequence decoder (`rnn` or `transformer`) and `tokens`
likelihood a text VAE uses, built with a code of width 0: what the VAE's decoder reads from z
(its initial state, the z beside each input, the prefix position) is then a learned constant,
so the two models differ by z alone. Training maximises log p(x) (the terms' KL is 0), and the
importance-sampled NLL is exact: every "sample" has weight log p(x).

The family has no encoder and no latent (`Traits.posterior == "none"`): the tools that read codes
(embed, interpolate, the latent figures, aggressive training) refuse it or skip their part.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import torch

from vaekit.contract import Batch, Family, Terms, Traits, as_batch
from vaekit.distributions.tokens import TokensConfig
from vaekit.errors import ConfigError
from vaekit.nn.recurrent import RNNConfig
from vaekit.registry import LIKELIHOODS, MODELS, NETWORKS
from vaekit.sections import LikelihoodConfig, ModelConfig, NetworkConfig

NO_LATENT = ("model 'lm' is a language model with no latent code; {what} needs a latent variable model "
             "(model.name=vae with the same decoder)")


@dataclass(frozen=True)
class LMConfig(ModelConfig):
    """A language model: a sequence decoder and the tokens likelihood (no encoder, no latent)."""

    name: str = "lm"
    decoder: NetworkConfig = field(default_factory=RNNConfig)
    likelihood: LikelihoodConfig = field(default_factory=TokensConfig)


@MODELS.register("lm", config=LMConfig)
class LanguageModel(Family):
    """forward(batch) -> Terms with recon = log p(x) and kl = 0; sample(n) -> greedy token ids."""

    traits = Traits(posterior="none", ignores=frozenset({"beta", "free_bits"}))

    def __init__(self, config: LMConfig, data_shape: tuple[int, ...], num_classes: int | None = None) -> None:
        super().__init__()
        self.config = config
        self.data_shape = tuple(data_shape)
        self.likelihood = LIKELIHOODS.build(config.likelihood, self.data_shape)
        network = NETWORKS.get(config.decoder.name)
        if not (getattr(network, "tokens", False) and self.likelihood.tokens):
            raise ConfigError(f"model 'lm' models token sequences: it needs a sequence decoder (model.decoder.name=rnn "
                              f"or transformer, not {config.decoder.name}) and model.likelihood.name=tokens, on "
                              f"data.name=text")
        with warnings.catch_warnings():  # the code's width-0 input weights: nothing to initialise, as intended
            warnings.filterwarnings("ignore", "Initializing zero-element tensors")
            self.decoder = network.decoder(config.decoder, 0, self.likelihood.param_shape())

    @property
    def num_dims(self) -> int:
        return math.prod(self.data_shape)

    @property
    def code_size(self) -> int:
        return 0

    def _px(self, n: int, device: torch.device, lead: tuple[int, ...] = ()):
        """p(x) for n sequences: the decoder bound to n empty codes (*lead, n, 0)."""
        return self.likelihood(self.decoder(torch.zeros(*lead, n, 0, device=device)))

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    def forward(self, batch: Batch | torch.Tensor) -> Terms:
        """log p(x) per sequence as the reconstruction term; no KL (zeros), so the ELBO is log p(x)."""
        b = as_batch(batch)
        px = self._px(len(b.x), b.x.device)
        recon = px.log_prob(b.x, b.mask)
        return Terms(recon, torch.zeros_like(recon), px=px)

    @torch.no_grad()
    def log_weights(self, batch: Batch | torch.Tensor, num_samples: int) -> torch.Tensor:
        """log p(x) repeated for each of the S "samples", (S, B): their log-mean-exp is log p(x)."""
        b = as_batch(batch)
        return self._px(len(b.x), b.x.device).log_prob(b.x, b.mask).expand(num_samples, -1)

    @torch.no_grad()
    def generate(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None,
                 y: torch.Tensor | None = None):
        """p(x) for n sequences (`temperature` scales a prior the model does not have: unused);
        `.mean` is the greedy decoding, `.sample()` ancestral draws."""
        return self._px(n, self._device())

    @torch.no_grad()
    def sample(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None,
               y: torch.Tensor | None = None) -> torch.Tensor:
        """n ancestral draws from p(x), token ids (n, max_length): without a latent, the greedy
        decoding is one sentence n times, so the sample is drawn token by token."""
        return self.generate(n).sample(generator)

    def encode(self, batch: Batch | torch.Tensor):
        raise ConfigError(NO_LATENT.format(what="encoding"))

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None):
        raise ConfigError(NO_LATENT.format(what="decoding a code"))

    def decode_code(self, z: torch.Tensor, y: torch.Tensor | None = None):
        raise ConfigError(NO_LATENT.format(what="decoding a code"))

    def decode_sample(self, z: torch.Tensor, temperature: float = 1.0, generator: torch.Generator | None = None,
                      y: torch.Tensor | None = None) -> torch.Tensor:
        raise ConfigError(NO_LATENT.format(what="decoding a code"))

    def reconstruct(self, batch: Batch | torch.Tensor) -> torch.Tensor:
        raise ConfigError(NO_LATENT.format(what="reconstruction"))
