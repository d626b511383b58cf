"""Sample quality and diversity: how close a model's samples are to held-out data, in a feature
space.

- `frechet_distance`: the Fréchet distance between Gaussians fitted to two feature sets (FID when
  the features are Inception's, Heusel et al. 2017, arXiv:1706.08500).
- `precision_recall`: improved precision and recall from k-NN manifolds (Kynkäänniemi et al. 2019,
  arXiv:1904.06991). Precision is the share of samples that look like data, recall the share of
  data the samples cover.
- `diversity`: the mean distance between random pairs, to be compared with the real data's.
- `sample_quality(run)`: all of them for a run's samples against its test split, in the feature
  space of a classifier trained on the data set (`vaekit.evaluate.classifier`; on its k-means
  clusters when it has no labels), plus Inception FID when a local weights file is given
  (`vaekit.evaluate.inception`).
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import linalg

from vaekit.data.base import Split
from vaekit.data.load import is_binary
from vaekit.data.load import limit as limit_split
from vaekit.errors import ConfigError
from vaekit.run import Run

EPS = 1e-6  # pytorch-fid's diagonal offset for a singular covariance product
CHUNK_BYTES = 32 << 20  # one float64 distance block of precision_recall (a few live at once)


def frechet_distance(feats_a: torch.Tensor | np.ndarray, feats_b: torch.Tensor | np.ndarray,
                     eps: float = EPS) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) for feature sets (N_a, F), (N_b, F).

    In float64, as pytorch-fid computes it: scipy's `sqrtm` of S_a S_b, retried with an eps * I
    offset on both covariances when the result is not finite, and the small imaginary part that
    rounding leaves dropped (a large one raises ValueError). With no more examples than features
    both covariances are singular, and sqrtm is then slow and inexact; the trace is computed
    exactly instead, from the singular values of the (N_a, N_b) product of the centred features.
    """
    a, b = _as_float64(feats_a), _as_float64(feats_b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sets of different widths: {a.shape[1]} and {b.shape[1]}")
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"a covariance needs at least 2 examples per set, got {len(a)} and {len(b)}")
    mu_a, mu_b = a.mean(0), b.mean(0)
    ca, cb = a - mu_a, b - mu_b
    s_a, s_b = ca.T @ ca / (len(a) - 1), cb.T @ cb / (len(b) - 1)  # (F, F), as np.cov
    if max(len(a), len(b)) <= a.shape[1]:
        tr_covmean = _trace_sqrt_lowrank(ca, cb)
    else:
        tr_covmean = _trace_sqrtm(s_a, s_b, eps)
    diff = mu_a - mu_b
    return float(diff @ diff + np.trace(s_a) + np.trace(s_b) - 2 * tr_covmean)


