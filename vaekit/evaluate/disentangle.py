"""Disentanglement: how well single code dimensions line up with single generative factors.

Both metrics need the true factors of every example, which only synthetic sets have (the built-in
`shapes` set: `split.factors`, (N, F) integer value indices). The codes are the posterior means.

- MIG, the Mutual Information Gap: Chen et al. 2018, "Isolating Sources of Disentanglement in
  VAEs", https://arxiv.org/abs/1802.04942. For each factor, the gap between the two code
  dimensions that know most about it, in units of the factor's entropy; 1 is perfect, 0 none.
- The FactorVAE score: Kim & Mnih 2018, "Disentangling by Factorising",
  https://arxiv.org/abs/1802.05983. Fix one factor over a batch; the code dimension that varies
  least should name the factor. The accuracy of a majority-vote classifier from dimension to
  factor; 1 is perfect, 1/F is chance.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from vaekit.errors import ConfigError

Codes = torch.Tensor | np.ndarray
# The data sets whose splits carry `factors`, for the error message of a set that has none.
FACTOR_DATASETS = ("shapes",)


def discretize(codes: Codes, num_bins: int = 20) -> np.ndarray:
    """Each code dimension cut into `num_bins` equal-width bins between its minimum and maximum:
    (N, D) int64 bin indices, as in Locatello et al.'s disentanglement_lib."""
    c = _numpy(codes)
    out = np.zeros(c.shape, dtype=np.int64)
    for j in range(c.shape[1]):
        edges = np.histogram_bin_edges(c[:, j], bins=num_bins)
        out[:, j] = np.digitize(c[:, j], edges[1:-1])  # inner edges: bins 0 .. num_bins - 1
    return out


def discrete_mutual_info(a: np.ndarray, b: np.ndarray) -> float:
    """I(a; b) in nats of two (N,) non-negative integer arrays, from their joint histogram."""
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    joint = np.bincount(a * (b.max() + 1) + b, minlength=(a.max() + 1) * (b.max() + 1))
    joint = joint.reshape(a.max() + 1, b.max() + 1) / len(a)
    pa, pb = joint.sum(axis=1, keepdims=True), joint.sum(axis=0, keepdims=True)
    nz = joint > 0
    return float((joint[nz] * np.log(joint[nz] / (pa @ pb)[nz])).sum())


def entropy(labels: np.ndarray) -> float:
    """H in nats of an (N,) non-negative integer array."""
    p = np.bincount(np.asarray(labels, dtype=np.int64)) / len(labels)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def mig(codes: Codes, factors: Codes, num_bins: int = 20) -> float:
    """The Mutual Information Gap of codes (N, D) for factors (N, F) of integer values.

    Codes are discretised into `num_bins` histogram bins per dimension; for each factor k,
    (I(z_(1); v_k) - I(z_(2); v_k)) / H(v_k), with z_(1), z_(2) the two dimensions of highest
    mutual information with it; averaged over the factors that vary (H > 0).
    """
    z, v = discretize(codes, num_bins), _factors(factors, len(_numpy(codes)))
    gaps = []
    for k in range(v.shape[1]):
        h = entropy(v[:, k])
        if h == 0:
            continue  # a constant factor has nothing to disentangle
        info = sorted((discrete_mutual_info(z[:, j], v[:, k]) for j in range(z.shape[1])), reverse=True)
        second = info[1] if len(info) > 1 else 0.0
        gaps.append((info[0] - second) / h)
    if not gaps:
        raise ValueError("MIG needs at least one factor that takes more than one value")
    return float(np.mean(gaps))


