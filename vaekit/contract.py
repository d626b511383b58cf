"""The model contract: what data sets, model families, the objective and the trainer agree on.

    data set  --Batch-->  family.forward  --Terms-->  objectives.reduce  --Loss-->  train.step
                                                          ^ Weights (beta, free bits, KL target)

- A `Batch` carries one minibatch: x and whatever travels with it (labels y, a mask of observed
  entries, sequence lengths, named extras). Families take the batch, never loose tensors, so a
  new field reaches every family without changing a signature.
- A family is an `nn.Module` subclassing `Family`. Training enters through `forward(batch)`,
  which returns `Terms`: per-example quantities of shape (B,) (or (K, B) for K importance
  samples) in nats. A family never takes a batch mean, weighs the KL by beta, applies free bits
  or builds the metrics dict: `vaekit.objectives.reduce` does, once, for every family.
- What the trainer, the samplers and the pictures need to know about a family is its `Traits`,
  one frozen object, instead of attributes looked up one by one.
- `encode(batch)` returns the posterior (a `vaekit.distributions.Distribution`);
  `decode(z, y)` returns the likelihood p(x|z), a distribution whose `log_prob(x, mask)` may read
  x (teacher forcing); `log_weights(batch, k)` gives the importance weights of the NLL.

This module imports nothing of vaekit but its errors, so every layer may import it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any, Iterator, Literal, Mapping

import torch
from torch import nn

from vaekit.errors import InputError

# The token ids every text vocabulary reserves (`vaekit.data.text` builds its vocabularies so):
# the layout the sequence networks (`vaekit.nn`) and the tokens likelihood read. A text example is
# (L,) int64 ids `w_1 .. w_n <eos> <pad> ...`, with no `<bos>` (the decoder's inputs start with it).
PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3


@dataclass(frozen=True)
class Batch:
    """One minibatch. `x` (B, *shape) is the data; the rest is optional and travels with it:
    `y` labels (B,) int64 or conditions (B, K) float; `mask` like x, 1 where an entry is observed
    and 0 where it is missing; `lengths` (B,) int64 for sequences; `extra` any further named
    per-example tensors (B, ...)."""

    x: torch.Tensor
    y: torch.Tensor | None = None
    mask: torch.Tensor | None = None
    lengths: torch.Tensor | None = None
    extra: Mapping[str, torch.Tensor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.x, torch.Tensor):
            raise InputError(f"a Batch's x must be a torch.Tensor, got {type(self.x).__name__}")
        n = self.x.shape[0] if self.x.ndim else None
        for name, t in self.tensors():
            if name == "x":
                continue
            if not isinstance(t, torch.Tensor):
                raise InputError(f"a Batch's {name} must be a torch.Tensor or None, got {type(t).__name__}")
            if t.ndim == 0 or t.shape[0] != n:
                raise InputError(f"a Batch's {name} has {t.shape[0] if t.ndim else 'no'} rows but x has {n}; "
                                 f"give one row per example")
        if self.mask is not None and self.mask.shape != self.x.shape:
            raise InputError(f"a Batch's mask has shape {tuple(self.mask.shape)} but x has {tuple(self.x.shape)}; "
                             "the mask marks each entry of x")

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def tensors(self) -> Iterator[tuple[str, torch.Tensor]]:
        """(name, tensor) of every field that is set, extras by their own names."""
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "extra":
                yield from value.items()
            elif value is not None:
                yield f.name, value

    def map(self, fn) -> Batch:
        """The batch with `fn` applied to every tensor (a device move, an index)."""
        def opt(t):
            return None if t is None else fn(t)
        return Batch(fn(self.x), opt(self.y), opt(self.mask), opt(self.lengths), {k: fn(v) for k, v in self.extra.items()})

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        return self.map(lambda t: t.to(device, non_blocking=non_blocking))

    def __getitem__(self, index) -> Batch:
        """The examples `index` selects (a slice, an index tensor)."""
        return self.map(lambda t: t[index])

    def with_x(self, x: torch.Tensor) -> Batch:
        """The same batch around other data of the same examples (binarized draws, say)."""
        return replace(self, x=x)


def as_batch(batch: Batch | torch.Tensor, y: torch.Tensor | None = None) -> Batch:
    """`batch` as a Batch: a bare tensor is the batch of that x (with labels `y`)."""
    if isinstance(batch, Batch):
        if y is not None:
            raise InputError("give the labels inside the Batch (Batch(x, y)), not beside it")
        return batch
    if isinstance(batch, torch.Tensor):
        return Batch(batch, y)
    raise InputError(f"expected a vaekit Batch or a torch.Tensor of examples, got {type(batch).__name__}")


@dataclass(frozen=True)
class KLTarget:
    """The annealed-capacity objective (Burgess et al. 2018): the batch-mean KL is pulled towards a
    capacity C that rises linearly from 0 to `capacity` nats over `steps` training steps, with
    weight `gamma`: loss = -recon + gamma |KL - C|. The trainer's schedule computes C."""

    gamma: float
    capacity: float
    steps: int


