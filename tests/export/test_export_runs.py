"""`vaekit export` on trained runs and on the other data: the command on a digits run (files in
RUN/export/, the run's own files untouched, quiet output, one-line errors), a table run's mixed
likelihood, and text models (the rnn encoder refused for ONNX, the teacher-forced decoder
exported, the language model's decoder). Every file is reloaded here and compared with the model."""

from __future__ import annotations

import json
import sys

import pytest
import torch

import vaekit
from vaekit.config import parse_config
from vaekit.contract import BOS_ID, Batch
from vaekit.errors import ConfigError
from vaekit.export import export_model, export_run
from vaekit.models import build_model
from vaekit.train.prepare import for_data

from cli_helpers import cli, error_line
from conftest import TINY
from export_helpers import run_file
from table_helpers import make_table, table_config
from text_helpers import TINY_SEQUENCE_NETWORKS, TINY_TEXT_MODELS, corpus, text_config, text_dataset


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "digits"
    return vaekit.train(parse_config({}, [*TINY, "train.epochs=1", "data.limit=200"]), out, log=lambda msg: None)


def listing(folder) -> dict:
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}


def test_the_command_writes_both_parts_into_run_export_and_touches_nothing_else(digits_run):
    before = listing(digits_run.path)
    code, out, err = cli("export", digits_run.path)
    assert code == 0, err
    assert err == ""  # no progress lines, warnings or torch's log about torchvision
    folder = digits_run.path / "export"
    assert sorted(p.name for p in folder.iterdir()) == ["decoder.onnx", "decoder.onnx.json", "encoder.onnx",
                                                        "encoder.onnx.json"]
    assert out.splitlines()[0].startswith(f"{folder / 'encoder.onnx'}  (encoder, torch.export; max abs diff")
    assert {k: v for k, v in listing(digits_run.path).items() if k != "export"} == before
    sidecar = json.loads((folder / "decoder.onnx.json").read_text())
    assert sidecar["run"] == str(digits_run.path) and sidecar["codec"]["modality"] == "image"
    assert sidecar["inputs"] == [{"name": "z", "shape": ["batch", 4], "dtype": "float32",
                                  "description": "a code in the space the encoder returns"}]
    assert sidecar["outputs"][0]["name"] == "logits" and sidecar["outputs"][0]["shape"] == ["batch", 1, 8, 8]
    x = digits_run.dataset().test.x[:9]
    got = run_file(str(folder / "encoder.onnx"), {"x": x}, ["mu", "logvar"])
    mu, logvar = vaekit.encode(digits_run.model, x)
    torch.testing.assert_close(got["mu"], mu, atol=1e-5, rtol=0)
    torch.testing.assert_close(got["logvar"], logvar, atol=1e-5, rtol=0)


def test_the_command_writes_torchscript_where_out_says(digits_run, tmp_path):
    code, out, err = cli("export", digits_run.path, "--format", "torchscript", "--part", "decoder",
                         "--out", tmp_path / "ts")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "ts").iterdir()) == ["decoder.pt", "decoder.pt.json"]
    z = torch.randn(11, 4)
    got = run_file(str(tmp_path / "ts" / "decoder.pt"), {"z": z}, ["logits"])
    torch.testing.assert_close(torch.sigmoid(got["logits"]), vaekit.decode(digits_run.model, z), atol=1e-6, rtol=0)


def test_command_errors_are_one_line(digits_run, tmp_path, monkeypatch):
    code, _, err = cli("export", digits_run.path / "nowhere")
    assert code == 2 and "is not a run directory" in error_line(err)
    code, _, err = cli("export", digits_run.path, "--format", "tflite")
    assert code == 2 and "invalid choice: 'tflite'" in err
    monkeypatch.setitem(sys.modules, "onnx", None)
    code, _, err = cli("export", digits_run.path, "--out", tmp_path / "x")
    assert code == 2 and error_line(err).endswith('(onnx is missing); pip install "vaekit[export]"')


# ----------------------------------------------------------------------------- tables


@pytest.fixture(scope="module")
def table_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("table") / "people.csv"
    make_table(n=120).to_csv(path, index=False)
    from vaekit.data.table import TableWarning

    with pytest.warns(TableWarning):
        return vaekit.train(table_config(path, latent_dim=3), tmp_path_factory.mktemp("runs") / "people",
                            log=lambda msg: None)


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_a_table_run_exports_its_mixed_likelihoods_parameters(table_run, tmp_path, fmt):
    report = export_run(table_run, fmt, "both", tmp_path)
    model = table_run.model
    x = table_run.dataset().test.x[:9]
    z = torch.randn(9, 3)
    with torch.no_grad():
        q, px = model.encode(Batch(x)), model.decode_code(z)
    enc = run_file(report["parts"]["encoder"]["file"], {"x": x}, ["mu", "logvar"])
    torch.testing.assert_close(enc["mu"], q.mu, atol=1e-5, rtol=0)
    dec = run_file(report["parts"]["decoder"]["file"], {"z": z}, ["params", "log_sigma"])
    torch.testing.assert_close(dec["params"], px.params, atol=1e-5, rtol=0)
    floored = px.log_sigma.clamp(min=px.floor).expand(9, -1)
    torch.testing.assert_close(dec["log_sigma"], floored, atol=1e-5, rtol=0)
    sidecar = json.loads(open(report["parts"]["decoder"]["sidecar"]).read())
    assert [b["name"] for b in sidecar["layout"]] == [b.name for b in model.likelihood.blocks]
    assert sidecar["outputs"][0]["shape"] == ["batch", px.params.shape[-1]]
    assert sidecar["codec"]["modality"] == "table"


