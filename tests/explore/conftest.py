"""Runs to explore: tiny image (digits), text and table runs, each trained once per session (a few
seconds each); tests/explore_helpers.py has the in-memory runs and the helpers."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

import vaekit
from vaekit.config import load_config

ROOT = Path(__file__).resolve().parents[2]
DIGITS_TINY = ["data.limit=300", "train.epochs=3", "model.latent_dim=4", "model.encoder.hidden=[32]",
               "model.decoder.hidden=[32]", "train.sample_grid=0", "train.progress=false", "train.report=false",
               "train.sample_sampler=prior", "eval.importance_samples=10"]


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory) -> Path:
    """A digits VAE trained for 3 epochs on 300 images: 4 latent dimensions, 10 labels."""
    out = tmp_path_factory.mktemp("explore-runs") / "digits"
    vaekit.train(load_config(ROOT / "configs" / "digits.yaml", DIGITS_TINY), out, log=lambda msg: None)
    return out


@pytest.fixture(scope="session")
def text_run(tmp_path_factory) -> Path:
    from text_helpers import train_text_run

    return train_text_run(tmp_path_factory.mktemp("explore-runs") / "sentences")


@pytest.fixture(scope="session")
def table_run(tmp_path_factory) -> Path:
    from table_helpers import make_table, table_config

    folder = tmp_path_factory.mktemp("explore-runs")
    make_table().to_csv(folder / "people.csv", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the table's id column is left out, with a TableWarning
        vaekit.train(table_config(folder / "people.csv"), folder / "people", log=lambda msg: None)
    return folder / "people"
