"""The report page: every section for every family, self-contained, and `vaekit report` end to end."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import torch
from PIL import Image

from vaekit.config import parse_config
from vaekit.models import build_model
from vaekit.registry import MODELS
from vaekit.report import make_report, render_report
from vaekit.run import Run

from cli_helpers import cli
from family_helpers import TINY_MODELS

DIGITS = str(Path(__file__).parents[2] / "configs" / "digits.yaml")
QUICK = ["--train.epochs=2", "--data.limit=200", "--train.batch_size=50", "--model.encoder.hidden=[32]",
         "--model.decoder.hidden=[32]", "--train.sample_grid=0", "--train.progress=false", "--train.report=false"]
SECTIONS = ["overview", "metrics", "curves", "samples", "reconstructions", "interpolations", "traversals",
            "latent-map", "kl"]
LATENT = 3


def sections(html: str) -> dict[str, str]:
    """Section id -> its HTML."""
    return dict(re.findall(r'<section id="([\w-]+)">(.*?)</section>', html, flags=re.DOTALL))


def check_self_contained(html: str) -> None:
    """No URL anywhere (so nothing is fetched), and every chart is well-formed SVG."""
    assert not re.search(r"https?:", html)
    assert not re.search(r'(src|href)="(?!data:image/png;base64,|#)', html)  # only data URIs and anchors
    assert "<script" not in html and "<link" not in html and "@import" not in html
    for svg in re.findall(r"<svg.*?</svg>", html, flags=re.DOTALL):
        ET.fromstring(svg)


def images(html: str) -> list[Image.Image]:
    return [Image.open(io.BytesIO(base64.b64decode(b))) for b in re.findall(r'src="data:image/png;base64,([^"]+)"', html)]


def tiny_run(family: str, data, path: Path, **model) -> Run:
    cfg = parse_config({"model": {"name": family, "latent_dim": LATENT, **TINY_MODELS[family], **model,
                                  "encoder": {"hidden": [16]}, "decoder": {"hidden": [16]}}})
    torch.manual_seed(0)
    net = build_model(cfg.model, data.shape, data.num_classes).eval()
    return Run(path, cfg, net, tuple(data.shape), torch.device("cpu"), data)


# ----------------------------------------------------------------------------- every family


def test_every_registered_family_has_a_tiny_config():
    latent = {n for n in MODELS.names() if MODELS.get(n).traits.latent}  # lm models text only: tests/models/test_lm.py
    assert latent <= set(TINY_MODELS), "add the new model family to TINY_MODELS"


@pytest.mark.parametrize("family", sorted(TINY_MODELS))
def test_every_family_gets_every_section(family, make_data, tmp_path):
    data = make_data(n_eval=24)
    html = render_report(tiny_run(family, data, tmp_path), limit=20)
    check_self_contained(html)
    parts = sections(html)
    assert list(parts) == SECTIONS
    assert "metrics.jsonl has no epochs yet" in parts["curves"]  # an untrained run: no crash, a sentence
    assert f'<td>{family}</td>' in parts["overview"]
    assert parts["latent-map"].count('class="point"') == 20  # a seeded subset of limit=20 of the 24
    assert len(images(parts["samples"])) == 1 and len(images(parts["reconstructions"])) == 1
    if family in ("vqvae", "wae"):  # a point-mass posterior: no standard deviations, no KL per dimension
        assert "point mass" in parts["traversals"] and not images(parts["traversals"])
        assert "point mass" in parts["kl"] and 'class="bar"' not in parts["kl"]
    else:
        assert len(images(parts["traversals"])) == LATENT  # one row per latent dimension (3 < 10)
        assert parts["kl"].count('class="bar"') == LATENT


def test_vector_data_get_notes_instead_of_images(make_data, tmp_path):
    data = make_data(n_eval=10, shape=(6,))
    parts = sections(render_report(tiny_run("vae", data, tmp_path), limit=10))
    for key in ("samples", "reconstructions", "interpolations", "traversals"):
        assert "not images" in parts[key] and not images(parts[key])
    assert parts["kl"].count('class="bar"') == LATENT  # the latent parts still apply


def test_a_conditional_model_shows_one_row_per_class(make_data, tmp_path):
    data = make_data()  # 4 classes
    parts = sections(render_report(tiny_run("cvae", data, tmp_path)))
    (grid,) = images(parts["samples"])
    assert grid.size == (8 * (16 * 10 + 2), 8 * (4 * 10 + 2))  # 4 rows of 16, as samples.png: 64 samples
    assert "One row per class" in parts["samples"]


def test_the_map_is_coloured_by_label_and_a_learned_prior_is_named(make_data, tmp_path):
    data = make_data()
    parts = sections(render_report(tiny_run("vae", data, tmp_path, prior={"name": "mixture", "components": 2})))
    labels = data.test.y.tolist()
    dots = re.findall(r'class="point"[^>]*fill="(#\w+)"', parts["latent-map"])
    assert len(dots) == len(labels) and len(set(dots)) == len(set(labels)) == 4
    assert all((dots[i] == dots[j]) == (labels[i] == labels[j]) for i in range(10) for j in range(10))
    assert "not the run&#x27;s mixture prior" in parts["kl"]


# ----------------------------------------------------------------------------- a trained run


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("report") / "run"
    code, _, err = cli("train", DIGITS, "--out", run, *QUICK)
    assert code == 0, err
    return run


@pytest.fixture
def run_copy(trained, tmp_path) -> Path:
    return Path(shutil.copytree(trained, tmp_path / "run"))


def test_the_page_of_a_trained_run(run_copy):
    path = make_report(run_copy)
    assert path == run_copy / "report.html"
    html = path.read_text()
    check_self_contained(html)
    parts = sections(html)
    assert list(parts) == SECTIONS
    assert '<a href="#latent-map">' in html  # the navigation reaches every section
    for title in ("ELBO (nats)", "Reconstruction log p(x|z) (nats)", "KL (nats)", "Learning rate"):
        assert f'aria-label="{title}"' in parts["curves"]
    assert parts["curves"].count('class="series"') >= 7  # train and val ELBO, recon and KL; lr; beta
    assert "summary.json" in parts["metrics"] and "No evaluation yet" in parts["metrics"]
    assert parts["latent-map"].count('class="point"') == 180  # the whole test split: 180 digits
    assert parts["kl"].count('class="bar"') == 8
    assert len(images(parts["traversals"])) == 8


def test_evaluation_results_join_the_metrics_table(run_copy):
    assert cli("evaluate", run_copy, "-k", "2", "--limit", "20")[0] == 0
    (run_copy / "eval_val.json").write_text(json.dumps({"split": "val", "nll": 12.5, "only_here": 1}))
    (run_copy / "eval_broken.json").write_text("{not json")
    metrics = sections(make_report(run_copy).read_text())["metrics"]
    assert "No evaluation yet" not in metrics
    assert "<th>eval_test.json</th>" in metrics and "<th>eval_val.json</th>" in metrics
    assert "<th>nll</th>" in metrics and "<th>only_here</th>" in metrics and "12.5" in metrics
    assert "Could not read eval_broken.json" in metrics


def test_same_seed_same_page(run_copy, tmp_path):
    a = make_report(run_copy, tmp_path / "a.html", seed=3, limit=50).read_bytes()
    b = make_report(run_copy, tmp_path / "b.html", seed=3, limit=50).read_bytes()
    c = make_report(run_copy, tmp_path / "c.html", seed=4, limit=50).read_bytes()
    assert a == b and a != c


# ----------------------------------------------------------------------------- the command


def test_vaekit_report_writes_the_page_and_prints_its_path(run_copy, tmp_path):
    code, out, err = cli("report", run_copy)
    assert code == 0, err
    assert out.strip() == str(run_copy / "report.html") and (run_copy / "report.html").is_file()
    target = tmp_path / "pages" / "r.html"
    code, out, err = cli("report", run_copy, "--out", target, "--map", "tsne", "--split", "val", "--limit", "60",
                         "--seed", "1")
    assert code == 0, err
    assert out.strip() == str(target)
    parts = sections(target.read_text())
    assert "t-SNE" in parts["latent-map"] and parts["latent-map"].count('class="point"') == 60
    assert "60 val examples" in parts["latent-map"]
    code, out, err = cli("report", run_copy, "--out", tmp_path / "pages")  # an existing folder
    assert code == 0, err
    assert out.strip() == str(tmp_path / "pages" / "report.html") and (tmp_path / "pages" / "report.html").is_file()


@pytest.mark.parametrize("args, expected", [
    (("report", "{tmp}/nowhere"), "not a run directory"),
    (("report", "{run}", "--limit", "0"), "at least 1"),
    (("report", "{run}", "--out", "{tmp}/file/r.html"), "choose another --out"),
])
def test_bad_arguments_exit_2_with_one_line(trained, tmp_path, args, expected):
    (tmp_path / "file").write_text("")
    code, out, err = cli(*(a.format(run=trained, tmp=tmp_path) for a in args))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("vaekit: error: ") and expected in err
    assert not (trained / "report.html").exists()
