"""Training throughput: vaekit's loop against a plain PyTorch loop, same model, same data.

The model is pythae's default MLP VAE (784-512-32, Bernoulli, batch 128) on static binarized
MNIST. The plain loop is what a user writes from the PyTorch example: a TensorDataset and
DataLoader, eager mode, default Adam. vaekit runs its own training loop (`vaekit.train`) with
each precision/compile setting. Both are measured in the same process, interleaved, and the
figure is images per second over whole training epochs after a warm-up epoch (validation and
checkpoints excluded from both).

    python bench/throughput.py [--epochs 3] [--rounds 2] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F
from torch import nn

import vaekit
from common import default_data_dir, write_section


class PlainVAE(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 64))
        self.dec = nn.Sequential(nn.Linear(32, 512), nn.ReLU(), nn.Linear(512, 784))

    def forward(self, x):
        mu, logvar = self.enc(x).chunk(2, dim=-1)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.dec(z), mu, logvar


def plain_loop(x: torch.Tensor, epochs: int) -> list[float]:
    """Images/s of each epoch of the textbook loop."""
    torch.manual_seed(0)
    model = PlainVAE()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x), batch_size=128, shuffle=True, drop_last=True)
    rates = []
    for _ in range(epochs):
        t, n = time.perf_counter(), 0
        for (xb,) in loader:
            opt.zero_grad()
            logits, mu, logvar = model(xb)
            recon = F.binary_cross_entropy_with_logits(logits, xb, reduction="sum")
            kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
            loss = (recon + kl) / xb.shape[0]
            loss.backward()
            opt.step()
            n += xb.shape[0]
        rates.append(n / (time.perf_counter() - t))
    return rates


def vaekit_loop(data, epochs: int, overrides: list[str]) -> list[float]:
    """Images/s of each epoch of vaekit's training loop, read from its metrics.jsonl."""
    config = vaekit.load_config(ROOT / "configs" / "pythae_mlp.yaml",
                                [f"train.epochs={epochs}", "train.patience=0", "train.progress=false",
                                 "train.sample_grid=0", "train.device=cpu", *overrides])
    with tempfile.TemporaryDirectory() as out:
        run = vaekit.train(config, out, dataset=data, log=lambda msg: None)
        return [m["images_per_sec"] for m in run.metrics()]


from common import ROOT  # noqa: E402

SETTINGS = {
    "vaekit fp32 (defaults)": [],
    "vaekit fp32 + compile": ["train.compile=true"],
    "vaekit bf16 + compile": ["train.precision=bf16", "train.compile=true"],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=3, help="epochs per measurement; the first is warm-up")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds of all loops")
    ap.add_argument("--data-dir", default=default_data_dir())
    args = ap.parse_args()
    data = vaekit.load_dataset(vaekit.parse_config({"data": {"name": "binarized-mnist", "data_dir": args.data_dir}}).data)
    x = data.train.x.flatten(1)
    results: dict[str, list[float]] = {"plain PyTorch loop (eager, default Adam)": [], **{k: [] for k in SETTINGS}}
    for r in range(args.rounds):
        rates = plain_loop(x, args.epochs)[1:]
        results["plain PyTorch loop (eager, default Adam)"] += rates
        print(f"round {r + 1}: plain {statistics.median(rates):.0f} img/s", flush=True)
        for name, overrides in SETTINGS.items():
            rates = vaekit_loop(data, args.epochs, overrides)[1:]
            results[name] += rates
            print(f"round {r + 1}: {name} {statistics.median(rates):.0f} img/s", flush=True)
    base = statistics.median(results["plain PyTorch loop (eager, default Adam)"])
    rows = ["| loop | images/s (median over epochs) | vs plain loop |", "|---|---|---|"]
    for name, rates in results.items():
        med = statistics.median(rates)
        rows.append(f"| {name} | {med:.0f} | {med / base:.2f}x |")
        print(f"{name:45s} {med:8.0f} img/s  {med / base:.2f}x")
    body = ("## Training throughput (`bench/throughput.py`)\n\n"
            "pythae's default MLP VAE (784-512-32, Bernoulli, batch 128) on static binarized MNIST "
            f"(50,000 training images), {args.epochs - 1} timed epochs after one warm-up epoch, "
            f"{args.rounds} interleaved rounds. Target: vaekit at least 1.6x the plain loop.\n\n" + "\n".join(rows))
    write_section("throughput", body)


if __name__ == "__main__":
    main()
