"""Training throughput: vaekit's loop against a plain PyTorch loop, same model, same data.

The model is pythae's default MLP VAE (784-512-32, Bernoulli, batch 128) on static binarized
MNIST. The plain loop is what a user writes from the PyTorch example: a TensorDataset and
DataLoader, eager mode, default Adam. vaekit runs its own training loop (`vaekit.train`) with
each precision/compile setting, and a callback runs one plain epoch after each vaekit epoch:
the figure is the median ratio of these back-to-back pairs, after a warm-up epoch (validation
and checkpoints excluded from both timings).

    python bench/throughput.py [--epochs 4] [--data-dir DIR]
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


class PlainLoop:
    """The textbook loop, one epoch per call: a TensorDataset and DataLoader, eager, default Adam."""

    def __init__(self, x: torch.Tensor) -> None:
        torch.manual_seed(0)
        self.model = PlainVAE()
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x), batch_size=128,
                                                  shuffle=True, drop_last=True)

    def epoch(self) -> float:
        """Images per second of one epoch."""
        t, n = time.perf_counter(), 0
        for (xb,) in self.loader:
            self.opt.zero_grad()
            logits, mu, logvar = self.model(xb)
            recon = F.binary_cross_entropy_with_logits(logits, xb, reduction="sum")
            kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
            loss = (recon + kl) / xb.shape[0]
            loss.backward()
            self.opt.step()
            n += xb.shape[0]
        return n / (time.perf_counter() - t)


class Interleave:
    """A vaekit callback: after each vaekit epoch, one plain epoch, so that every pair of
    epochs being compared ran back to back (this machine's speed drifts over minutes)."""

    def __init__(self, plain: PlainLoop) -> None:
        self.plain, self.rates = plain, []

    def on_epoch_end(self, record: dict) -> None:
        self.rates.append((record["images_per_sec"], self.plain.epoch()))


def paired_rates(data, x: torch.Tensor, epochs: int, overrides: list[str]) -> list[tuple[float, float]]:
    """(vaekit, plain) images/s for each epoch after the first (compilation and warm-up)."""
    config = vaekit.load_config(ROOT / "configs" / "pythae_mlp.yaml",
                                [f"train.epochs={epochs}", "train.patience=0", "train.progress=false",
                                 "train.sample_grid=0", "train.device=cpu", *overrides])
    pairs = Interleave(PlainLoop(x))
    with tempfile.TemporaryDirectory() as out:
        vaekit.train(config, out, dataset=data, callbacks=[pairs], log=lambda msg: None)
    return pairs.rates[1:]


from common import ROOT  # noqa: E402

SETTINGS = {
    "vaekit fp32 (defaults)": [],
    "vaekit fp32 + compile": ["train.compile=true"],
    "vaekit bf16 + compile": ["train.precision=bf16", "train.compile=true"],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=4, help="epochs per setting; the first is warm-up")
    ap.add_argument("--data-dir", default=default_data_dir())
    args = ap.parse_args()
    data = vaekit.load_dataset(vaekit.parse_config({"data": {"name": "binarized-mnist", "data_dir": args.data_dir}}).data)
    x = data.train.x.flatten(1)
    rows = ["| vaekit setting | vaekit images/s | plain loop images/s (same epochs) | ratio (median of pairs) |",
            "|---|---|---|---|"]
    for name, overrides in SETTINGS.items():
        pairs = paired_rates(data, x, args.epochs, overrides)
        ratios = [v / p for v, p in pairs]
        v, p, r = (statistics.median(col) for col in (*zip(*pairs), ratios))
        print(f"{name:28s} {v:7.0f} img/s vs plain {p:7.0f} img/s: {r:.2f}x  (pairs {[f'{q:.2f}' for q in ratios]})", flush=True)
        rows.append(f"| {name} | {v:.0f} | {p:.0f} | {r:.2f}x |")
    body = ("## Training throughput (`bench/throughput.py`)\n\n"
            "pythae's default MLP VAE (784-512-32, Bernoulli, batch 128) on static binarized MNIST "
            "(50,000 training images). vaekit's own training loop against the textbook loop (TensorDataset + "
            "DataLoader, eager, default Adam), interleaved epoch by epoch: after each vaekit epoch a callback runs "
            f"one plain epoch, so each compared pair ran back to back. {args.epochs - 1} pairs per setting after "
            "a warm-up epoch; validation and checkpoints are outside both timings. "
            "Target: vaekit at least 1.6x the plain loop.\n\n" + "\n".join(rows))
    write_section("throughput", body)


if __name__ == "__main__":
    main()
