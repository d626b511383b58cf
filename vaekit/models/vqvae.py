"""The vector-quantised VAE.

van den Oord, Vinyals & Kavukcuoglu, "Neural Discrete Representation Learning", NeurIPS 2017,
https://arxiv.org/abs/1711.00937.

The encoder emits latent_dim code vectors of code_dim numbers each, z_e (B, latent_dim, code_dim);
each is replaced by its nearest codebook entry, z_q, and the decoder maps the flattened z_q to the
likelihood. The encoder gets the decoder's gradient straight through the quantiser
(z_q = z_e + sg(z_q - z_e)) plus the commitment loss commitment * ||z_e - sg(z_q)||^2. The codebook
is no parameter: it follows the encoder outputs assigned to it by exponential moving averages
(the paper's appendix A.1), and a code left unused for `dead_after` training steps is restarted at
a random encoder output of the batch. A small autoregressive (MADE-style masked) network learns a
prior over the code indices from the detached codes, on its own objective (`aux_loss`), and draws
the codes for `sample`.

The posterior is a point mass on the codes: `encode` returns a `PointMass` at z_e (flattened),
`forward`'s KL is -log p_prior(codes) under the learned prior (the paper trains against a
uniform prior, where it is the constant latent_dim * log(codebook_size)); and `log_weights` is
log p(x|z_q) + log p_prior(codes), the same for every sample and equal to the ELBO: its "NLL" is
the length of the model's own lossless code for x (codes under the prior, then x given the codes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from vaekit.sections import AT_LEAST_1, NON_NEGATIVE, Range
from vaekit.contract import Batch, Terms, Traits, as_batch
from vaekit.distributions import PointMass
from vaekit.errors import ConfigError
from vaekit.models.vae import VAE, VAEConfig
from vaekit.registry import MODELS


@dataclass(frozen=True)
class VQVAEConfig(VAEConfig):
    name: str = "vqvae"
    codebook_size: int = 64  # K: codes in the codebook
    code_dim: int = 16  # numbers per code vector; latent_dim is the number of code vectors per example
    commitment: float = 0.25  # beta of the paper: weight of ||z_e - sg(z_q)||^2
    ema_decay: float = 0.99  # decay of the codebook's moving averages
    dead_after: int = 100  # training steps a code may go unused before it is restarted
    prior_hidden: int = 128  # hidden units of the autoregressive prior over the codes

    ranges: ClassVar[dict[str, Range]] = {"codebook_size": AT_LEAST_1, "code_dim": AT_LEAST_1, "commitment": NON_NEGATIVE,
                                          "dead_after": AT_LEAST_1, "prior_hidden": AT_LEAST_1}


class MaskedLinear(nn.Linear):
    """A linear layer whose weight is multiplied by a fixed 0/1 mask (out, in)."""

    def __init__(self, mask: torch.Tensor) -> None:
        super().__init__(mask.shape[1], mask.shape[0])
        self.register_buffer("mask", mask.float(), persistent=False)  # rebuilt from the config

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


class CodePrior(nn.Module):
    """p(c) = prod_i p(c_i | c_<i) over L positions of K symbols, a one-hidden-layer MADE
    (Germain et al. 2015) with a direct masked input-to-output connection: the logits of position
    i see the one-hots of positions < i only."""

    def __init__(self, positions: int, symbols: int, hidden: int) -> None:
        super().__init__()
        self.positions, self.symbols = positions, symbols
        pos_in = torch.arange(positions).repeat_interleave(symbols)  # position of each input unit
        pos_out = pos_in  # and of each output logit
        # Hidden unit h sees positions <= deg(h), deg in 0..L-2; output position i sees deg < i.
        deg = torch.arange(hidden) % max(1, positions - 1)
        self.hidden = MaskedLinear(deg[:, None] >= pos_in[None, :])
        self.out = MaskedLinear(pos_out[:, None] > deg[None, :])
        self.direct = MaskedLinear(pos_out[:, None] > pos_in[None, :])

    def logits(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (B, L) long -> logits (B, L, K) of p(c_i | c_<i)."""
        onehot = F.one_hot(codes, self.symbols).flatten(-2).float()
        h = torch.relu(self.hidden(onehot))
        return (self.out(h) + self.direct(onehot)).unflatten(-1, (self.positions, self.symbols))

    def log_prob(self, codes: torch.Tensor) -> torch.Tensor:
        """log p(codes): (B,)."""
        logp = torch.log_softmax(self.logits(codes), dim=-1)
        return logp.gather(-1, codes.unsqueeze(-1)).squeeze(-1).sum(-1)

    @torch.no_grad()
    def sample(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """n code sequences (n, L), position by position, with the logits divided by temperature."""
        device = self.direct.weight.device
        codes = torch.zeros(n, self.positions, dtype=torch.long, device=device)
        for i in range(self.positions):
            probs = torch.softmax(self.logits(codes)[:, i] / temperature, dim=-1)
            codes[:, i] = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
        return codes


@MODELS.register("vqvae", config=VQVAEConfig)
class VQVAE(VAE):
    """A VAE with a vector-quantised, EMA-updated codebook and a learned autoregressive code prior."""

    # The loss has no KL term to weight; encode() is a point mass on the codes.
    traits = Traits(posterior="point_mass", ignores=frozenset({"free_bits", "beta"}))

    def __init__(self, config: VQVAEConfig, data_shape: tuple[int, ...], num_classes: int | None = None) -> None:
        for key in ("codebook_size", "code_dim", "dead_after", "prior_hidden"):
            if getattr(config, key) < 1:
                raise ConfigError(f"model.{key} must be at least 1, got {getattr(config, key)}")
        if not 0.0 <= config.ema_decay < 1.0:
            raise ConfigError(f"model.ema_decay must be in [0, 1), got {config.ema_decay}")
        if config.prior.name != "standard_normal":
            raise ConfigError("model 'vqvae' learns its own prior over the codes; remove model.prior")
        self.codebook_size, self.code_dim = config.codebook_size, config.code_dim
        super().__init__(config, data_shape, num_classes)
        self.commitment, self.ema_decay, self.dead_after = config.commitment, config.ema_decay, config.dead_after
        k, c = config.codebook_size, config.code_dim
        codebook = torch.randn(k, c)
        self.register_buffer("codebook", codebook)
        # codebook = embed_sum / cluster_size, the two started consistent so that a code with no
        # assignments keeps its place while both decay.
        self.register_buffer("cluster_size", torch.ones(k))
        self.register_buffer("embed_sum", codebook.clone())
        self.register_buffer("unused_steps", torch.zeros(k, dtype=torch.long))
        # Whether the codebook has been placed on encoder outputs (the first training batch): codes
        # drawn at random far from where the encoder's outputs lie would leave all but one unused.
        self.register_buffer("initialized", torch.tensor(False))
        self.code_prior = CodePrior(config.latent_dim, k, config.prior_hidden)

    def encoder_features(self) -> int:
        return self.latent_dim * self.code_dim

    def network_inputs(self) -> tuple[tuple[int, ...], int]:
        return self.data_shape, self.latent_dim * self.code_dim

    @property
    def code_size(self) -> int:
        """latent_dim code vectors of code_dim numbers each, flattened."""
        return self.latent_dim * self.code_dim

    def auxiliary_parameters(self) -> list[nn.Parameter]:
        """The code prior's parameters: trained on `Terms.aux` alone."""
        return list(self.code_prior.parameters())

    # ------------------------------------------------------------------ quantisation

    def encode_codes(self, x: torch.Tensor) -> torch.Tensor:
        """z_e: (B, L, code_dim)."""
        return self.encoder(x).float().unflatten(-1, (self.latent_dim, self.code_dim))

    def nearest(self, z_e: torch.Tensor) -> torch.Tensor:
        """Index of the nearest codebook entry for each vector of z_e (..., C): (...,) long."""
        flat = z_e.detach().reshape(-1, self.code_dim)
        dist = (flat**2).sum(-1, keepdim=True) - 2 * flat @ self.codebook.T + (self.codebook**2).sum(-1)
        return dist.argmin(-1).reshape(z_e.shape[:-1])

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """Codebook vectors of the indices (B, L): (B, L, C)."""
        return F.embedding(codes, self.codebook)

    def quantize(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(z_e, codes, z_q) of x, z_q with the straight-through gradient to z_e."""
        z_e = self.encode_codes(x)
        codes = self.nearest(z_e)
        z_q = self.lookup(codes)
        return z_e, codes, z_e + (z_q - z_e).detach()

    @torch.no_grad()
    def init_codebook(self, z_e: torch.Tensor) -> None:
        """Place the codebook on distinct random encoder outputs of the batch (with repeats only
        where the batch holds fewer vectors than codes)."""
        flat = z_e.detach().reshape(-1, self.code_dim).float()
        n, k = len(flat), self.codebook_size
        pick = torch.randperm(n, device=flat.device)[:k] if n >= k else torch.randint(n, (k,), device=flat.device)
        self.codebook.copy_(flat[pick])
        self.embed_sum.copy_(flat[pick])
        self.cluster_size.fill_(1.0)
        self.unused_steps.zero_()
        self.initialized.fill_(True)

    @torch.no_grad()
    def update_codebook(self, z_e: torch.Tensor, codes: torch.Tensor) -> None:
        """One EMA step of the codebook towards the encoder outputs assigned to each code, then the
        restart of codes unused for `dead_after` steps at random encoder outputs of the batch. In
        a distributed run the counts and sums are those of the global batch (every process then
        holds the same codebook, as one process would; DDP keeps the first process's restarts)."""
        flat = z_e.detach().reshape(-1, self.code_dim).float()
        onehot = F.one_hot(codes.reshape(-1), self.codebook_size).float()  # (N, K)
        counts, sums = onehot.sum(0), onehot.T @ flat
        if dist.is_available() and dist.is_initialized():  # a distributed run: the statistics of the global batch
            dist.all_reduce(counts)
            dist.all_reduce(sums)
        d = self.ema_decay
        self.cluster_size.mul_(d).add_(counts, alpha=1 - d)
        self.embed_sum.mul_(d).add_(sums, alpha=1 - d)
        self.codebook.copy_(self.embed_sum / self.cluster_size.clamp_min(1e-12).unsqueeze(-1))
        self.unused_steps.add_(1).masked_fill_(counts > 0, 0)
        dead = (self.unused_steps >= self.dead_after).nonzero().squeeze(-1)
        if len(dead):
            pick = torch.randint(len(flat), (len(dead),), device=flat.device)
            self.codebook[dead] = flat[pick]
            self.embed_sum[dead] = flat[pick]
            self.cluster_size[dead] = 1.0
            self.unused_steps[dead] = 0

    # ------------------------------------------------------------------ the VAE interface

    def encode(self, batch: Batch | torch.Tensor) -> PointMass:
        """The point mass at z_e, flattened: (B, L * code_dim)."""
        return PointMass(self.encode_codes(as_batch(batch).x).flatten(-2))

    def forward(self, batch: Batch | torch.Tensor) -> Terms:
        """log p(x|z_q); KL = -log p_prior(codes) (the posterior is a point mass on the codes, so
        with the learned prior the ELBO is log p(x|z_q) + log p(codes), the same bound as
        log_weights; it is reported, not trained: the codes are not differentiable); the
        commitment penalty; and the code prior's cross-entropy on the detached codes as `aux`.
        In training mode the codebook takes its EMA step (after z_q is computed, so this batch is
        decoded with the old codebook); the first training batch first places the codebook on
        its encoder outputs."""
        b = as_batch(batch)
        if self.training and not bool(self.initialized):
            self.init_codebook(self.encode_codes(b.x))
        z_e, codes, z_q = self.quantize(b.x)
        z = z_q.flatten(-2)
        px = self.decode(z, b.y)
        commit = ((z_e - z_q.detach()) ** 2).sum((-2, -1))  # (B,)
        prior_nll = -self.code_prior.log_prob(codes.detach())  # (B,)
        with torch.no_grad():
            hist = torch.bincount(codes.reshape(-1), minlength=self.codebook_size).float()
            p = hist / hist.sum()
            entropy = -(p * torch.log(p.clamp_min(1e-30))).sum()
        if self.training:
            self.update_codebook(z_e, codes)
        return Terms(px.log_prob(b.x, b.mask), prior_nll.detach(), regularizer=torch.zeros_like(commit),
                     penalties={"commitment": (self.commitment, commit)}, aux=prior_nll,
                     logs={"prior_nll": prior_nll, "perplexity": entropy.exp(), "codebook_usage": (hist > 0).float().mean()},
                     z=z, posterior=PointMass(z_e.flatten(-2)), px=px)

    @torch.no_grad()
    def log_weights(self, batch: Batch | torch.Tensor, num_samples: int) -> torch.Tensor:
        """log p(x|z_q) + log p_prior(codes), the same for every one of the S "samples": (S, B)."""
        b = as_batch(batch)
        _, codes, z_q = self.quantize(b.x)
        lw = self.decode(z_q.flatten(-2), b.y).log_prob(b.x, b.mask) + self.code_prior.log_prob(codes)
        return lw.expand(num_samples, *lw.shape).clone()

    @torch.no_grad()
    def generate(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None,
                 y: torch.Tensor | None = None):
        """p(x|z_q) for codes drawn from the learned prior (logits / temperature); `sample` is its mean."""
        codes = self.code_prior.sample(n, temperature, generator)
        return self.decode(self.lookup(codes).flatten(-2), y)

    def decode_code(self, z: torch.Tensor, y: torch.Tensor | None = None):
        """p(x|z_q) for a code z in the space `encode` returns (z_e, flattened): each of its
        vectors snapped to the nearest codebook entry, the only inputs the decoder has seen."""
        z_e = z.float().unflatten(-1, (self.latent_dim, self.code_dim))
        return self.decode(self.lookup(self.nearest(z_e)).flatten(-2), y)

    @torch.no_grad()
    def reconstruct(self, batch: Batch | torch.Tensor) -> torch.Tensor:
        b = as_batch(batch)
        _, _, z_q = self.quantize(b.x)
        return self.decode(z_q.flatten(-2), b.y).mean