# ----------------------------------------------------------------------------- text

DATA = text_dataset(corpus(40), corpus(10, 1), max_length=10, num_classes=3)


def text_model(family: str, network: str):
    if family == "lm":
        config = parse_config({"model": {"name": "lm", "decoder": dict(TINY_SEQUENCE_NETWORKS[network])}})
    else:
        config = text_config(family, network, model=TINY_TEXT_MODELS[family])
    torch.manual_seed(0)
    return build_model(for_data(config, DATA).model, DATA.shape, 3).eval()


def teacher_inputs(n: int = 7, length: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    x = DATA.train.x[:n, :length]
    return x, torch.cat([torch.full((n, 1), BOS_ID), x[:, :-1]], dim=1)


def check_text_decoder(model, path: str, label: bool = False) -> None:
    x, inputs = teacher_inputs()
    y = torch.arange(7) % 3
    fed = {"z": torch.randn(7, model.code_size)} if model.traits.latent else {}
    fed.update({"y": y} if label else {})
    fed["inputs"] = inputs
    got = run_file(path, fed, ["logits"])["logits"]
    with torch.no_grad():
        px = model.decode_code(fed["z"], y if label else None) if model.traits.latent else model.generate(7)
        want = px.step_logits(inputs)
    assert got.shape == want.shape == (7, 6, model.likelihood.vocab_size)
    finite = torch.isfinite(want)
    assert torch.equal(torch.isfinite(got), finite)  # <pad> and <bos> are -inf in both
    torch.testing.assert_close(got[finite], want[finite], atol=1e-5, rtol=0)


def test_the_rnn_encoder_is_refused_for_onnx_and_its_decoder_exports(tmp_path):
    model = text_model("vae", "rnn")
    with pytest.raises(ConfigError, match=r"^model 'vae' cannot be exported to onnx: its rnn encoder packs sentences "
                                          r".*pack_padded_sequence.*use --format torchscript, or --part decoder$"):
        export_model(model, "onnx", "both", tmp_path)
    assert not any(tmp_path.iterdir())  # refused before anything was written
    report = export_model(model, "onnx", "decoder", tmp_path)
    assert report["parts"]["decoder"]["exporter"] == "torchscript-based"  # torch.export unrolls the GRU
    check_text_decoder(model, report["parts"]["decoder"]["file"])
    sidecar = json.loads(open(report["parts"]["decoder"]["sidecar"]).read())
    assert [i["shape"] for i in sidecar["inputs"]] == [["batch", 4], ["batch", "length"]]
    assert sidecar["outputs"][0]["shape"] == ["batch", "length", model.likelihood.vocab_size]


def test_an_rnn_text_model_exports_to_torchscript_encoder_included(tmp_path):
    model = text_model("vae", "rnn")
    report = export_model(model, "torchscript", "both", tmp_path)
    x, _ = teacher_inputs()
    got = run_file(report["parts"]["encoder"]["file"], {"x": x}, ["mu", "logvar"])
    with torch.no_grad():
        q = model.encode(x)
    torch.testing.assert_close(got["mu"], q.mu, atol=1e-5, rtol=0)
    check_text_decoder(model, report["parts"]["decoder"]["file"])


def test_a_conditional_transformer_text_model_exports_to_onnx(tmp_path):
    model = text_model("cvae", "transformer")
    report = export_model(model, "onnx", "both", tmp_path)
    assert {r["exporter"] for r in report["parts"].values()} == {"torch.export"}
    x, _ = teacher_inputs()
    y = torch.arange(7) % 3
    got = run_file(report["parts"]["encoder"]["file"], {"x": x, "y": y}, ["mu", "logvar"])
    with torch.no_grad():
        q = model.encode(Batch(x, y))
    torch.testing.assert_close(got["logvar"], q.logvar, atol=1e-5, rtol=0)
    check_text_decoder(model, report["parts"]["decoder"]["file"], label=True)


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_a_language_model_exports_its_decoder_alone(tmp_path, fmt):
    model = text_model("lm", "rnn")
    report = export_model(model, fmt, "both", tmp_path)
    assert list(report["parts"]) == ["decoder"]
    check_text_decoder(model, report["parts"]["decoder"]["file"])
    with pytest.raises(ConfigError, match="model 'lm' has no latent code, so it has no encoder to export; "
                                          "use --part decoder"):
        export_model(model, fmt, "encoder", tmp_path)


def test_retraining_over_a_run_clears_its_exported_files(tmp_path):
    from vaekit.run import outputs

    (tmp_path / "export").mkdir()
    names = ["encoder.onnx", "encoder.onnx.json", "decoder.pt", "decoder.pt.json", "notes.txt"]
    for name in names:
        (tmp_path / "export" / name).write_text("")
    assert sorted(p.name for p in outputs(tmp_path)) == sorted(names[:4])  # a file of the user's own stays