def factorvae_score(representation: Codes | Callable[[torch.Tensor], torch.Tensor], factors: Codes, *,
                    x: torch.Tensor | None = None, batch_size: int = 64, num_train: int = 10000,
                    num_eval: int = 5000, prune_variance: float = 0.01, seed: int = 0,
                    encode_batch_size: int = 500) -> float:
    """The FactorVAE score (Kim & Mnih 2018) of a representation, from a factorial data set.

    `representation` is either the codes (N, D) of the N examples or a function mapping a batch
    of inputs to codes, applied to `x`. Each code dimension is divided by its standard deviation
    over the N examples; dimensions whose variance is at most `prune_variance` (collapsed to the
    prior) are left out. A vote picks a factor k at random, fixes it at the value of a random
    example, draws `batch_size` examples (with replacement) among those that share that value,
    and names the dimension of least variance over them. A majority-vote classifier from
    dimension to factor is fitted on `num_train` votes; the score is its accuracy on `num_eval`
    new votes. 0 when no dimension is left. Seeded: the same seed gives the same score.
    """
    codes = _codes(representation, x, encode_batch_size)
    v = _factors(factors, len(codes))
    var = codes.var(axis=0)
    keep = var > prune_variance
    if not keep.any():
        return 0.0
    scaled = codes[:, keep] / np.sqrt(var[keep])  # (N, D') in units of each dimension's spread
    varying = [k for k in range(v.shape[1]) if len(np.unique(v[:, k])) > 1]
    if not varying:
        raise ValueError("the FactorVAE score needs at least one factor that takes more than one value")
    rng = np.random.default_rng(seed)
    train_dims, train_factors = _votes(scaled, v, varying, num_train, batch_size, rng)
    counts = np.zeros((scaled.shape[1], v.shape[1]), dtype=np.int64)
    np.add.at(counts, (train_dims, train_factors), 1)
    classifier = counts.argmax(axis=1)  # dimension -> the factor it most often named
    eval_dims, eval_factors = _votes(scaled, v, varying, num_eval, batch_size, rng)
    return float((classifier[eval_dims] == eval_factors).mean())


def _votes(codes: np.ndarray, factors: np.ndarray, varying: list[int], num: int, batch_size: int,
           rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`num` votes: (dimension of least variance, fixed factor), (num,) each."""
    ks = np.asarray(varying)[rng.integers(len(varying), size=num)]
    values = factors[rng.integers(len(factors), size=num), ks]  # a random example's value: the data's own frequencies
    dims = np.empty(num, dtype=np.int64)
    # Votes that fix the same (factor, value) draw from the same pool, so each pool is one batch of work.
    for k, value in set(zip(ks.tolist(), values.tolist())):
        which = np.flatnonzero((ks == k) & (values == value))
        pool = np.flatnonzero(factors[:, k] == value)
        picks = pool[rng.integers(len(pool), size=(len(which), batch_size))]  # (votes, batch)
        dims[which] = codes[picks].var(axis=1).argmin(axis=1)
    return dims, ks


@torch.no_grad()
def disentanglement_scores(model: nn.Module, x: torch.Tensor, factors: Codes, *, num_bins: int = 20,
                           batch_size: int = 500, y: torch.Tensor | None = None, seed: int = 0) -> dict[str, float]:
    """MIG and FactorVAE score of a model's posterior means on examples `x` with known `factors`."""
    from vaekit.evaluate.latents import posterior_moments

    mu, _ = posterior_moments(model, x, batch_size, y)
    return {"mig": mig(mu, factors, num_bins), "factorvae_score": factorvae_score(mu, factors, seed=seed)}


def require_factors(split, dataset_name: str) -> torch.Tensor:
    """The split's factors, or a ConfigError that names the data sets that have them."""
    if getattr(split, "factors", None) is None:
        raise ConfigError(
            f"the disentanglement metrics need the true generative factors of every example, and data set "
            f"'{dataset_name}' has none; train on one that does ({', '.join(FACTOR_DATASETS)}: data.name=shapes) "
            f"or leave 'disentanglement' out of the metrics"
        )
    return split.factors


def _numpy(a: Codes) -> np.ndarray:
    return a.detach().cpu().double().numpy() if isinstance(a, torch.Tensor) else np.asarray(a, dtype=np.float64)


def _codes(representation, x: torch.Tensor | None, batch_size: int) -> np.ndarray:
    if not callable(representation):
        codes = _numpy(representation)
    else:
        if x is None:
            raise ValueError("factorvae_score needs the inputs x to apply an encoding function to")
        with torch.no_grad():
            codes = np.concatenate([_numpy(representation(x[i : i + batch_size])) for i in range(0, len(x), batch_size)])
    if codes.ndim != 2:
        raise ValueError(f"codes must be (N, D), got shape {codes.shape}")
    return codes


def _factors(factors: Codes, n: int) -> np.ndarray:
    v = factors.detach().cpu().numpy() if isinstance(factors, torch.Tensor) else np.asarray(factors)
    if v.ndim != 2 or len(v) != n or v.dtype.kind not in "iu" or (v.size and v.min() < 0):
        raise ValueError(f"factors must be (N, F) non-negative integers for N = {n} examples, got {v.shape} {v.dtype}")
    return v.astype(np.int64)
