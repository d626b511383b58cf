"""A small mixed table and a table run trained on it in a couple of seconds, for the tests of the
table metric group and the table report (conftest.py puts this folder on sys.path)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from vaekit.config import parse_config
from vaekit.run import Run, load_run
from vaekit.train.loop import train

from conftest import TINY


def mixed_table(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """Two correlated numbers, a count, a category that follows the first number, a boolean, and
    a few missing cells: every kind the table metrics score."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    df = pd.DataFrame({"x": x, "y": 2 * x + rng.normal(scale=0.3, size=n), "n": rng.integers(0, 1000, n),
                       "c": np.where(x > 0.5, "hi", np.where(x < -0.5, "lo", "mid")), "b": rng.random(n) < 0.3})
    df.loc[[3, 11, 17], "y"] = np.nan
    return df


def train_table_run(folder: Path, *overrides: str, epochs: int = 2) -> Run:
    """A tiny VAE trained on `mixed_table()` written as folder/t.csv; the run is folder/run."""
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / "t.csv"
    mixed_table().to_csv(csv, index=False)
    config = parse_config({}, [*TINY, "data.name=table", f"data.path={csv}", f"train.epochs={epochs}", *overrides])
    train(config, folder / "run", log=lambda msg: None)
    return load_run(folder / "run")