@dataclass(frozen=True)
class Traits:
    """What the trainer and the tools need to know about a family, declared once per class.

    conditional   the labels y change what the model does (CVAE); samplers then need a class
    posterior     'gaussian': encode() is a diagonal Gaussian; 'point_mass': a deterministic code
                  (VQ-VAE, WAE), so no KL per dimension, active units by variance only; 'none': no
                  latent at all (a language model), so the tools that read codes refuse it
    hierarchical  encode() gives the top of several latent layers
    select_by     what keeps the best checkpoint under train.select_by=auto: 'elbo', the family's
                  own validation 'objective', or the 'last' epoch (objectives that move)
    ignores       objective settings the family has no use for ('beta', 'free_bits'): refused
    kl_target     the annealed-capacity objective, for the families trained on it
    bound         the family has a likelihood bound (an ELBO / importance-sampled NLL)
    text          the family works with sequence networks on token ids: it reads x through its
                  encoder alone and never needs the likelihood's mean (which a sequence has not)
    """

    conditional: bool = False
    posterior: Literal["gaussian", "point_mass", "none"] = "gaussian"
    hierarchical: bool = False
    select_by: Literal["elbo", "objective", "last"] = "elbo"
    ignores: frozenset[str] = frozenset()
    kl_target: KLTarget | None = None
    bound: bool = True
    text: bool = True

    @property
    def gaussian_posterior(self) -> bool:
        return self.posterior == "gaussian"

    @property
    def latent(self) -> bool:
        """The family has a latent code (every family but a language model)."""
        return self.posterior != "none"


@dataclass
class Terms:
    """What `forward` returns: per-example terms in nats, shape (B,), or (K, B) for K importance
    samples (recon and kl then hold log p(x|z_k) and log q(z_k|x) - log p(z_k) per sample).

    recon        log p(x|z)
    kl           KL(q(z|x) || p(z)) (analytic where the prior allows, else the one-sample estimate)
    kl_per_dim   (B, D), the analytic KL per latent dimension: what free bits clamp
    kl_layers    the KL of each latent layer, bottom first, (B,) each: free bits per layer
    recon_weight weight of -recon in the loss (a VAE-GAN's pixel weight)
    regularizer  (B,) what beta weighs in place of the KL (beta-TCVAE's decomposition, an MMD)
    penalties    name -> (weight, (B,) value): further terms of the loss, logged unweighted
    aux          (B,) the objective of the family's auxiliary parameters (a discriminator, a code
                 prior), stepped by their own optimizer
    logs         name -> tensor (a scalar or (B,)): figures to log that are not part of the loss
    reparam      (z_leaf, z): for the doubly reparameterised IWAE gradient, the detached draw at
                 which recon and kl were computed and the reparameterised draw it copies
    z, posterior, px  the draw, q(z|x) and p(x|z) of this pass, for tools (not the objective)
    """

    recon: torch.Tensor
    kl: torch.Tensor
    kl_per_dim: torch.Tensor | None = None
    kl_layers: tuple[torch.Tensor, ...] | None = None
    recon_weight: float = 1.0
    regularizer: torch.Tensor | None = None
    penalties: dict[str, tuple[float, torch.Tensor]] = field(default_factory=dict)
    aux: torch.Tensor | None = None
    logs: dict[str, torch.Tensor] = field(default_factory=dict)
    reparam: tuple[torch.Tensor, torch.Tensor] | None = None
    z: torch.Tensor | None = None
    posterior: Any = None
    px: Any = None

    @property
    def samples(self) -> int | None:
        """K for terms of K importance samples, None for one draw per example."""
        return int(self.recon.shape[0]) if self.recon.ndim == 2 else None

    @property
    def elbo(self) -> torch.Tensor:
        """The per-example ELBO, (B,): recon - kl, averaged over importance samples if there are any."""
        e = self.recon - self.kl
        return e.mean(0) if self.samples is not None else e


class Family(nn.Module):
    """The protocol every model family implements (see the module docstring). The defaults here
    are the ones most families want; a family overrides what its paper changes."""

    traits = Traits()
    num_classes: int | None = None  # of the labels a conditional family takes
    data_shape: tuple[int, ...] = ()  # one example's shape

    def forward(self, batch: Batch) -> Terms:  # pragma: no cover - the protocol
        raise NotImplementedError

    def encode(self, batch: Batch | torch.Tensor):  # pragma: no cover - the protocol
        """q(z|x): a distribution over codes of `code_size` numbers."""
        raise NotImplementedError

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None):  # pragma: no cover - the protocol
        """p(x|z) (given the condition y, for conditional families): a distribution."""
        raise NotImplementedError

    def generate(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None,
                 y: torch.Tensor | None = None):  # pragma: no cover - the protocol
        """p(x|z) for n codes drawn from the model's own prior (every layer, every code position):
        `.mean` is a sample's picture, `.sample()` a draw (a table's synthetic rows)."""
        raise NotImplementedError

    @property
    def code_size(self) -> int:  # pragma: no cover - the protocol
        """Numbers in one code as `encode` returns it (what interpolations move through)."""
        raise NotImplementedError

    def auxiliary_parameters(self) -> list[nn.Parameter]:
        """Parameters trained on `Terms.aux` alone, by an optimizer of their own: none by default."""
        return []

    def inference_parameters(self) -> list[nn.Parameter]:
        """The inference network's parameters, those of q(z|x) alone: what aggressive training
        (He et al. 2019, `train.aggressive`) steps on its own, the rest being the generative
        model's. By default the `encoder` submodule's; none (aggressive training refused) for a
        family without one. A family whose q(z|x) has more parts (the layers of a hierarchy)
        lists them all."""
        encoder = self._modules.get("encoder")  # a submodule by that name, not any attribute
        return list(encoder.parameters()) if encoder is not None else []

    def on_train_start(self, facts: Mapping[str, Any]) -> None:
        """Facts about the training data (`train_size`) a family may need before its first step."""
