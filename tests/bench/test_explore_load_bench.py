"""bench/explore_load.py: its load generator against a served explorer (every client's every
decode answered, counted and timed), its percentiles against numpy's, and its table."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from bench_helpers import bench_modules  # noqa: E402
from explore_helpers import memory_run  # noqa: E402


@pytest.fixture(scope="module")
def bench():
    with bench_modules("explore_load") as m:
        yield m[0]


def test_load_times_every_decode_of_every_client(bench, tmp_path):
    from vaekit.explore.app import create_app
    from vaekit.explore.server import background

    run = memory_run("vae", tmp_path / "run", latent_dim=3)
    with background(create_app(run)) as url:
        latencies, wall = bench.load(url, dim=3, clients=3, per_client=4, seed=0)
        assert len(latencies) == 12 and all(0 < t <= wall for t in latencies)
        with pytest.raises(SystemExit, match="decodes failed"):  # a code of the wrong length: each reply a 400
            bench.load(url, dim=2, clients=2, per_client=1, seed=0)


def test_percentile_and_table(bench):
    values = [0.004, 0.001, 0.003, 0.002]
    assert bench.percentile(values, 50) == pytest.approx(float(np.median(values)))
    rows = [{"model": "m", "clients": 1, "requests": 4, "p50_ms": 12.0, "p99_ms": 20.0, "mean_ms": 13.0, "rps": 80.0},
            {"model": "m", "clients": 8, "requests": 8, "p50_ms": 60.0, "p99_ms": 90.0, "mean_ms": 61.0, "rps": 120.0}]
    table = bench.render(rows, SimpleNamespace())
    assert "| m | 1 | 4 | 12.0 | 20.0 | 13.0 | 80 | yes |" in table
    assert "| m | 8 | 8 | 60.0 | 90.0 | 61.0 | 120 |  |" in table  # the target judges one client alone
