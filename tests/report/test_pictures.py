"""What the report's pictures show: curves from metrics.jsonl, the latent map, PNG grids."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from vaekit.data.base import Split
from vaekit.errors import ConfigError
from vaekit.report.pictures import latent_map, png, subset, training_curves


def test_training_curves_group_train_and_val_and_show_what_the_family_logs():
    metrics = [
        {"epoch": e, "step": 10 * e, "train_elbo": -50.0 + e, "val_elbo": -52.0 + e, "val_elbo_stderr": 0.3,
         "train_recon": -45.0, "train_kl": 5.0, "train_kl_layer1": 3.0, "train_kl_layer2": 2.0, "val_kl": 5.5,
         "lr": 1e-3 / e, "beta": 1.0, "train_perplexity": 4.0, "skipped_steps": 0, "images_per_sec": 1e4,
         "time": 1.0 * e, "note": "text is no curve"}
        for e in (1, 2, 3)
    ]
    charts = training_curves(metrics)
    assert list(charts) == ["ELBO (nats)", "Reconstruction log p(x|z) (nats)", "KL (nats)", "Learning rate",
                            "Beta (KL weight)", "perplexity"]
    assert set(charts["ELBO (nats)"]) == {"train_elbo", "val_elbo"}  # the standard error is no curve
    assert set(charts["KL (nats)"]) == {"train_kl", "val_kl", "train_kl_layer1", "train_kl_layer2"}
    assert charts["ELBO (nats)"]["val_elbo"] == [(1.0, -51.0), (2.0, -50.0), (3.0, -49.0)]
    assert charts["Learning rate"]["lr"][2] == (3.0, pytest.approx(1e-3 / 3))


def test_training_curves_of_a_family_without_kl_and_of_no_epochs():
    charts = training_curves([{"epoch": 1, "train_elbo": -3.0, "train_mmd": 0.1}])
    assert list(charts) == ["ELBO (nats)", "mmd"]
    assert training_curves([]) == {}


def test_pca_map_projects_on_the_directions_of_largest_variance():
    noise = np.random.default_rng(0).normal(size=(500, 3))
    q, _ = np.linalg.qr(noise - noise.mean(0))  # centred, exactly uncorrelated columns of unit norm
    codes = q * np.array([5.0, 0.1, 2.0]) + 7.0  # the spread lies along z0, then z2
    coords, text = latent_map(codes, "pca")
    assert coords.shape == (500, 2)
    np.testing.assert_allclose(np.abs(coords[:, 0]), np.abs(5.0 * q[:, 0]), atol=1e-9)  # the sign is free
    np.testing.assert_allclose(np.abs(coords[:, 1]), np.abs(2.0 * q[:, 2]), atol=1e-9)
    assert text.startswith("PCA") and "86%" in text  # 25 / (25 + 0.01 + 4) of the variance


def test_pca_map_of_a_one_dimensional_latent_space_has_a_flat_second_axis():
    coords, _ = latent_map(np.arange(5.0)[:, None], "pca")
    assert coords.shape == (5, 2) and (coords[:, 1] == 0).all() and coords[:, 0].std() > 1


def test_tsne_map_keeps_clusters_apart():
    rng = np.random.default_rng(0)
    codes = np.concatenate([rng.normal(size=(20, 4)), rng.normal(size=(20, 4)) + 30])
    coords, text = latent_map(codes, "tsne", seed=0)
    assert coords.shape == (40, 2) and text.startswith("t-SNE")
    a, b = coords[:20].mean(0), coords[20:].mean(0)
    spread = max(coords[:20].std(0).max(), coords[20:].std(0).max())
    assert np.linalg.norm(a - b) > 2 * spread
    with pytest.raises(ConfigError, match="unknown latent map 'mds'; choose pca, tsne or umap"):
        latent_map(codes, "mds")


def test_png_is_an_enlarged_grid():
    images = torch.rand(6, 1, 8, 8)
    with Image.open(io.BytesIO(png(images, nrow=3))) as img:
        assert img.format == "PNG" and img.size == (8 * (3 * 10 + 2), 8 * (2 * 10 + 2))  # 3 x 2 cells, 8x


def test_subset_is_seeded_and_refuses_nothing():
    split = Split(torch.arange(100.0)[:, None], torch.arange(100))
    a, b, c = subset(split, 10, 0), subset(split, 10, 0), subset(split, 10, 1)
    assert len(a) == 10 and torch.equal(a.x, b.x) and not torch.equal(a.x, c.x)
    assert len(subset(split, 1000, 0)) == 100
    with pytest.raises(ConfigError, match="at least 1"):
        subset(split, 0, 0)
