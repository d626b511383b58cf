"""Anomaly detection with a VAE: score each example by how unlikely the model finds it.

A score is the negative ELBO or the importance-sampled NLL, in nats; higher means more
anomalous. Given which examples are normal, AUROC and AUPRC (anomalies as the positive class)
measure how well the scores separate them, as in the one-class protocol: train on one class,
score the whole test set.
"""

from __future__ import annotations

import torch
from torch import nn

from vaekit.errors import ConfigError
from vaekit.evaluate.elbo import per_example_elbo
from vaekit.evaluate.nll import importance_nll


def auroc(scores: torch.Tensor, positive: torch.Tensor) -> float:
    """Area under the ROC curve: the chance that a random positive outscores a random negative,
    ties counting one half (the Mann-Whitney statistic)."""
    scores, positive = scores.double().flatten(), positive.bool().flatten()
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        raise ConfigError("AUROC needs both normal and anomalous examples; check the normal classes")
    order = torch.argsort(scores)
    ranks = torch.empty_like(scores)
    ranks[order] = torch.arange(1, len(scores) + 1, dtype=torch.float64)
    for value in torch.unique(scores[torch.diff(scores[order], prepend=scores[order][:1] - 1) == 0]):
        tied = scores == value  # average ranks over ties
        ranks[tied] = ranks[tied].mean()
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def auprc(scores: torch.Tensor, positive: torch.Tensor) -> float:
    """Average precision: the mean, over the positives, of the precision at their score."""
    scores, positive = scores.double().flatten(), positive.bool().flatten()
    if int(positive.sum()) == 0:
        raise ConfigError("AUPRC needs anomalous examples; check the normal classes")
    order = torch.argsort(scores, descending=True, stable=True)
    s, p = scores[order], positive[order].double()
    tp = torch.cumsum(p, 0)
    # one threshold per distinct score: precision and recall where the last of a tie is included
    last = torch.ones_like(s, dtype=torch.bool)
    last[:-1] = s[1:] != s[:-1]
    tp, k = tp[last], torch.arange(1, len(s) + 1, dtype=torch.float64)[last]
    precision, recall = tp / k, tp / tp[-1]
    gain = torch.diff(recall, prepend=torch.zeros(1, dtype=torch.float64))
    return float((gain * precision).sum())


@torch.no_grad()
def anomaly_scores(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None, score: str = "elbo",
                   importance_samples: int = 100, batch_size: int = 100, seed: int = 0) -> torch.Tensor:
    """Per-example anomaly scores (N,) in nats: the negative ELBO, or the importance-sampled NLL."""
    if score == "elbo":
        return -per_example_elbo(model, x, batch_size, seed=seed, y=y)
    if score == "nll":
        return importance_nll(model, x, importance_samples, batch_size, seed=seed, y=y)
    raise ConfigError(f"unknown anomaly score '{score}'; use elbo or nll")
