"""The explorer's JSON API on an image run (digits): every route, each answer checked against an
independent computation with the model itself, and the run directory left as it was."""

from __future__ import annotations

import base64

import numpy as np
import pytest
import torch
from starlette.testclient import TestClient

from explore_helpers import expected_pixels, pixels, png_bytes, tree_hashes
from vaekit.explore import create_app
from vaekit.run import load_run


@pytest.fixture(scope="module")
def client(digits_run):
    return TestClient(create_app(digits_run, limit=150, seed=3))


@pytest.fixture(scope="module")
def state(client):
    return client.app.state.explorers["digits"]


def test_info_describes_the_run_and_orders_the_dimensions_by_their_kl(client, state):
    info = client.get("/api/info").json()
    assert info["run"] == "digits" and info["runs"] == ["digits"]
    assert (info["family"], info["kind"], info["data_shape"], info["latent_dim"]) == ("vae", "image", [1, 8, 8], 4)
    assert info["points"] == 150 and info["order_by"] == "kl" and info["classes"] == [str(k) for k in range(10)]
    # the KL of each dimension, computed here with torch.distributions from the model's own posterior
    with torch.no_grad():
        q = state.model.encode(state.x)
    kl = torch.distributions.kl_divergence(torch.distributions.Normal(q.mu, q.std),
                                           torch.distributions.Normal(0.0, 1.0)).double().mean(0)
    dims = info["dims"]
    assert [d["dim"] for d in dims] == sorted(range(4), key=lambda d: -float(kl[d]))
    assert [d["score"] for d in dims] == pytest.approx([float(kl[d["dim"]]) for d in dims], rel=1e-4, abs=1e-7)
    for d in dims:  # every slider spans the prior's mean +- 4 and every code of the map, and starts at the mean
        assert d["low"] <= min(-4.0, float(q.mu[:, d["dim"]].min())) + 1e-6
        assert d["high"] >= max(4.0, float(q.mu[:, d["dim"]].max())) - 1e-6
        assert d["start"] == 0.0


def test_the_map_is_the_pca_of_the_posterior_means_coloured_by_label(client, state):
    from sklearn.decomposition import PCA

    points = client.get("/api/map").json()["points"]
    assert [p["index"] for p in points] == list(range(150))
    assert [p["label"] for p in points] == state.y.tolist()
    with torch.no_grad():
        mu = state.model.encode(state.x).mu.double().numpy()
    expected = PCA(2).fit_transform(mu)
    got = np.array([[p["x"], p["y"]] for p in points])
    for axis in range(2):  # an SVD's axes are defined up to their sign
        sign = np.sign(expected[:, axis] @ got[:, axis])
        np.testing.assert_allclose(got[:, axis], sign * expected[:, axis], atol=1e-5)


def test_a_point_shows_its_input_its_reconstruction_and_its_code(client, state):
    p = client.get("/api/point/7").json()
    assert p["index"] == 7 and p["label"] == int(state.y[7])
    np.testing.assert_array_equal(pixels(p["input"]), expected_pixels(state.x[7]))
    with torch.no_grad():
        q = state.model.encode(state.x[7:8])
        recon = state.model.decode(q.mu).mean[0]
    assert np.abs(pixels(p["reconstruction"]).astype(int) - expected_pixels(recon).astype(int)).max() <= 1
    assert p["code"] == pytest.approx(q.mu[0].tolist(), abs=1e-6)


def test_decode_gives_what_the_model_decodes(client, state):
    z = torch.tensor([[0.5, -1.0, 2.0, 0.0], [-2.5, 0.3, 0.0, 1.5]])
    with torch.no_grad():
        means = state.model.decode(z).mean
    many = client.post("/api/decode", json={"z": z.tolist()}).json()["outputs"]
    one = client.post("/api/decode", json={"z": z[1].tolist()}).json()["outputs"]
    assert len(many) == 2 and len(one) == 1
    for got, want in zip(many + one, [means[0], means[1], means[1]]):
        assert np.abs(pixels(got).astype(int) - expected_pixels(want).astype(int)).max() <= 1
    assert not np.array_equal(pixels(many[0]), pixels(many[1]))  # two codes, two pictures


def test_samples_are_the_priors_and_the_seed_repeats_them(client, state):
    from vaekit.sample import sample

    first = client.post("/api/sample", json={"n": 5, "temperature": 0.7, "seed": 11}).json()
    assert first["seed"] == 11 and len(first["outputs"]) == 5
    again = client.post("/api/sample", json={"n": 5, "temperature": 0.7, "seed": 11}).json()
    other = client.post("/api/sample", json={"n": 5, "temperature": 0.7, "seed": 12}).json()
    assert again == first and other != first
    want = sample(state.model, 5, 0.7, 11)
    for got, w in zip(first["outputs"], want):
        assert np.abs(pixels(got).astype(int) - expected_pixels(w).astype(int)).max() <= 1


