"""The importance-weighted bound (Burda et al. 2016, https://arxiv.org/abs/1509.00519).

log p(x) >= L_K = E[log (1/K) sum_k w_k],  w_k = p(x, z_k) / q(z_k | x),  z_k ~ q(z | x).
L_1 is the ELBO, L_K rises with K, and L_K -> log p(x) as K grows, so L_5000 is the standard
estimate of the test log-likelihood.
"""

from __future__ import annotations

import math
from typing import Protocol

import torch


class WeightedModel(Protocol):
    def log_weights(self, x: torch.Tensor, num_samples: int, y: torch.Tensor | None = None) -> torch.Tensor: ...


def iwae_bound(log_w: torch.Tensor) -> torch.Tensor:
    """log (1/K) sum_k exp(log_w[k]) over the first dimension, stably, in fp32: (K, B) -> (B,)."""
    log_w = log_w.float()
    return torch.logsumexp(log_w, dim=0) - math.log(log_w.shape[0])


@torch.no_grad()
def log_likelihood(model: WeightedModel, x: torch.Tensor, num_samples: int, chunk_size: int,
                   y: torch.Tensor | None = None) -> torch.Tensor:
    """The K-sample importance estimate of log p(x) per example, (B,), computed in chunks of
    `chunk_size` samples so that memory stays bounded whatever K is."""
    chunks = []
    for start in range(0, num_samples, chunk_size):
        chunks.append(model.log_weights(x, min(chunk_size, num_samples - start), y).float())
    return iwae_bound(torch.cat(chunks, dim=0))
