"""k-means pseudo-labels: classes for a data set that has none, so that the sample-quality
feature classifier (`vaekit.evaluate.classifier`) can be trained on any data, and a conditional
VAE can condition on them (`data.cluster_labels`).

A classifier trained to tell apart the k-means clusters of the training split learns the
features that separate its main modes of variation (the one-round form of DeepCluster, Caron et
al. 2018, arXiv:1807.05520). That is what the Fréchet distance and precision/recall need: a space
in which samples that miss or blur a mode land away from the data.

    clusters = fit_clusters(train.x, k=50, seed=0)
    clusters.assign(val.x)   # (N,) int64 in 0..49

Clustering runs on a coarse view of the examples: images average-pooled to at most 16x16 pixels
(the shape of a digit or a garment, not its pixel noise), standardized per channel, or vectors
standardized per dimension. Lloyd's algorithm from k-means++ seeds (Arthur & Vassilvitskii 2007)
runs in float64 on at most `FIT_EXAMPLES` examples of the split, a seeded subset; the centres
then label every example. The same data and seed always give the same clusters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from vaekit.errors import DataError

MAX_SIDE = 16  # images are pooled to at most this many pixels a side before clustering
FIT_EXAMPLES = 10_000  # the centres are fitted on at most this many examples: enough for 50 modes
MAX_ITERATIONS = 100
CHUNK = 4096  # examples per distance block when labelling


def standard_moments(x: torch.Tensor, per_channel: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, std) that standardize examples x: per channel of images (N, C, H, W), keeping those
    dimensions, or per dimension of the flattened examples. A dimension that barely varies (the
    border pixels of digits) gets at least a tenth of the mean std, so that a tiny deviation there
    does not become a huge coordinate."""
    if per_channel:
        return x.mean((0, 2, 3), keepdim=True), x.std((0, 2, 3), keepdim=True)
    flat = x.flatten(1)
    std = flat.std(0)
    return flat.mean(0), std.clamp_min(0.1 * float(std.mean()))


def default_k(n: int, k: int = 50) -> int:
    """At most k clusters, and at least 16 training examples per cluster (2 at the least)."""
    return max(2, min(k, n // 16))


@dataclass(frozen=True)
class Clusters:
    """k-means centres in the coarse, standardized view of the examples that `view` computes."""

    centres: torch.Tensor  # (k, D) float64
    mean: torch.Tensor  # broadcastable to the viewed examples
    std: torch.Tensor
    pool: tuple[int, int] | None  # the pooled image size, None for vectors and small images

    @property
    def k(self) -> int:
        return len(self.centres)

    def view(self, x: torch.Tensor) -> torch.Tensor:
        """Examples x (N, *shape) as the standardized float64 rows (N, D) that were clustered."""
        x = x.double()
        if self.mean.dim() == 4:  # an image: pooled, standardized per channel
            x = x if self.pool is None else F.adaptive_avg_pool2d(x, self.pool)
            return ((x - self.mean) / self.std).flatten(1)
        return (x.flatten(1) - self.mean) / self.std

    def assign(self, x: torch.Tensor) -> torch.Tensor:
        """The nearest centre of each example: (N,) int64."""
        return torch.cat([_nearest(self.view(x[i : i + CHUNK]), self.centres)[0] for i in range(0, len(x), CHUNK)])


def fit_clusters(x: torch.Tensor, k: int, *, seed: int = 0, iterations: int = MAX_ITERATIONS) -> Clusters:
    """k-means with k-means++ seeding on the examples x (N, *shape); needs N >= k >= 2."""
    if k < 2 or len(x) < k:
        raise DataError(f"k-means needs at least 2 clusters and as many examples, got k={k} and {len(x)} examples")
    image = x.dim() == 4
    pool = None
    if image and max(x.shape[2:]) > MAX_SIDE:
        h, w = x.shape[2:]
        scale = MAX_SIDE / max(h, w)
        pool = (max(1, math.floor(h * scale)), max(1, math.floor(w * scale)))
    g = torch.Generator().manual_seed(seed)
    subset = x[torch.randperm(len(x), generator=g)[:FIT_EXAMPLES]] if len(x) > FIT_EXAMPLES else x
    coarse = subset.double() if pool is None else F.adaptive_avg_pool2d(subset.double(), pool)
    mean, std = standard_moments(coarse, per_channel=image)
    clusters = Clusters(torch.empty(0), mean, std.clamp_min(1e-12), pool)
    points = clusters.view(subset)
    centres = lloyd(points, _kmeans_plus_plus(points, k, g), iterations)
    return Clusters(centres, clusters.mean, clusters.std, pool)


def lloyd(points: torch.Tensor, centres: torch.Tensor, iterations: int) -> torch.Tensor:
    """Lloyd's iterations from the given centres until no assignment changes: the final centres.
    A cluster left empty takes the point farthest from its centre, so k stays k."""
    labels = None
    for _ in range(iterations):
        new, d2 = _nearest(points, centres)
        if labels is not None and torch.equal(new, labels):
            break
        labels = new
        counts = torch.bincount(labels, minlength=len(centres))
        sums = torch.zeros_like(centres).index_add_(0, labels, points)
        centres = sums / counts.clamp_min(1).unsqueeze(1).to(points.dtype)
        for j in torch.nonzero(counts == 0).flatten().tolist():
            far = int(d2.argmax())
            centres[j] = points[far]
            d2[far] = 0.0
    return centres


def _kmeans_plus_plus(points: torch.Tensor, k: int, g: torch.Generator) -> torch.Tensor:
    """k seeds: the first uniform, each next one drawn with probability proportional to its
    squared distance from the nearest seed so far."""
    first = int(torch.randint(len(points), (1,), generator=g))
    centres = [points[first]]
    d2 = ((points - points[first]) ** 2).sum(1)
    for _ in range(1, k):
        if float(d2.sum()) <= 0:  # fewer distinct points than k: repeat one, Lloyd keeps it empty
            nxt = int(torch.randint(len(points), (1,), generator=g))
        else:
            nxt = int(torch.multinomial(d2, 1, generator=g))
        centres.append(points[nxt])
        d2 = torch.minimum(d2, ((points - points[nxt]) ** 2).sum(1))
    return torch.stack(centres)


def _nearest(points: torch.Tensor, centres: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(index of the nearest centre (N,), squared distance to it (N,))."""
    d2 = (points * points).sum(1, keepdim=True) + (centres * centres).sum(1) - 2 * points @ centres.T
    best = d2.min(1)
    return best.indices, best.values.clamp_min(0.0)