def test_an_interpolation_runs_between_the_two_points_means(client, state):
    out = client.post("/api/interpolate", json={"a": 2, "b": 9, "steps": 5}).json()
    assert (out["a"], out["b"], len(out["outputs"])) == (2, 9, 5)
    with torch.no_grad():
        mu = state.model.encode(state.x[[2, 9]]).mu
        line = torch.stack([mu[0] + t * (mu[1] - mu[0]) for t in torch.linspace(0, 1, 5)])
        want = state.model.decode(line).mean
    for got, w in zip(out["outputs"], want):
        assert np.abs(pixels(got).astype(int) - expected_pixels(w).astype(int)).max() <= 1


def _encoded(state, x: torch.Tensor) -> list[float]:
    with torch.no_grad():
        return state.model.encode(x).mu[0].tolist()


def test_an_uploaded_picture_is_encoded_as_the_model_reads_it(client, state):
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (8, 8), dtype=np.uint8)
    x = torch.from_numpy(grey.astype(np.float32) / 255).reshape(1, 1, 8, 8)
    upload = client.post("/api/encode", files={"image": ("digit.png", png_bytes(grey), "image/png")}).json()
    assert upload["code"] == pytest.approx(_encoded(state, x), abs=1e-5)
    np.testing.assert_array_equal(pixels(upload["input"]), grey)
    as_json = client.post("/api/encode", json={"image": base64.b64encode(png_bytes(grey)).decode()}).json()
    assert as_json == upload
    data_url = "data:image/png;base64," + base64.b64encode(png_bytes(grey)).decode()
    inverted = client.post("/api/encode", json={"image": data_url, "invert": True}).json()
    assert inverted["code"] == pytest.approx(_encoded(state, 1 - x), abs=1e-5)
    with torch.no_grad():
        recon = state.model.decode(state.model.encode(x).mu).mean[0]
    assert np.abs(pixels(upload["reconstruction"]).astype(int) - expected_pixels(recon).astype(int)).max() <= 1


def test_a_larger_colour_picture_is_made_grey_and_resized_to_the_runs_images(client, state):
    from PIL import Image

    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (32, 24, 3), dtype=np.uint8)
    grey = np.asarray(Image.fromarray(rgb).convert("L").resize((8, 8), Image.BILINEAR))
    out = client.post("/api/encode", files={"image": ("photo.png", png_bytes(rgb), "image/png")}).json()
    np.testing.assert_array_equal(pixels(out["input"]), grey)
    x = torch.from_numpy(grey.astype(np.float32) / 255).reshape(1, 1, 8, 8)
    assert out["code"] == pytest.approx(_encoded(state, x), abs=1e-5)


def test_the_page_and_its_files_are_served_from_the_package(client):
    page = client.get("/")
    assert page.status_code == 200 and "explorer.js" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]  # nothing from a CDN can load
    for name, kind in (("explorer.js", "javascript"), ("explorer.css", "text/css")):
        r = client.get(f"/static/{name}")
        assert r.status_code == 200 and kind in r.headers["content-type"]
    assert "http" not in page.text.replace("http-equiv", "")  # no URL to elsewhere


def test_serving_every_route_writes_nothing_in_the_run_directory(digits_run):
    before = tree_hashes(digits_run)
    client = TestClient(create_app(digits_run, limit=40))
    grey = np.zeros((8, 8), dtype=np.uint8)
    answers = [client.get("/"), client.get("/api/info"), client.get("/api/map"), client.get("/api/point/3"),
               client.post("/api/decode", json={"z": [0, 0, 0, 0]}),
               client.post("/api/interpolate", json={"a": 0, "b": 1, "steps": 3}),
               client.post("/api/sample", json={"n": 4}),
               client.post("/api/encode", files={"image": ("x.png", png_bytes(grey), "image/png")}),
               client.post("/api/decode", json={"z": [0]})]  # an error too
    assert [r.status_code for r in answers] == [200] * 8 + [400]
    assert tree_hashes(digits_run) == before


def test_a_served_decode_equals_the_library_loaded_from_disk(client, digits_run):
    from vaekit.sample import decode

    run = load_run(digits_run)  # a second load of the same files: the served model is the run's
    z = torch.tensor([[1.0, -1.0, 0.5, 0.0]])
    got = client.post("/api/decode", json={"z": z.tolist()}).json()["outputs"][0]
    np.testing.assert_array_equal(pixels(got), expected_pixels(decode(run.model, z)[0]))