def _trace_sqrtm(s_a: np.ndarray, s_b: np.ndarray, eps: float) -> float:
    """Tr (S_a S_b)^(1/2) by scipy's sqrtm, as pytorch-fid computes it."""
    covmean = _sqrtm(s_a @ s_b)
    if not np.isfinite(covmean).all():
        offset = np.eye(len(s_a)) * eps
        covmean = _sqrtm((s_a + offset) @ (s_b + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"the covariance square root has an imaginary part of {np.abs(covmean.imag).max():g}")
        covmean = covmean.real
    return float(np.trace(covmean))


def _trace_sqrt_lowrank(ca: np.ndarray, cb: np.ndarray) -> float:
    """Tr (S_a S_b)^(1/2) from centred features ca (N_a, F), cb (N_b, F).

    S_a S_b = ca^T M cb / c with M = ca cb^T and c = (N_a - 1)(N_b - 1); its non-zero eigenvalues
    are those of M M^T / c, the squared singular values of M / sqrt(c). So the trace of the
    square root is the sum of the singular values of M, over sqrt(c).
    """
    m = ca @ cb.T  # (N_a, N_b)
    return float(np.linalg.svd(m, compute_uv=False).sum() / np.sqrt((len(ca) - 1) * (len(cb) - 1)))


def precision_recall(real_feats: torch.Tensor | np.ndarray, fake_feats: torch.Tensor | np.ndarray,
                     k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019).

    Each real point gets a ball reaching its k-th nearest other real point; precision is the share
    of fake points inside at least one real ball. Recall is the same with the roles swapped: the
    share of real points inside the k-NN balls of the fakes. Distances are computed in row blocks,
    so 10,000 x 10,000 points fit in a few tens of MiB.
    """
    real, fake = torch.as_tensor(_as_float64(real_feats)), torch.as_tensor(_as_float64(fake_feats))
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature sets of different widths: {real.shape[1]} and {fake.shape[1]}")
    if min(len(real), len(fake)) <= k:
        raise ValueError(f"k={k} needs more than k examples in each set, got {len(real)} and {len(fake)}")
    precision = _coverage(real, _knn_radii(real, k), fake)
    recall = _coverage(fake, _knn_radii(fake, k), real)
    return precision, recall


def diversity(feats: torch.Tensor | np.ndarray, pairs: int = 10_000, generator: torch.Generator | None = None) -> float:
    """The mean Euclidean distance between `pairs` random pairs of distinct examples of feats (N, F).

    On its own it depends on the feature scale; divide by the real data's to get a ratio, which is
    below 1 when samples are less varied than the data (mode collapse) and near 1 when they match.
    """
    f = torch.as_tensor(_as_float64(feats))
    n = len(f)
    if n < 2:
        raise ValueError(f"diversity needs at least 2 examples, got {n}")
    if pairs < 1:
        raise ValueError(f"pairs must be at least 1, got {pairs}")
    i = torch.randint(0, n, (pairs,), generator=generator)
    j = torch.randint(0, n - 1, (pairs,), generator=generator)
    j = j + (j >= i)  # uniform over the other n - 1 examples: never a point with itself
    return float((f[i] - f[j]).norm(dim=1).mean())


def sample_quality(run: Run, num_samples: int | None = None, seed: int = 0, inception_weights: str | Path | None = None,
                   *, split: str = "test", real: Split | None = None, k: int = 3, temperature: float = 1.0,
                   cache_dir: str | Path | None = None, retrain: bool = False, pairs: int = 10_000,
                   batch_size: int = 500, sampler: str = "prior", components: int = 10) -> dict[str, Any]:
    """Quality and diversity of `num_samples` samples of the run's model against real examples.

    The real examples are `real` if given, else the `split` split, or a seeded random subset of
    `num_samples` of it when that is smaller; `num_samples` defaults to as many as there are real
    examples. The feature space is the penultimate layer of a classifier trained on the run's
    training split and cached (`vaekit.evaluate.classifier`). Samples are the likelihood's mean,
    drawn from Bernoulli(mean) when the real examples are binary, so that like is compared with
    like. `sampler` "gmm" draws the codes from a Gaussian mixture of `components` fitted to the
    training split's codes (ex-post density estimation) instead of the prior. A data set without
    labels gets a classifier of its k-means clusters (`classifier_labels` says which).
    `inception_weights`, a local pytorch-fid weights file, adds `fid_inception`. Seeded: the same
    seed gives the same figures.
    """
    from vaekit.evaluate.classifier import feature_extractor

    t0 = time.perf_counter()
    net = None
    if inception_weights is not None:
        from vaekit.evaluate.inception import load_inception

        net = load_inception(inception_weights, run.device)  # a wrong file fails before the slow work
    data = run.dataset()
    if real is None:
        real = data.split(split)
        if num_samples is not None and num_samples < len(real):
            real = limit_split(real, num_samples, np.random.default_rng(seed))
    n = len(real) if num_samples is None else num_samples
    if min(n, len(real)) < k + 1:
        raise ConfigError(f"sample quality needs more than k={k} samples and real examples, got {n} and {len(real)}")
    binary = is_binary(real.x)
    fitted = None
    if sampler != "prior":
        from vaekit.sample.samplers import fitted_sampler

        fitted = fitted_sampler(run.model, sampler, data.train.x, data.train.y, components)
    fakes = draw_samples(run, n, seed, temperature, real.y, binary, batch_size, fitted)
    rng = torch.Generator().manual_seed(seed)
    result: dict[str, Any] = {"split": split, "num_samples": n, "num_real": len(real), "sample_temperature": temperature,
                              "sample_draw": "bernoulli" if binary else "mean", "sampler": sampler}
    if sampler != "prior":
        result["sampler_components"] = components
    extractor = feature_extractor(data, cache_dir, retrain, data_config=run.config.data, device=run.device)
    real_f, fake_f = extractor.features(real.x, batch_size), extractor.features(fakes, batch_size)
    # The same distance between two sets of real examples: the floor that a perfect model
    # reaches with this many samples (the Fréchet distance is biased upwards at small N).
    train_ref = reference_examples(data, len(real), seed, binary)
    precision, recall = precision_recall(real_f, fake_f, k)
    div, div_real = diversity(fake_f, pairs, rng), diversity(real_f, pairs, rng)
    result.update({
        "fd_classifier": frechet_distance(real_f, fake_f),
        "fd_classifier_reference": frechet_distance(real_f, extractor.features(train_ref, batch_size)),
        "precision": precision,
        "recall": recall,
        "precision_recall_k": k,
        "diversity": div,
        "diversity_real": div_real,
        "diversity_ratio": div / div_real if div_real > 0 else None,  # None, not NaN: the JSON stays valid
        "classifier_accuracy": extractor.accuracy,
        "classifier_features": extractor.feature_dim,
        "classifier_labels": extractor.labels,
    })
    if net is not None:
        from vaekit.evaluate.inception import inception_features

        result["fid_inception"] = frechet_distance(inception_features(net, real.x), inception_features(net, fakes))
    result["seconds"] = time.perf_counter() - t0
    return result


def reference_examples(data, n: int, seed: int, binary: bool) -> torch.Tensor:
    """n training examples (a seeded subset) to set the Fréchet distance's floor against the split,
    drawn as the split was: binarized, seeded, when the split is binary and the training split is
    not (dynamic binarization keeps it grey and draws per batch)."""
    x = limit_split(data.train, n, np.random.default_rng([seed, 1])).x
    if binary and not is_binary(x):
        x = torch.bernoulli(x.clamp(0, 1), generator=torch.Generator().manual_seed(seed))
    return x


def draw_samples(run: Run, n: int, seed: int, temperature: float = 1.0, labels: torch.Tensor | None = None,
                 binary: bool = False, batch_size: int = 500, sampler=None) -> torch.Tensor:
    """n samples of the run's model, in batches, each batch seeded from `seed`: the likelihood's
    mean, drawn from Bernoulli(mean) when `binary`. A conditional model draws its classes from
    `labels` (the real split's class frequencies). `sampler`, a fitted sampler
    (`vaekit.sample.fitted_sampler`), replaces the prior."""
    from vaekit.sample.ops import sample

    g = torch.Generator().manual_seed(seed)
    y = None
    if run.model.traits.conditional and labels is not None:
        y = labels[torch.randint(0, len(labels), (n,), generator=g)]  # the real split's class frequencies
    parts = []
    for i, start in enumerate(range(0, n, batch_size)):
        m = min(batch_size, n - start)
        yb = None if y is None else y[start : start + m]
        # One seed per batch from a SeedSequence: batch i of seed s never repeats a batch of another seed.
        batch_seed = int(np.random.SeedSequence([seed, i]).generate_state(1)[0])
        parts.append(sample(run.model, m, temperature, seed=batch_seed, y=yb, sampler=sampler))
    x = torch.cat(parts).float()
    if binary:
        x = torch.bernoulli(x.clamp(0, 1), generator=g)
    return x


def _knn_radii(x: torch.Tensor, k: int) -> torch.Tensor:
    """Squared distance from each point of x (N, F) to its k-th nearest other point: (N,)."""
    out = []
    for start, d2 in _blocks(x, x):
        # Each point's distance to itself is set below every other, so the (k+1)-th smallest is the
        # k-th other point, even where rounding leaves the self-distance slightly above 0.
        d2[torch.arange(len(d2)), torch.arange(start, start + len(d2))] = -1.0
        out.append(d2.kthvalue(k + 1, dim=1).values)
    return torch.cat(out)


def _coverage(centres: torch.Tensor, radii2: torch.Tensor, points: torch.Tensor) -> float:
    """The share of `points` within the ball of at least one centre."""
    inside = [(d2 <= radii2).any(dim=1) for _, d2 in _blocks(points, centres)]
    return float(torch.cat(inside).double().mean())


def _blocks(rows: torch.Tensor, cols: torch.Tensor):
    """(start, squared distances (B, M)) for blocks of rows, each block under CHUNK_BYTES."""
    step = max(1, CHUNK_BYTES // (8 * len(cols)))
    col_sq = (cols * cols).sum(1)  # (M,)
    for start in range(0, len(rows), step):
        r = rows[start : start + step]
        d2 = (r * r).sum(1, keepdim=True) + col_sq - 2 * r @ cols.T  # (B, M)
        yield start, d2.clamp_min_(0.0)


def _sqrtm(m: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        # scipy warns when the product is singular; the caller retries with an offset.
        warnings.simplefilter("ignore")
        return linalg.sqrtm(m)


def _as_float64(x: torch.Tensor | np.ndarray) -> np.ndarray:
    a = x.detach().cpu().double().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"features must be a 2-d array (N, F), got shape {a.shape}")
    return a
