"""What training leaves at its end besides the weights: samples.png drawn with the configured
sampler, and report.html with its path said, or a warning (never a failed run) when it cannot be
written."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vaekit.errors import OutputError
from vaekit.report import page
from vaekit.sample import sample
from vaekit.sample.grid import save_grid
from vaekit.sample.samplers import fitted_sampler
from vaekit.train import loop


def _train(config, out, data):
    said: list[str] = []
    run = loop.train(config, out, dataset=data, log=said.append)
    return run, said


def test_samples_png_draws_its_codes_from_the_configured_mixture(tiny_config, tiny_data, tmp_path):
    config = tiny_config("train.sample_grid=16", "train.sample_sampler=gmm", "train.sample_components=3",
                         "train.report=false")
    run, _ = _train(config, tmp_path / "run", tiny_data)
    written = np.asarray(Image.open(tmp_path / "run" / "samples.png"))
    mixture = fitted_sampler(run.model, "gmm", tiny_data.train.x, tiny_data.train.y, 3)
    drawn = {}
    for name, sampler in (("mixture", mixture), ("prior", None)):
        path = save_grid(sample(run.model, 16, seed=config.train.seed, sampler=sampler), tmp_path / f"{name}.png")
        drawn[name] = np.asarray(Image.open(path))
    assert np.array_equal(written, drawn["mixture"])  # the same seeded draws, through the same code
    assert not np.array_equal(written, drawn["prior"])
    assert not (tmp_path / "run" / "report.html").exists()  # train.report=false


def test_the_report_is_written_at_the_end_and_its_path_said(tiny_config, tiny_data, tmp_path):
    config = tiny_config("train.sample_grid=16", "train.sample_sampler=gmm", "train.sample_components=2",
                         "train.report=true")  # the default; the tiny config turns it off
    run, said = _train(config, tmp_path / "run", tiny_data)
    report = tmp_path / "run" / "report.html"
    assert report.is_file() and any(str(report) in line and line.startswith("report: ") for line in said)
    html = report.read_text()
    assert "2-component Gaussian mixture fitted to the training codes" in html  # both sample grids
    assert "draws from the prior" in html


def test_a_report_that_cannot_be_written_is_a_warning_not_a_failed_run(tiny_config, tiny_data, tmp_path, monkeypatch):
    def full_disk(run, *args, **kwargs):
        raise OutputError("cannot write 'report.html' (no space left on the device); free some space")

    monkeypatch.setattr(page, "make_report", full_disk)
    monkeypatch.setattr("vaekit.report.make_report", full_disk)
    run, said = _train(tiny_config("train.report=true"), tmp_path / "run", tiny_data)
    assert run.summary()["status"] == "complete"
    warning = [line for line in said if line.startswith("warning: the report was not written")]
    assert len(warning) == 1 and "no space left" in warning[0] and f"vaekit report {run.path}" in warning[0]


@pytest.mark.parametrize("value", ["0", "-1"])
def test_sample_components_must_be_positive(tiny_config, value):
    with pytest.raises(ValueError, match="train.sample_components must be at least 1"):
        tiny_config(f"train.sample_components={value}")


def test_the_sampler_name_is_checked(tiny_config):
    with pytest.raises(ValueError, match="train.sample_sampler"):
        tiny_config("train.sample_sampler=gmmm")
