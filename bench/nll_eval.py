"""Speed of the importance-sampled NLL as a fraction of this machine's fp32 matmul peak.

Evaluates pythae's default MLP VAE (784-512-32, Bernoulli) with `vaekit.evaluate.importance_nll`
on binarized-MNIST-shaped data and counts the model's matmul FLOPs (encoder once per data point
and chunk, decoder once per sample); the peak is the best n x n fp32 matmul measured in the same
run. The weights are random: the cost does not depend on them.

    python bench/nll_eval.py [--examples 200] [-k 5000]
"""

from __future__ import annotations

import argparse
import time

import torch

from common import matmul_peak, write_section
from vaekit.config import parse_config
from vaekit.evaluate.nll import auto_chunk, decoder_numbers, importance_nll
from vaekit.models import build_model

TARGET = 0.5


def linear_flops(module: torch.nn.Module) -> int:
    """FLOPs of one pass of every nn.Linear in `module` for a single row."""
    return sum(2 * m.in_features * m.out_features for m in module.modules() if isinstance(m, torch.nn.Linear))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=200)
    ap.add_argument("-k", "--importance-samples", type=int, default=5000)
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.manual_seed(0)
    cfg = parse_config({"model": {"latent_dim": 32, "encoder": {"hidden": [512]}, "decoder": {"hidden": [512]}}})
    model = build_model(cfg.model, (1, 28, 28)).eval()
    x = torch.bernoulli(torch.full((args.examples, 1, 28, 28), 0.13))
    k, b = args.importance_samples, args.batch_size
    chunk = auto_chunk(k, b, decoder_numbers(model))
    chunks_per_batch = -(-k // chunk)
    flops = args.examples * (k * linear_flops(model.decoder) + chunks_per_batch * linear_flops(model.encoder))
    importance_nll(model, x[:b], min(k, 2 * chunk), b)  # warm-up
    peaks, times = [], []
    for _ in range(args.repeats):  # interleaved, so both see the same machine state
        peaks.append(matmul_peak())
        t = time.perf_counter()
        importance_nll(model, x, k, b)
        times.append(time.perf_counter() - t)
    peak, best = max(peaks), min(times)
    achieved = flops / best
    frac = achieved / peak
    print(f"peak {peak / 1e9:.1f} GFLOP/s; NLL eval {achieved / 1e9:.1f} GFLOP/s = {frac:.1%} of peak; "
          f"{args.examples * k / best:,.0f} samples/s; {args.examples / best:.1f} images/s at K={k}")
    body = f"""## Importance-sampled NLL speed (`bench/nll_eval.py`)

pythae's MLP VAE (784-512-32, Bernoulli), K={k}, {args.examples} images in batches of {b}, chunks of
{chunk} samples (fp32 throughout). Model FLOPs counted: every linear layer of the decoder per sample,
of the encoder per data point and chunk. Best of {args.repeats} interleaved repeats.

| figure | value |
|---|---|
| fp32 matmul peak (2048x2048, same run) | {peak / 1e9:.1f} GFLOP/s |
| NLL evaluation | {achieved / 1e9:.1f} GFLOP/s |
| fraction of peak | **{frac:.1%}** (target at least {TARGET:.0%}: {"met" if frac >= TARGET else "NOT met"}) |
| throughput | {args.examples / best:.1f} test images/s at K={k} |"""
    write_section("nll_eval", body)


if __name__ == "__main__":
    main()
