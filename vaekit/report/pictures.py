"""What the pictures of a report show, computed from a run: no HTML here.

Training curves come from metrics.jsonl; samples, reconstructions, interpolations and
traversals from the model; the latent map and the per-dimension KL from the posterior moments of
a seeded subset of one split. Images come back as PNG bytes, charts as data for `vaekit.report.svg`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from vaekit.data.base import Split
from vaekit.errors import ConfigError
from vaekit.sample.grid import grid_png, reconstruction_pairs, sample_grid  # noqa: F401 (the report's recipes)
from vaekit.sample.ops import interpolate, traverse

# Per-epoch bookkeeping of metrics.jsonl that is no training curve.
NOT_CURVES = {"epoch", "step", "skipped_steps", "images_per_sec", "time"}
# The curves every family logs, in the order the page shows them, with their chart titles;
# anything else a family logs (kl_layer1, mmd, perplexity, ...) follows under its own name,
# except the per-layer KLs, which join the KL chart.
KNOWN_CURVES = {"elbo": "ELBO (nats)", "recon": "Reconstruction log p(x|z) (nats)", "kl": "KL (nats)",
                "lr": "Learning rate", "beta": "Beta (KL weight)"}


def training_curves(metrics: Sequence[dict]) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """Chart title -> series name -> (epoch, value) points, from the lines of metrics.jsonl.

    `train_X` and `val_X` share the chart of X; standard errors are left out (they are no curve
    of their own). Keys that are absent from every line make no chart, so each family shows what
    it logs.
    """
    charts: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for i, line in enumerate(metrics):
        epoch = float(line.get("epoch", i + 1))
        for key, value in line.items():
            if key in NOT_CURVES or key.endswith("_stderr") or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            base = re.sub(r"^(train|val)_", "", key)
            if re.fullmatch(r"kl_layer\d+", base):
                base = "kl"
            title = KNOWN_CURVES.get(base, base.replace("_", " "))
            charts.setdefault(title, {}).setdefault(key, []).append((epoch, float(value)))
    order = list(KNOWN_CURVES.values())
    return dict(sorted(charts.items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order else len(order), kv[0])))


def png(images: torch.Tensor, nrow: int | None = None, size: int = 64) -> bytes:
    """A PNG grid of (N, C, H, W) images in [0, 1], each enlarged to about `size` pixels a side."""
    return grid_png(images, nrow, size)


def subset(split: Split, n: int, seed: int) -> Split:
    """A seeded random subset of at most n examples, drawn as `vaekit evaluate --limit` draws it."""
    from vaekit.data.load import limit

    if n < 1:
        raise ConfigError(f"limit must be at least 1, got {n}")
    return limit(split, n, np.random.default_rng(seed))


def sample_images(model: nn.Module, n: int, seed: int, sampler=None) -> tuple[torch.Tensor, int]:
    """n generated examples and the grid's row length, laid out as samples.png (a conditional
    model: one row per class), with codes from `sampler` (None: the prior)."""
    images, nrow = sample_grid(model, n, seed, sampler)
    return images, nrow or max(1, math.ceil(math.sqrt(len(images))))


def interpolation_paths(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None, steps: int) -> torch.Tensor:
    """Decodings along straight lines between the first and second halves of x: (P, steps, *shape)."""
    half = len(x) // 2
    ya, yb = (None, None) if y is None else (y[:half], y[half : 2 * half])
    return interpolate(model, x[:half], x[half : 2 * half], steps, ya, yb)


def traversal_rows(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None, dims: Sequence[int],
                   values: Sequence[float]) -> dict[int, torch.Tensor]:
    """dim -> (V, *shape): the traversal of one example (x of shape (1, *shape)) along each dim."""
    return {d: traverse(model, x, d, values, units="prior", y=y)[0] for d in dims}


def latent_map(mu: np.ndarray, method: str = "pca", seed: int = 0) -> tuple[np.ndarray, str]:
    """(N, 2) coordinates of the codes (N, D) and a description of the axes.

    'pca' projects on the two principal components (an SVD of the centred codes); 'tsne' runs
    scikit-learn's t-SNE (slower; distances between clusters mean little there); 'umap' runs
    umap-learn's UMAP (McInnes et al. 2018, https://arxiv.org/abs/1802.03426), when installed.
    """
    mu = np.asarray(mu, dtype=np.float64)
    if method == "pca":
        centred = mu - mu.mean(0)
        _, s, vt = np.linalg.svd(centred, full_matrices=False)
        coords = centred @ vt[:2].T
        if coords.shape[1] < 2:  # a one-dimensional latent space: the second axis is flat
            coords = np.concatenate([coords, np.zeros((len(coords), 1))], axis=1)
        var = s**2 / max(1e-30, float((s**2).sum()))
        share = [f"{100 * v:.0f}%" for v in (*var[:2], 0.0)[:2]]
        return coords, f"PCA: the axes carry {share[0]} and {share[1]} of the variance"
    if method == "tsne":
        from sklearn.manifold import TSNE

        if len(mu) < 4:
            raise ConfigError(f"t-SNE needs at least 4 examples, got {len(mu)}; use --map pca")
        perplexity = min(30.0, (len(mu) - 1) / 3)  # scikit-learn requires perplexity < N
        coords = TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(mu)
        return coords, f"t-SNE (perplexity {perplexity:.0f})"
    if method == "umap":
        try:
            import umap
        except ImportError:
            raise ConfigError("the UMAP map needs umap-learn, which is not installed: pip install umap-learn; "
                              "or use --map pca or tsne") from None
        if len(mu) < 4:
            raise ConfigError(f"UMAP needs at least 4 examples, got {len(mu)}; use --map pca")
        neighbours = min(15, len(mu) - 1)
        coords = umap.UMAP(n_components=2, n_neighbors=neighbours, random_state=seed).fit_transform(mu)
        return np.asarray(coords, dtype=np.float64), f"UMAP ({neighbours} neighbours)"
    raise ConfigError(f"unknown latent map '{method}'; choose pca, tsne or umap")

