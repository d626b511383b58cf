"""Greedy generation of text: the incremental decoder (one position per step, from the RNN's
hidden state or the Transformer's cache of keys and values) against re-reading the whole prefix
at every step (the path of a decoder without `start`/`step`, and the only one before them).

An untrained decoder (vocabulary 10,000, hidden 256, embedding 256, latent 32) greedily decodes
1,000 codes to max_length 64. It almost never says <eos>, so every sequence runs to max_length:
the worst case, and the same number of steps on both paths, which must give the same ids (checked).
Each figure is the median of --repeats timed runs after one warm-up run; run it alone on the
machine, as other processes inflate the timings.

    python bench/text_generation.py [--n 1000] [--max-length 64] [--repeats 5] [--network rnn]
                                    [--paths incremental,prefix] [--device cpu] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import vaekit.components  # noqa: F401  (registers the networks)
from common import machine
from vaekit.config import parse_config
from vaekit.distributions.tokens import Tokens, TokensConfig
from vaekit.registry import NETWORKS

NETWORK = {"rnn": {"name": "rnn", "embedding_size": 256, "hidden_size": 256},
           "transformer": {"name": "transformer", "d_model": 256, "heads": 4, "layers": 2, "ff_size": 1024}}


class PrefixOnly:
    """The bound decoder with step_logits alone: the likelihood then re-reads the prefix."""

    def __init__(self, bound) -> None:
        self.bound = bound
        self.lead_shape, self.word_dropout, self.device = bound.lead_shape, bound.word_dropout, bound.device

    def step_logits(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.bound.step_logits(inputs)


def timed(dist, device: torch.device, repeats: int) -> tuple[list[float], torch.Tensor]:
    """Seconds of each of `repeats` greedy decodings after one warm-up, and the ids."""
    ids, _ = dist.greedy()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        ids, _ = dist.greedy()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return times, ids


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--max-length", type=int, default=64)
    ap.add_argument("--vocab", type=int, default=10_000)
    ap.add_argument("--latent", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--network", choices=sorted(NETWORK), default="rnn")
    ap.add_argument("--paths", default="incremental,prefix")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch threads on the CPU (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    raw = {**NETWORK[args.network], "vocab_size": args.vocab}
    torch.manual_seed(0)
    decoder = NETWORKS.get(args.network).decoder(parse_config({"model": {"decoder": raw}}).model.decoder,
                                                 args.latent, (args.vocab,)).to(device).eval()
    likelihood = Tokens(TokensConfig(vocab_size=args.vocab, max_length=args.max_length), (args.max_length,)).to(device)
    bound = decoder(torch.randn(args.n, args.latent, generator=torch.Generator().manual_seed(1)).to(device))
    print(f"{args.network}: greedy decoding of {args.n} codes to max_length {args.max_length}, vocabulary "
          f"{args.vocab}, {args.repeats} runs after a warm-up; {machine()}, device {device}")
    results = {}
    for path in args.paths.split(","):
        dist = likelihood(bound if path == "incremental" else PrefixOnly(bound))
        if path == "incremental" and getattr(dist, "incremental", None) is None:
            raise SystemExit("this vaekit has no incremental decoding: run --paths prefix")
        times, ids = timed(dist, device, args.repeats)
        results[path] = (statistics.median(times), ids)
        steps = int((ids != 0).sum(-1).max())
        print(f"  {path:12s} median {results[path][0]:8.3f} s  (runs: {', '.join(f'{t:.3f}' for t in times)}; "
              f"{steps} steps, mean length {(ids != 0).sum(-1).float().mean():.1f})")
    if len(results) == 2:
        (a, ids_a), (b, ids_b) = results.values()
        print(f"  speed-up {b / a:.1f}x; same ids on both paths: {torch.equal(ids_a, ids_b)}")


if __name__ == "__main__":
    main()
