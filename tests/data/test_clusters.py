"""k-means pseudo-labels: Lloyd's iterations against scikit-learn's from the same seeds, k-means++
seeding, recovery of separated clusters, empty clusters, the coarse view of images, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans

from vaekit.errors import DataError
from vaekit.data.clusters import _kmeans_plus_plus, default_k, fit_clusters, lloyd


def blobs(n: int = 600, k: int = 5, d: int = 10, spread: float = 5.0, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(k, d, generator=g) * spread
    y = torch.randint(0, k, (n,), generator=g)
    return centres[y] + torch.randn(n, d, generator=g), y


def same_partition(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether two labellings group the examples alike, whatever the cluster numbers."""
    pairs = set(zip(a.tolist(), b.tolist()))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def test_lloyd_matches_scikit_learn_from_the_same_seeds():
    x, _ = blobs(spread=1.0)  # overlapping clusters: many iterations before assignments settle
    points = x.double()
    seeds = _kmeans_plus_plus(points, 8, torch.Generator().manual_seed(3))
    ours = lloyd(points, seeds, iterations=300)
    ref = KMeans(8, init=seeds.numpy(), n_init=1, algorithm="lloyd", tol=0, max_iter=300).fit(points.numpy())
    np.testing.assert_allclose(ours.numpy(), ref.cluster_centers_, rtol=1e-9, atol=1e-9)


def test_separated_clusters_are_recovered_and_the_result_is_seeded():
    x, y = blobs()
    clusters = fit_clusters(x, 5, seed=0)
    labels = clusters.assign(x)
    assert labels.dtype == torch.int64 and same_partition(labels, y)
    again = fit_clusters(x, 5, seed=0)
    assert torch.equal(again.centres, clusters.centres)
    # New examples from the same clusters go to the centres of their kind.
    g = torch.Generator().manual_seed(9)
    centres = torch.stack([x[y == c].mean(0) for c in range(5)])
    y2 = torch.randint(0, 5, (200,), generator=g)
    assert same_partition(clusters.assign(centres[y2] + torch.randn(200, 10, generator=g)), y2)


def test_kmeans_plus_plus_draws_distinct_data_points():
    x, _ = blobs()
    points = x.double()
    seeds = _kmeans_plus_plus(points, 5, torch.Generator().manual_seed(0))
    assert len(torch.unique(seeds, dim=0)) == 5
    assert all(bool((points == s).all(1).any()) for s in seeds)  # each seed is an example
    other = _kmeans_plus_plus(points, 5, torch.Generator().manual_seed(1))
    assert not torch.equal(seeds, other)


def test_an_empty_cluster_takes_the_farthest_point():
    x, _ = blobs(n=300, k=2)
    points = x.double()
    start = torch.stack([points[0], points[1], torch.full((10,), 1e3, dtype=torch.float64)])  # one far away
    centres = lloyd(points, start, iterations=100)
    counts = torch.bincount(torch.cdist(points, centres).argmin(1), minlength=3)
    assert len(centres) == 3 and bool((counts > 0).all())


def test_images_are_clustered_in_a_coarse_standardized_view():
    x = torch.rand(100, 1, 28, 28)
    clusters = fit_clusters(x, 4)
    assert clusters.pool == (16, 16) and clusters.view(x).shape == (100, 256)
    assert clusters.view(x).dtype == torch.float64
    assert fit_clusters(torch.rand(50, 3, 32, 20), 2).pool == (16, 10)
    small = fit_clusters(torch.rand(50, 1, 8, 8), 2)
    assert small.pool is None and small.view(torch.rand(3, 1, 8, 8)).shape == (3, 64)
    vectors = fit_clusters(torch.rand(50, 2, 3), 2)  # any other shape is flattened
    assert vectors.view(torch.rand(4, 2, 3)).shape == (4, 6)
    v = vectors.view(torch.rand(50, 2, 3))
    assert float(v.mean(0).abs().max()) < 1.0  # standardized: centred near 0


def test_default_k_keeps_sixteen_examples_per_cluster():
    assert default_k(50_000) == 50 and default_k(320) == 20 and default_k(64) == 4 and default_k(10) == 2


def test_too_few_examples_is_a_clear_error():
    with pytest.raises(DataError, match="k=5 and 3 examples"):
        fit_clusters(torch.rand(3, 4), 5)
