"""A small mixed table with missing cells and a small config for it, for the table tests
(conftest.py puts this folder on sys.path)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import vaekit


def make_table(n: int = 400, seed: int = 0, missing: float = 0.1) -> pd.DataFrame:
    """Ages next to incomes in the tens of thousands (a scale gap that once drove training to NaN),
    a text category tied to the income, true/false, a whole-number count, row ids, and `missing`
    of the cells of three columns left empty."""
    rng = np.random.default_rng(seed)
    city = rng.choice(["Paris", "Lyon", "Nice"], size=n, p=[0.5, 0.3, 0.2])
    income = np.where(city == "Paris", 62_000.0, 38_000.0) + rng.normal(0, 6_000, n)
    df = pd.DataFrame({
        "id": np.arange(1, n + 1),
        "age": rng.integers(18, 80, n),
        "income": income.round(2),
        "city": city,
        "owner": rng.random(n) < 0.4,
        "children": rng.poisson(1.5, n) + 30 * (rng.random(n) < 0.05),
    })
    for column in ("age", "income", "city"):
        df.loc[rng.random(n) < missing, column] = np.nan
    return df


def table_config(path: Path, **model) -> vaekit.Config:
    return vaekit.parse_config({
        "data": {"name": "table", "path": str(path)},
        "model": {"name": "vae", "latent_dim": 4, "encoder": {"name": "mlp", "hidden": [32]},
                  "decoder": {"name": "mlp", "hidden": [32]}, **model},
        "train": {"epochs": 3, "batch_size": 64, "report": False, "sample_grid": 0, "seed": 0},
    })
