"""Importance-sampled negative log-likelihood over a whole split.

Data points are batched and each batch's K samples are drawn in chunks, so every decoder call is
one large matmul over (chunk x batch) rows; the log-weights are kept in fp32 and combined in fp64
with one stable log-mean-exp per data point (`vaekit.objectives.log_mean_exp`).
"""

from __future__ import annotations

import math
import sys

import torch
from torch import nn
from tqdm import tqdm

from vaekit.contract import PAD_ID
from vaekit.distributions.likelihoods import Likelihood
from vaekit.objectives.iwae import log_likelihood
from vaekit.sample.ops import reads_tokens
from vaekit.seeding import seeded


def auto_chunk(num_samples: int, batch_size: int, num_dims: int, budget_bytes: int = 16 << 20) -> int:
    """Samples per chunk so that one chunk's decoder output (fp32) fills about `budget_bytes`;
    `num_dims` is the numbers the decoder emits per example (`decoder_numbers`: the data's
    dimensions for images, L x V logits for text).

    16 MiB (about 5,000 rows of 784 logits) keeps a chunk's activations near the caches: on the
    2-core reference machine it ran at 52-58% of the matmul peak where 32 MiB ran at 46%. A text
    model's one sample of a batch may exceed it by itself; the chunk is then one sample, and memory
    stays that of one decoder pass whatever K is."""
    per_sample = batch_size * num_dims * 4
    return max(1, min(num_samples, budget_bytes // max(1, per_sample)))


def decoder_numbers(model: nn.Module) -> int:
    """Numbers the decoder emits per example: its likelihood's `output_numbers` (L x V logits for
    a text model, not the L positions `num_dims` counts), or `num_dims` for a family without a
    likelihood module."""
    likelihood = model._modules.get("likelihood")
    return likelihood.output_numbers() if isinstance(likelihood, Likelihood) else model.num_dims


def trim(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A text model's batch of ids cut to its longest sentence (the columns after it are all
    padding, which the encoder skips and the likelihood does not count): the same figures, without
    decoding positions no sentence of the batch has. Other data pass unchanged."""
    if not reads_tokens(model) or x.ndim != 2:
        return x
    longest = int((x != PAD_ID).sum(1).max()) if len(x) else 0
    return x[:, : max(1, longest)]


@torch.no_grad()
def importance_nll(model: nn.Module, x: torch.Tensor, num_samples: int = 5000, batch_size: int = 100,
                   chunk_size: int = 0, seed: int | None = 0, y: torch.Tensor | None = None) -> torch.Tensor:
    """-log p(x) per example (N,), estimated with `num_samples` importance samples from q(z|x).

    With a fixed `seed` the estimate is repeatable and the caller's RNG stream is untouched.
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    chunk = chunk_size or auto_chunk(num_samples, batch_size, decoder_numbers(model))
    out = []
    # K=5000 on 10,000 images takes minutes: a live bar on a terminal, nothing in logs and tests.
    bar = tqdm(total=len(x), desc=f"NLL (K={num_samples})", unit="ex", leave=False, disable=not sys.stderr.isatty())
    with seeded(seed, device), bar:
        for start in range(0, len(x), batch_size):
            xb = trim(model, x[start : start + batch_size]).to(device, non_blocking=True)
            yb = None if y is None else y[start : start + batch_size].to(device)
            out.append(-log_likelihood(model, xb, num_samples, chunk, yb).double().cpu())
            bar.update(len(xb))
    model.train(was_training)
    return torch.cat(out)


def mean_and_stderr(values: torch.Tensor) -> tuple[float, float]:
    """The mean of per-example values and its standard error."""
    values = values.double()
    n = values.numel()
    std = float(values.std()) if n > 1 else 0.0
    return float(values.mean()), std / math.sqrt(max(1, n))
