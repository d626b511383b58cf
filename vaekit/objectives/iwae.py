"""The importance-weighted bound (Burda et al. 2016, https://arxiv.org/abs/1509.00519).

log p(x) >= L_K = E[log (1/K) sum_k w_k],  w_k = p(x, z_k) / q(z_k | x),  z_k ~ q(z | x).
L_1 is the ELBO, L_K rises with K, and L_K -> log p(x) as K grows, so L_5000 is the standard
estimate of the test log-likelihood.
"""

from __future__ import annotations

import math
from typing import Protocol

import torch

from vaekit.contract import Batch


class WeightedModel(Protocol):
    def log_weights(self, batch: Batch, num_samples: int) -> torch.Tensor: ...


def iwae_bound(log_w: torch.Tensor) -> torch.Tensor:
    """log (1/K) sum_k exp(log_w[k]) over the first dimension, stably, in fp32: (K, B) -> (B,).
    The training objective: one fused log-sum-exp that autograd differentiates cheaply."""
    log_w = log_w.float()
    return torch.logsumexp(log_w, dim=0) - math.log(log_w.shape[0])


def log_mean_exp(log_w: torch.Tensor) -> torch.Tensor:
    """log (1/K) sum_k exp(log_w[k]) over the first dimension in fp64, as m + log(mean(exp(w - m)))
    with m the maximum: (K, B) -> (B,).

    The evaluation estimate. `logsumexp(w) - log(K)` subtracts two roundings of log K (one in the
    kernel, one in Python) that differ by an ulp from one CPU to another; taking the mean before
    the log leaves no such pair, so K equal weights give exactly that weight on every machine."""
    log_w = log_w.double()
    m = log_w.max(dim=0).values
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))  # all -inf stays -inf; +inf stays inf
    # sum / K, not mean(): a mean may multiply by a rounded 1/K (49 * (1/49) != 1 in fp64).
    return m + torch.log(torch.exp(log_w - m).sum(dim=0) / log_w.shape[0])


@torch.no_grad()
def log_likelihood(model: WeightedModel, x: torch.Tensor, num_samples: int, chunk_size: int,
                   y: torch.Tensor | None = None) -> torch.Tensor:
    """The K-sample importance estimate of log p(x) per example, (B,) in fp64, computed in chunks
    of `chunk_size` samples so that memory stays bounded whatever K is; the fp32 log-weights are
    combined in fp64 (`log_mean_exp`)."""
    chunks = []
    for start in range(0, num_samples, chunk_size):
        chunks.append(model.log_weights(Batch(x, y), min(chunk_size, num_samples - start)).float())
    return log_mean_exp(torch.cat(chunks, dim=0))
