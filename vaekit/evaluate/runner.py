"""`evaluate(run)`: the figures papers report, on one split, written to eval_SPLIT.json."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from vaekit.data.load import limit as limit_split
from vaekit.errors import ConfigError
from vaekit.evaluate.elbo import elbo_stats
from vaekit.evaluate.latents import active_units, posterior_moments
from vaekit.evaluate.nll import importance_nll, mean_and_stderr
from vaekit.run import Run
from vaekit.train.checkpoint import write_json


def evaluate(run: Run, split: str | None = None, importance_samples: int | None = None, *,
             batch_size: int | None = None, chunk_size: int | None = None, limit: int | None = None,
             seed: int = 0, write: bool = True) -> dict[str, Any]:
    """ELBO, reconstruction term, KL, importance-sampled NLL (nats and bits/dim) and active units.

    Defaults come from the run's `eval` config (split 'test', K = 5000). `limit` evaluates only
    the first examples (quick checks: not a test-set figure). Writes `eval_SPLIT.json`.
    """
    ec = run.config.eval
    split = split or ec.split
    k = importance_samples if importance_samples is not None else ec.importance_samples
    if k < 1:
        raise ConfigError(f"importance samples must be at least 1, got {k}")
    data = run.dataset().split(split)
    x, y = data.x, data.y
    if limit is not None:
        if limit < 1:
            raise ConfigError(f"limit must be at least 1, got {limit}")
        # A seeded random subset, not a prefix: file order is not random (the first 1,000
        # binarized-MNIST test images are harder than the rest).
        sub = limit_split(data, limit, np.random.default_rng(seed))
        x, y = sub.x, sub.y
    model = run.model
    dims = model.num_dims
    t0 = time.perf_counter()
    elbo = elbo_stats(model, x, run.config.train.eval_batch_size, seed=seed, y=y)
    batch_size = ec.batch_size if batch_size is None else batch_size
    chunk_size = ec.chunk_size if chunk_size is None else chunk_size
    if batch_size < 1 or chunk_size < 0:
        raise ConfigError(f"batch size must be at least 1 and chunk size at least 0, got {batch_size} and {chunk_size}")
    nll_values = importance_nll(model, x, k, batch_size, chunk_size, seed=seed, y=y)
    nll, nll_se = mean_and_stderr(nll_values)
    mu, _ = posterior_moments(model, x, run.config.train.eval_batch_size, y)
    au, _ = active_units(mu, ec.active_units_threshold)
    result = {
        "split": split,
        "num_examples": len(x),
        "importance_samples": k,
        "elbo": elbo["elbo"],
        "elbo_stderr": elbo["elbo_stderr"],
        "recon": elbo["recon"],
        "kl": elbo["kl"],
        "nll": nll,
        "nll_stderr": nll_se,
        "nll_nats_per_dim": nll / dims,
        "nll_bits_per_dim": nll / (dims * math.log(2)),
        "active_units": au,
        "latent_dim": int(mu.shape[1]),
        "num_dims": dims,
        "seconds": time.perf_counter() - t0,
    }
    if write:
        write_json(run.path / f"eval_{split}.json", result)
    return result
