"""The speed floor of bench/tabular.py: a plain PyTorch VAE of the same sizes as a vaekit table run.

The least any eager PyTorch VAE of those sizes can spend on an epoch: the encoder and decoder
MLPs of the run (same input width, hidden layers, code size and decoder outputs), a squared error
on the inputs as its whole likelihood (no per-column terms), the analytic KL, fused Adam, and
batches sliced from one in-memory tensor; no validation, metrics or guard. At a batch of 500 on
a small CPU such a step is bound by per-operator overhead, not by its matrix products, so this
floor bounds the speed-up over TVAE that any eager implementation of the same networks can show.
"""

from __future__ import annotations

import time

import torch


def linear_sizes(module: torch.nn.Module) -> list[tuple[int, int]]:
    """(in, out) of each nn.Linear in `module`, in order."""
    return [(m.in_features, m.out_features) for m in module.modules() if isinstance(m, torch.nn.Linear)]


def mlp(sizes: list[int]) -> torch.nn.Sequential:
    """Linear layers through `sizes`, ReLU between them: plain torch.nn, not vaekit.nn's MLP, so that
    the floor carries none of vaekit's own code."""
    layers: list[torch.nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers += [torch.nn.Linear(a, b)] + ([torch.nn.ReLU()] if i < len(sizes) - 2 else [])
    return torch.nn.Sequential(*layers)


class PlainVAE(torch.nn.Module):
    """An encoder to (mu, log-variance) and a decoder, plain MLPs; `loss(x)` is the negative ELBO
    of a unit-variance Gaussian on x (the decoder's first x.shape[1] outputs) and N(0, I) prior."""

    def __init__(self, inputs: int, hidden: list[int], latent: int, outputs: int) -> None:
        super().__init__()
        if outputs < inputs:
            raise ValueError(f"the decoder has {outputs} outputs, fewer than the {inputs} inputs it reconstructs")
        self.inputs = inputs
        self.encoder = mlp([inputs, *hidden, 2 * latent])
        self.decoder = mlp([latent, *hidden[::-1], outputs])

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        mu, logvar = self.encoder(x).chunk(2, -1)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        recon = self.decoder(z)[:, : self.inputs]
        nll = 0.5 * ((recon - x) ** 2).sum(-1)
        kl = 0.5 * (mu * mu + logvar.exp() - 1.0 - logvar).sum(-1)
        return (nll + kl).mean()


def like_run(model: torch.nn.Module) -> PlainVAE:
    """A PlainVAE with the layer sizes of a vaekit MLP VAE `model` (its encoder and decoder)."""
    enc, dec = linear_sizes(model.encoder), linear_sizes(model.decoder)
    if not enc or not dec or enc[-1][1] % 2:
        raise ValueError("like_run wants an MLP encoder to (mu, log-variance) and an MLP decoder")
    return PlainVAE(enc[0][0], [o for _, o in enc[:-1]], enc[-1][1] // 2, dec[-1][1])


def epoch_seconds(vae: PlainVAE, rows: int, batch_size: int, epochs: int, seed: int = 0) -> list[float]:
    """Each epoch's seconds of training `vae` on `rows` random rows, whole batches only (as vaekit
    drops a last partial batch), with fused Adam at 1e-3."""
    if rows < 1 or batch_size < 1 or epochs < 1:
        raise ValueError(f"epoch_seconds wants at least one row, batch size and epoch, got {rows}, {batch_size}, {epochs}")
    torch.manual_seed(seed)
    x = torch.randn(rows, vae.inputs)
    params = list(vae.parameters())
    try:
        opt = torch.optim.Adam(params, lr=1e-3, fused=True)
    except (RuntimeError, TypeError):
        opt = torch.optim.Adam(params, lr=1e-3, foreach=True)
    seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        order = torch.randperm(rows)
        for i in range(0, rows - rows % batch_size or rows, batch_size):  # fewer rows than a batch: one batch
            opt.zero_grad(set_to_none=True)
            vae.loss(x[order[i : i + batch_size]]).backward()
            opt.step()
        seconds.append(time.perf_counter() - start)
    return seconds
