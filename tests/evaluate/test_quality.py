"""Sample quality and diversity: the Fréchet distance against closed forms, k-NN precision and
recall against a brute-force count, diversity, and `sample_quality` on a tiny trained run."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from sklearn.neighbors import NearestNeighbors

from vaekit.data.load import is_binary
from vaekit.errors import ConfigError
from vaekit.evaluate import quality
from vaekit.evaluate.quality import (
    diversity,
    frechet_distance,
    precision_recall,
    reference_examples,
    sample_quality,
)
from vaekit.run import load_run
from vaekit.train.loop import train
from vaekit.contract import Family, Traits


def whitened(n: int, d: int, seed: int) -> np.ndarray:
    """n points in d dimensions whose sample mean is exactly 0 and sample covariance exactly I."""
    z = np.random.default_rng(seed).standard_normal((n, d))
    z -= z.mean(0)
    chol = np.linalg.cholesky(np.cov(z, rowvar=False))
    return z @ np.linalg.inv(chol).T


# ----------------------------------------------------------------------------- Fréchet distance


def test_frechet_distance_of_a_set_with_itself_is_zero():
    x = torch.randn(2000, 8, generator=torch.Generator().manual_seed(0)) * torch.arange(1, 9)
    assert abs(frechet_distance(x, x)) < 1e-8 * float(x.var(0).sum())
    assert frechet_distance(x, x.flip(0)) == pytest.approx(0, abs=1e-6)  # order does not matter


def test_a_mean_shift_adds_its_squared_length():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3000, 6, generator=g)
    v = torch.tensor([1.0, -2.0, 0.5, 0.0, 3.0, 1.0])
    # The same points shifted: the covariances agree, so only the mean term is left.
    assert frechet_distance(x, x + v) == pytest.approx(float(v @ v), rel=1e-6)
    # Fresh samples of the shifted Gaussian: the same up to sampling noise.
    y = torch.randn(3000, 6, generator=g) + v
    assert frechet_distance(x, y) == pytest.approx(float(v @ v), abs=0.1)


def test_closed_form_for_two_diagonal_gaussians():
    # N(m1, diag(a)) and N(m2, diag(b)): |m1 - m2|^2 + sum (sqrt(a) - sqrt(b))^2. Whitened samples
    # have exactly these moments, so the estimate must match to rounding.
    m1, m2 = np.array([0.0, 1.0, -1.0, 2.0]), np.array([0.5, 1.0, 1.0, -2.0])
    a, b = np.array([1.0, 4.0, 0.25, 9.0]), np.array([2.0, 1.0, 0.25, 16.0])
    xa = m1 + whitened(500, 4, 0) * np.sqrt(a)
    xb = m2 + whitened(700, 4, 1) * np.sqrt(b)
    expected = float(((m1 - m2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum())
    assert frechet_distance(xa, xb) == pytest.approx(expected, rel=1e-9)
    assert frechet_distance(torch.from_numpy(xa).float(), xb) == pytest.approx(expected, rel=1e-5)  # tensors too


def test_closed_form_for_a_rotated_covariance():
    # S_a = I and S_b = R diag(b) R^T: Tr (S_a S_b)^(1/2) = sum sqrt(b), whatever the rotation R.
    b = np.array([4.0, 1.0, 0.25])
    rot, _ = np.linalg.qr(np.random.default_rng(2).standard_normal((3, 3)))
    xa, xb = whitened(400, 3, 3), (whitened(400, 3, 4) * np.sqrt(b)) @ rot.T
    expected = 3 + b.sum() - 2 * np.sqrt(b).sum()
    assert frechet_distance(xa, xb) == pytest.approx(expected, rel=1e-9)


def test_singular_covariances_stay_finite_and_exact():
    # A dimension that never varies makes both covariances (and their product) singular.
    xa, xb = whitened(300, 3, 5), 2 * whitened(300, 3, 6)
    xa[:, 0] = 0.0
    xb[:, 0] = 1.0
    expected = 1.0 + 2 * (1 - 2) ** 2  # mean shift in dim 0, std 1 against 2 in the others
    assert frechet_distance(xa, xb) == pytest.approx(expected, abs=1e-4)


def test_the_low_rank_trace_equals_sqrtm_and_is_used_when_examples_are_few():
    g = np.random.default_rng(7)
    a, b = g.standard_normal((60, 5)), g.standard_normal((80, 5)) * 1.5 + 0.3
    ca, cb = a - a.mean(0), b - b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    assert quality._trace_sqrt_lowrank(ca, cb) == pytest.approx(quality._trace_sqrtm(s_a, s_b, 1e-6), rel=1e-9)
    # Fewer examples than features: both covariances singular, the exact low-rank path answers.
    f = g.standard_normal((6, 50))
    assert frechet_distance(f, f) == pytest.approx(0, abs=1e-9)
    assert frechet_distance(f, f + 2) == pytest.approx(4 * 50, rel=1e-9)


def test_frechet_distance_rejects_mismatched_sets():
    with pytest.raises(ValueError, match="widths"):
        frechet_distance(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="at least 2"):
        frechet_distance(np.zeros((1, 3)), np.zeros((5, 3)))


# ----------------------------------------------------------------------------- precision and recall


def brute_force(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, float]:
    def coverage(centres, points):
        radius = NearestNeighbors(n_neighbors=k + 1).fit(centres).kneighbors(centres)[0][:, k]  # k-th other point
        dist = np.linalg.norm(points[:, None] - centres[None], axis=2)
        return float((dist <= radius[None]).any(1).mean())

    return coverage(real, fake), coverage(fake, real)


def test_identical_sets_give_full_precision_and_recall():
    x = torch.randn(500, 4, generator=torch.Generator().manual_seed(0))
    assert precision_recall(x, x) == (1.0, 1.0)


def test_samples_of_one_mode_are_precise_but_recall_half():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[-10.0, 0.0], [10.0, 0.0]])
    real = torch.randn(1000, 2, generator=g) + centres[torch.arange(1000) % 2]
    fake = torch.randn(1000, 2, generator=g) + centres[1]  # all on the right-hand mode
    precision, recall = precision_recall(real, fake)
    assert precision > 0.95
    assert 0.4 < recall < 0.6


def test_far_away_samples_have_no_precision():
    real = torch.randn(300, 3, generator=torch.Generator().manual_seed(1))
    assert precision_recall(real, real + 100.0) == (0.0, 0.0)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_precision_and_recall_match_a_brute_force_count(k):
    g = np.random.default_rng(k)
    real, fake = g.standard_normal((200, 3)), g.standard_normal((150, 3)) * 1.3 + 0.4
    expected = brute_force(real, fake, k)
    assert precision_recall(real, fake, k) == pytest.approx(expected)
    assert 0 < expected[0] < 1 and 0 < expected[1] < 1  # neither trivial


def test_distances_are_computed_in_bounded_blocks(monkeypatch):
    g = np.random.default_rng(0)
    real, fake = g.standard_normal((300, 4)), g.standard_normal((200, 4)) + 0.5
    expected = precision_recall(real, fake)
    # 10,000 x 10,000 points: one block of distances stays within CHUNK_BYTES (32 MiB), not 800 MB.
    big = torch.zeros(10_000, 2, dtype=torch.float64)
    _, first = next(quality._blocks(big, big))
    assert first.shape[1] == 10_000 and first.numel() * 8 <= quality.CHUNK_BYTES <= 64 << 20
    monkeypatch.setattr(quality, "CHUNK_BYTES", 8 * 300 * 7)  # blocks of 7 rows
    blocks = list(quality._blocks(torch.from_numpy(real), torch.from_numpy(real)))
    assert len(blocks) == math.ceil(300 / 7) and max(len(b) for _, b in blocks) == 7
    assert precision_recall(real, fake) == expected


def test_precision_recall_needs_more_than_k_points():
    with pytest.raises(ValueError, match="k=3"):
        precision_recall(np.zeros((3, 2)), np.zeros((10, 2)))


# ----------------------------------------------------------------------------- diversity


def test_identical_samples_have_no_diversity():
    assert diversity(torch.ones(50, 4) * 3.0) == 0.0


def test_more_spread_gives_more_diversity():
    x = torch.randn(400, 5, generator=torch.Generator().manual_seed(0))
    d1 = diversity(x, generator=torch.Generator().manual_seed(1))
    d2 = diversity(2 * x, generator=torch.Generator().manual_seed(1))
    assert d2 == pytest.approx(2 * d1)
    assert d1 == pytest.approx(math.sqrt(2) * math.gamma(3) / math.gamma(2.5) * math.sqrt(2), rel=0.05)  # E|x-y|, 5-d


def test_diversity_never_pairs_a_point_with_itself():
    two = torch.tensor([[0.0, 0.0], [3.0, 4.0]])
    assert diversity(two, pairs=100, generator=torch.Generator().manual_seed(0)) == pytest.approx(5.0)
    with pytest.raises(ValueError):
        diversity(two[:1])


# ----------------------------------------------------------------------------- sample_quality


@pytest.fixture(scope="module")
def data(make_data):
    return make_data(n_train=256, n_eval=64)


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_config, data):
    out = tmp_path_factory.mktemp("quality") / "run"
    train(tiny_config("train.epochs=8"), out, dataset=data, log=lambda msg: None)
    return load_run(out, dataset=data)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


KEYS = {"split", "num_samples", "num_real", "fd_classifier", "fd_classifier_reference", "precision", "recall",
        "diversity", "diversity_real", "diversity_ratio", "classifier_accuracy", "classifier_features", "seconds"}


def test_sample_quality_reports_every_figure_and_is_seeded(run, cache):
    result = sample_quality(run, seed=0, cache_dir=cache)
    assert KEYS <= set(result) and "fid_inception" not in result
    assert result["num_samples"] == result["num_real"] == 64 and result["split"] == "test"
    assert result["sample_draw"] == "bernoulli"  # the tiny set is binary
    assert 0 <= result["precision"] <= 1 and 0 <= result["recall"] <= 1
    assert result["fd_classifier"] > 0 and result["diversity"] > 0 and result["classifier_accuracy"] > 0.9
    again = sample_quality(run, seed=0, cache_dir=cache)
    assert {k: v for k, v in again.items() if k != "seconds"} == {k: v for k, v in result.items() if k != "seconds"}
    other = sample_quality(run, seed=1, cache_dir=cache)
    assert other["fd_classifier"] != result["fd_classifier"]


def test_a_collapsed_model_scores_worse(run, data, cache):
    good = sample_quality(run, seed=0, cache_dir=cache)
    model = run.model
    one = data.test.x[:1]

    class Collapsed(Family):
        """Every sample is the same real example: precise, but with no diversity or recall."""

        traits = Traits()

        def __init__(self):
            super().__init__()
            self.anchor = torch.nn.Parameter(torch.zeros(()))

        def sample(self, n, temperature=1.0, generator=None, y=None):
            return one.expand(n, *one.shape[1:])

    bad = sample_quality(dataclasses.replace(run, model=Collapsed()), seed=0, cache_dir=cache)
    assert run.model is model
    # One image in every row of a batch: matmul kernels may round rows at a tile's edge apart by
    # an ulp, so "no diversity" is a distance far below the real samples', not an exact 0.
    assert bad["diversity"] < 1e-4 * good["diversity"] and bad["diversity_ratio"] < 1e-4
    assert bad["precision"] == 1.0 and bad["recall"] < 0.5
    assert bad["fd_classifier"] > 2 * good["fd_classifier"]
    assert good["recall"] > bad["recall"]


def test_num_samples_takes_a_seeded_subset_of_the_split(run, cache):
    result = sample_quality(run, num_samples=40, seed=0, cache_dir=cache)
    assert result["num_samples"] == result["num_real"] == 40
    with pytest.raises(ConfigError, match="k=3"):
        sample_quality(run, num_samples=3, cache_dir=cache)


def test_inception_weights_add_fid_inception(run, cache, monkeypatch, tmp_path):
    # The network itself is tested in test_inception.py; here a stand-in checks the wiring:
    # real and generated images both go through it, and their Fréchet distance is reported.
    from vaekit.evaluate import inception

    seen = []

    def features(net, x, batch_size=50):
        seen.append(x.shape)
        return x.flatten(1)[:, :8] + torch.arange(8)

    monkeypatch.setattr(inception, "load_inception", lambda path, device="cpu": path)
    monkeypatch.setattr(inception, "inception_features", features)
    result = sample_quality(run, num_samples=30, cache_dir=cache, inception_weights=tmp_path / "w.pth")
    assert seen == [(30, 1, 8, 8), (30, 1, 8, 8)]
    assert result["fid_inception"] > 0 and "fd_classifier" in result


def test_the_evaluate_runner_has_a_quality_group(run, cache, monkeypatch):
    from vaekit.evaluate import evaluate

    monkeypatch.setenv("VAEKIT_CACHE_DIR", str(cache))
    result = evaluate(run, "test", metrics=["quality"], limit=40, write=False)
    assert result["metrics"] == ["quality"] and result["num_examples"] == 40
    direct = sample_quality(run, seed=0, cache_dir=cache, num_samples=40)
    assert result["fd_classifier"] == pytest.approx(direct["fd_classifier"])
    with pytest.raises(ConfigError, match="quality"):
        evaluate(run, "test", metrics=["latent"], inception_weights="w.pth", write=False)
    with pytest.raises(ConfigError, match="nowhere.pth' not found"):  # at once, before the slow groups
        evaluate(run, "test", metrics=["likelihood", "quality"], inception_weights="nowhere.pth", write=False)


def test_the_floor_compares_like_with_like_under_dynamic_binarization(run, make_data, cache):
    # Dynamic binarization keeps the training split grey; the floor's training examples must be
    # binarized as the test split was, or the floor measures grey against binary.
    grey = make_data(n_train=256, n_eval=64, dynamic=True)
    assert not is_binary(grey.train.x) and is_binary(grey.test.x)
    ref = reference_examples(grey, 64, seed=0, binary=True)
    assert is_binary(ref) and ref.shape == (64, *grey.shape)
    assert torch.equal(ref, reference_examples(grey, 64, seed=0, binary=True))
    dyn_run = load_run(run.path, dataset=grey)
    result = sample_quality(dyn_run, seed=0, cache_dir=cache)
    from vaekit.evaluate.classifier import feature_extractor

    extractor = feature_extractor(grey, cache, data_config=dyn_run.config.data)
    expected = frechet_distance(extractor.features(grey.test.x), extractor.features(ref))
    assert result["fd_classifier_reference"] == pytest.approx(expected, rel=1e-9)
    unbinarized = reference_examples(grey, 64, seed=0, binary=False)  # the same examples, grey
    assert torch.equal(ref, torch.bernoulli(unbinarized, generator=torch.Generator().manual_seed(0)))
    assert frechet_distance(extractor.features(grey.test.x), extractor.features(unbinarized)) != pytest.approx(expected, rel=1e-3)


def test_data_without_labels_is_measured_in_the_features_of_its_clusters(run, data, cache):
    from vaekit.data import Dataset, Split

    bare = Dataset(**{**data.__dict__, "train": Split(data.train.x), "val": Split(data.val.x),
                      "test": Split(data.test.x), "num_classes": None})
    result = sample_quality(load_run(run.path, dataset=bare), seed=0, cache_dir=cache)
    labelled = sample_quality(run, seed=0, cache_dir=cache)
    assert result["classifier_labels"] == "kmeans" and labelled["classifier_labels"] == "classes"
    # 16 clusters of 4 prototypes: splits within a prototype follow noise, so held-out examples
    # often land in a sibling cluster; chance would be 1/16.
    assert KEYS <= set(result) and result["classifier_accuracy"] > 0.5
    assert result["fd_classifier"] != labelled["fd_classifier"]  # another feature space
    assert result["fd_classifier"] > 0 and result["fd_classifier_reference"] > 0


def test_the_mixture_sampler_follows_the_codes_where_the_prior_misses_them(run, cache):
    # A prior moved far from the codes the decoder was trained on: its samples are poor, while
    # the mixture fitted to the training codes (Ghosh et al. 2020) still draws where they are.
    import copy

    model = copy.deepcopy(run.model)
    draw = model.prior.sample
    model.prior.sample = lambda n, temperature=1.0, generator=None: draw(n, temperature, generator) + 6.0
    moved = dataclasses.replace(run, model=model)
    prior = sample_quality(moved, seed=0, cache_dir=cache)
    gmm = sample_quality(moved, seed=0, cache_dir=cache, sampler="gmm", components=4)
    assert prior["sampler"] == "prior" and "sampler_components" not in prior
    assert gmm["sampler"] == "gmm" and gmm["sampler_components"] == 4
    assert gmm["fd_classifier"] < prior["fd_classifier"] / 2 and gmm["recall"] > prior["recall"]
    again = sample_quality(moved, seed=0, cache_dir=cache, sampler="gmm", components=4)
    assert again["fd_classifier"] == gmm["fd_classifier"]  # seeded: fit and draws
