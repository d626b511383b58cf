"""`vaekit.export` on image models: every latent family's encoder and decoder, written as
TorchScript (MLP and conv networks) and ONNX, reloaded here on their own (torch.jit.load,
onnxruntime) at a batch size neither the export traced nor checked at, and compared with the
model's own `encode` and `decode_code` within 1e-5; the sidecars; the errors."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch

from vaekit.config import parse_config
from vaekit.contract import Batch
from vaekit.errors import ConfigError, InputError
from vaekit.export import export_model
from vaekit.export.backends import max_difference
from vaekit.models import build_model
from vaekit.registry import MODELS

from export_helpers import run_file

SHAPE, CLASSES, ROWS = (1, 8, 8), 3, 7  # 7 rows: the export traces at 2 and checks at 5
TINY_MODELS = {
    "vae": {}, "cvae": {}, "iwae": {"k": 3}, "betatcvae": {}, "capacity_vae": {"capacity_steps": 10},
    "infovae": {"lam": 10.0}, "wae": {}, "ladder": {"lower_dims": [4], "hidden": 16},
    "hvae": {"lower_dims": [4], "hidden": 16}, "vqvae": {"codebook_size": 5, "code_dim": 2, "prior_hidden": 8},
    "vaegan": {"disc_features": 8},
}
NETWORKS = {"mlp": {"name": "mlp", "hidden": [16]}, "conv": {"name": "conv", "channels": [4, 8], "hidden": 16}}
LATENT_FAMILIES = sorted(n for n in MODELS.names() if MODELS.get(n).traits.latent)


def tiny(family: str, network: str = "mlp", likelihood: dict | None = None):
    net = NETWORKS[network]
    model = {"name": family, "latent_dim": 3, "encoder": net, "decoder": net, **TINY_MODELS[family]}
    if likelihood:
        model["likelihood"] = likelihood
    torch.manual_seed(0)
    return build_model(parse_config({"model": model}).model, SHAPE, CLASSES).eval()


def inputs(model, seed: int = 3):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(ROWS, *SHAPE, generator=g)
    y = torch.randint(CLASSES, (ROWS,), generator=g) if model.traits.conditional else None
    return x, y, torch.randn(ROWS, model.code_size, generator=g)


def expected(model, x, y, z) -> tuple[dict, dict]:
    """What the model itself gives, by output name: q(z|x)'s parameters and p(x|z)'s tensors."""
    with torch.no_grad():
        q = model.encode(Batch(x, y))
        px = model.decode_code(z, y)
    enc = {"mu": q.mu, "logvar": q.logvar} if model.traits.gaussian_posterior else {"z": q.mean}
    if hasattr(px, "logits"):
        dec = {"logits": px.logits}
    else:
        dec = {"mean": px.mu, "log_sigma": px.log_sigma.expand(px.mu.shape)}
    return enc, dec


def feeds(model, x, y, z) -> dict:
    label = {"y": y} if y is not None else {}
    return {"encoder": {"x": x, **label}, "decoder": {"z": z, **label}}


def check_export(model, fmt: str, folder) -> dict:
    report = export_model(model, fmt, "both", folder)
    x, y, z = inputs(model)
    want = dict(zip(("encoder", "decoder"), expected(model, x, y, z)))
    fed = feeds(model, x, y, z)
    for part, r in report["parts"].items():
        sidecar = json.loads(open(r["sidecar"]).read())
        assert [i["name"] for i in sidecar["inputs"]] == list(fed[part])
        names = [o["name"] for o in sidecar["outputs"]]
        assert names == list(want[part]), (part, names)
        assert all(o["shape"][0] == "batch" for o in sidecar["outputs"] + sidecar["inputs"])
        got = run_file(r["file"], fed[part], names)
        for name in names:
            assert got[name].shape == want[part][name].shape
            torch.testing.assert_close(got[name], want[part][name], atol=1e-5, rtol=0)
        assert 0 <= r["max_abs_diff"] <= 1e-5 and sidecar["check"]["max_abs_diff"] == r["max_abs_diff"]
    return report


def test_every_latent_family_has_a_tiny_config_here():
    assert set(LATENT_FAMILIES) <= set(TINY_MODELS), "add the new family to TINY_MODELS"


@pytest.mark.parametrize("network", sorted(NETWORKS))
@pytest.mark.parametrize("family", LATENT_FAMILIES)
def test_every_family_exports_to_torchscript(family, network, tmp_path):
    report = check_export(tiny(family, network), "torchscript", tmp_path)
    assert {r["exporter"] for r in report["parts"].values()} == {"torch.jit.trace"}


@pytest.mark.parametrize("family", LATENT_FAMILIES)
def test_every_family_exports_to_onnx(family, tmp_path):
    report = check_export(tiny(family), "onnx", tmp_path)
    assert set(report["parts"]) == {"encoder", "decoder"}
    sidecar = json.loads((tmp_path / "encoder.onnx.json").read_text())
    assert sidecar["model"] == family and sidecar["format"] == "onnx" and isinstance(sidecar["opset"], int)


@pytest.mark.parametrize("family", ["vae", "cvae"])  # cvae: the class enters the conv encoder as channels
def test_conv_networks_export_to_onnx(family, tmp_path):
    check_export(tiny(family, "conv"), "onnx", tmp_path)


def test_a_gaussian_likelihood_exports_its_mean_and_log_sigma(tmp_path):
    model = tiny("vae", likelihood={"name": "gaussian", "variance": "learned", "sigma": 0.3})
    with torch.no_grad():
        model.likelihood.log_sigma.copy_(torch.linspace(-2, 1, 64).view(SHAPE))  # a sigma per pixel, not one
    report = check_export(model, "torchscript", tmp_path)
    outputs = report["parts"]["decoder"]["outputs"]
    assert [o["name"] for o in outputs] == ["mean", "log_sigma"]
    assert outputs[1]["shape"] == ["batch", *SHAPE] and outputs[1]["dtype"] == "float32"


def test_the_onnx_decoder_gives_pictures_as_vaekit_decode_does(tmp_path):
    import onnxruntime as ort

    import vaekit

    model = tiny("vae")
    export_model(model, "onnx", "decoder", tmp_path)
    assert not (tmp_path / "encoder.onnx").exists()
    z = np.random.default_rng(0).standard_normal((3, 3)).astype(np.float32)
    (logits,) = ort.InferenceSession(str(tmp_path / "decoder.onnx")).run(["logits"], {"z": z})
    pictures = 1 / (1 + np.exp(-logits))  # sigmoid: what the docs tell a user to do
    np.testing.assert_allclose(pictures, vaekit.decode(model, torch.from_numpy(z)).numpy(), atol=1e-6)


def test_a_failed_check_writes_nothing_and_keeps_the_file_there(tmp_path, monkeypatch):
    model = tiny("vae")
    export_model(model, "torchscript", "encoder", tmp_path)
    before = (tmp_path / "encoder.pt").read_bytes()
    monkeypatch.setattr("vaekit.export.backends.TOLERANCE", -1.0)  # no file can pass
    with pytest.raises(ConfigError, match=r"model 'vae' cannot be exported to torchscript: its encoder .*differs "
                                          r"from PyTorch by 0 at other sizes"):
        export_model(model, "torchscript", "encoder", tmp_path)
    assert (tmp_path / "encoder.pt").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["encoder.pt", "encoder.pt.json"]  # no temporary file left


def test_max_difference_counts_equal_infinities_as_equal_and_nan_as_infinite():
    inf = float("inf")
    a = torch.tensor([[0.0, -inf, 1.0]])
    assert max_difference((a,), (torch.tensor([[0.0, -inf, 1.5]]),)) == 0.5
    assert max_difference((a,), (torch.tensor([[0.0, 0.0, 1.0]]),)) == inf
    assert max_difference((torch.tensor([float("nan")]),), (torch.tensor([0.0]),)) == inf
    assert max_difference((a,), (a[:, :2],)) == inf


def test_bad_arguments_are_one_line_errors(tmp_path):
    model = tiny("vae")
    with pytest.raises(ConfigError, match="export format 'onnnx' is not one of onnx, torchscript.*did you mean 'onnx'"):
        export_model(model, "onnnx", "both", tmp_path)
    with pytest.raises(ConfigError, match="export part 'decoders' is not one of encoder, decoder, both"):
        export_model(model, "onnx", "decoders", tmp_path)
    (tmp_path / "file").write_text("")
    with pytest.raises(InputError, match="is a file; name a folder"):
        export_model(model, "torchscript", "both", tmp_path / "file")


def test_missing_onnxruntime_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime now raises ImportError
    with pytest.raises(ConfigError, match=r'onnxruntime is missing\); pip install "vaekit\[export\]"'):
        export_model(tiny("vae"), "onnx", "both", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_the_model_is_left_in_the_mode_it_was_in(tmp_path):
    model = tiny("vae").train()
    export_model(model, "torchscript", "encoder", tmp_path)  # traced and checked in eval mode
    assert model.training and all(m.training for m in model.modules())
