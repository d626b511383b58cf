"""What the explorer computes once per run, family by family: a conditional model's classes, a
point-mass posterior ordered by variance, a model without a latent refused, the seeded subset,
and the other maps (t-SNE; UMAP when umap-learn is there)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from starlette.testclient import TestClient

from explore_helpers import TINY_IMAGE_MODELS, expected_pixels, memory_run, pixels
from vaekit.contract import Batch
from vaekit.errors import ConfigError
from vaekit.explore import create_app
from vaekit.explore.state import Explorer


def test_every_family_with_a_latent_has_a_tiny_config():
    from vaekit.registry import MODELS

    assert {n for n in MODELS.names() if MODELS.get(n).traits.latent} <= set(TINY_IMAGE_MODELS)


@pytest.mark.parametrize("family", sorted(TINY_IMAGE_MODELS))
def test_every_family_with_a_latent_can_be_explored(family, tmp_path):
    run = memory_run(family, tmp_path / family, **TINY_IMAGE_MODELS[family])
    client = TestClient(create_app(run, limit=20))
    info = client.get("/api/info").json()
    assert info["order_by"] == ("kl" if run.model.traits.gaussian_posterior else "variance")
    cls = {"class": 1} if info["conditional"] else {}
    point = client.get("/api/point/2").json()
    z = [d["high"] for d in sorted(info["dims"], key=lambda d: d["dim"])]
    for r in (client.post("/api/decode", json={"z": [point["code"], z], **cls}),
              client.post("/api/interpolate", json={"a": 0, "b": 1, "steps": 3}),
              client.post("/api/sample", json={"n": 4, "temperature": 0.5, **cls}),
              client.post("/api/encode", json={"image": point["input"], **cls})):
        assert r.status_code == 200, r.text
    assert len(point["code"]) == info["latent_dim"] == len(info["dims"])


def test_a_conditional_model_decodes_with_the_chosen_class(tmp_path):
    run = memory_run("cvae", tmp_path / "cvae")
    client = TestClient(create_app(run))
    info = client.get("/api/info").json()
    assert info["conditional"] and info["classes"] == ["0", "1", "2", "3"]
    z = [0.3, -0.2, 1.0]
    r = client.post("/api/decode", json={"z": z})
    assert r.status_code == 400 and "give \"class\", 0 to 3" in r.json()["error"]
    assert client.post("/api/decode", json={"z": z, "class": 4}).status_code == 400
    two = [client.post("/api/decode", json={"z": z, "class": k}).json()["outputs"][0] for k in (1, 2)]
    with torch.no_grad():
        want = [run.model.decode(torch.tensor([z]), torch.tensor([k])).mean[0] for k in (1, 2)]
    for got, w in zip(two, want):
        assert np.abs(pixels(got).astype(int) - expected_pixels(w).astype(int)).max() <= 1
    # samples: one class when asked, every class in turn when not
    assert len(client.post("/api/sample", json={"n": 8, "class": 3}).json()["outputs"]) == 8
    assert len(client.post("/api/sample", json={"n": 8}).json()["outputs"]) == 8
    # a point is encoded and reconstructed with its own label
    state = client.app.state.explorers["cvae"]
    p = client.get("/api/point/5").json()
    with torch.no_grad():
        mu = run.model.encode(Batch(state.x[5:6], state.y[5:6])).mu
    assert p["code"] == pytest.approx(mu[0].tolist(), abs=1e-6)
    up = client.post("/api/encode", json={"image": p["input"], "class": 2}).json()
    assert up["label"] == 2
    assert client.post("/api/encode", json={"image": p["input"]}).status_code == 400  # the class is needed


@pytest.mark.parametrize("family, extra", [("vqvae", {"codebook_size": 5, "code_dim": 2, "prior_hidden": 8}), ("wae", {})])
def test_a_point_mass_posterior_is_ordered_by_the_variance_of_its_codes(tmp_path, family, extra):
    run = memory_run(family, tmp_path / family, **extra)
    state = Explorer.load(run)
    assert state.score_name == "variance"
    with torch.no_grad():
        mu = run.model.encode(state.x).mu.double()
    var = mu.var(0, unbiased=True)
    assert state.scores == pytest.approx(var.tolist(), rel=1e-6, abs=1e-12)
    assert state.order == sorted(range(len(var)), key=lambda d: (-float(var[d]), d))
    assert state.width == mu.shape[1]
    mean, std = mu.mean(0), mu.std(0)
    assert np.allclose(state.start, mean.numpy(), atol=1e-5)
    assert all(lo <= m - 4 * s + 1e-5 and hi >= m + 4 * s - 1e-5 for lo, hi, m, s in
               zip(state.low, state.high, mean.tolist(), std.clamp_min(1e-3).tolist()))
    client = TestClient(create_app(state))
    out = client.post("/api/decode", json={"z": mu[0].tolist()})
    assert out.status_code == 200 and len(out.json()["outputs"]) == 1


def test_a_model_without_a_latent_is_refused(tmp_path):
    from text_helpers import TINY_SEQUENCE_NETWORKS, corpus, text_dataset
    from vaekit.config import parse_config
    from vaekit.models import build_model
    from vaekit.run import Run
    from vaekit.train.prepare import for_data

    data = text_dataset(corpus(40), corpus(10, seed=1), max_length=10)
    cfg = for_data(parse_config({"model": {"name": "lm", "decoder": dict(TINY_SEQUENCE_NETWORKS["rnn"])}}), data)
    run = Run(tmp_path, cfg, build_model(cfg.model, data.shape).eval(), tuple(data.shape), torch.device("cpu"), data,
              data.codec)
    with pytest.raises(ConfigError, match="has no latent code .* so there is no latent space to explore"):
        Explorer.load(run)


def test_the_subset_is_seeded_and_capped(tmp_path):
    run = memory_run("vae", tmp_path / "vae")  # 40 test examples
    a, b, c = (Explorer.load(run, limit=25, seed=s) for s in (1, 1, 2))
    assert len(a.x) == 25 and torch.equal(a.x, b.x) and not torch.equal(a.x, c.x)
    assert len(Explorer.load(run, limit=1000).x) == 40
    with pytest.raises(ConfigError, match="at least 2"):
        Explorer.load(run, limit=1)


def test_the_map_can_be_a_tsne(tmp_path):
    run = memory_run("vae", tmp_path / "vae")
    state = Explorer.load(run, map_method="tsne", limit=30)
    assert state.coords.shape == (30, 2) and np.isfinite(state.coords).all() and state.axes.startswith("t-SNE")


def test_a_umap_map_without_umap_learn_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "umap", None)  # as if umap-learn were not installed
    with pytest.raises(ConfigError, match="umap-learn, which is not installed: pip install umap-learn"):
        Explorer.load(memory_run("vae", tmp_path / "vae"), map_method="umap")


def test_a_umap_map_uses_umap_learn_when_installed(tmp_path, monkeypatch):
    """The call UMAP gets (its seed and neighbours), with a stand-in module: umap-learn is no dependency."""
    import types

    calls = {}

    class UMAP:
        def __init__(self, **kwargs):
            calls.update(kwargs)

        def fit_transform(self, mu):
            return mu[:, :2] * 2

    monkeypatch.setitem(sys.modules, "umap", types.SimpleNamespace(UMAP=UMAP))
    state = Explorer.load(memory_run("vae", tmp_path / "vae"), map_method="umap", seed=4, limit=30)
    assert calls == {"n_components": 2, "n_neighbors": 15, "random_state": 4}
    assert np.allclose(state.coords, state.mu[:, :2].double().numpy() * 2) and state.axes == "UMAP (15 neighbours)"


def test_two_runs_are_served_side_by_side(tmp_path):
    first, second = memory_run("vae", tmp_path / "one"), memory_run("cvae", tmp_path / "two")
    client = TestClient(create_app([first, second]))
    assert client.get("/api/info").json()["runs"] == ["one", "two"]
    assert client.get("/api/info?run=two").json()["family"] == "cvae"
    assert client.post("/api/decode?run=two", json={"z": [0, 0, 0], "class": 1}).status_code == 200
    with pytest.raises(ConfigError, match="two runs are named 'one'"):
        create_app([first, memory_run("vae", tmp_path / "one")])


def test_a_run_of_plain_vectors_shows_lists_of_numbers(tmp_path):
    from conftest import make_dataset
    from vaekit.config import parse_config
    from vaekit.data.codec import Codec
    from vaekit.models import build_model
    from vaekit.run import Run

    data = make_dataset(n_train=16, n_eval=20, shape=(6,))
    cfg = parse_config({"model": {"name": "vae", "latent_dim": 3, "encoder": {"hidden": [8]}, "decoder": {"hidden": [8]}}})
    net = build_model(cfg.model, (6,)).eval()
    run = Run(tmp_path, cfg, net, (6,), torch.device("cpu"), data, Codec(modality="vector"))
    client = TestClient(create_app(run))
    assert client.get("/api/info").json()["kind"] == "vector"
    z = [0.5, -0.5, 1.0]
    (out,) = client.post("/api/decode", json={"z": z}).json()["outputs"]
    with torch.no_grad():
        assert out == pytest.approx(net.decode(torch.tensor([z])).mean[0].tolist(), abs=1e-6)
    r = client.post("/api/encode", json={"row": {}})
    assert r.status_code == 400 and "vectors" in r.json()["error"]
