"""Latent-space statistics: active units, KL per dimension, the mutual information I(x; z) and a
plain-language collapse warning, from the posterior moments of a split (`posterior_moments`)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch

# Encoding a data set is sampling-layer work (`vaekit.encode`); the statistics here start from it.
from vaekit.sample.posterior import posterior_moments  # noqa: F401 (vaekit.evaluate.posterior_moments)


def active_units(mu: torch.Tensor, threshold: float = 0.01) -> tuple[int, torch.Tensor]:
    """Active units (Burda et al. 2016): dimensions u with Cov_x(E_q[u | x]) > threshold.

    Returns the count and the per-dimension variance of the posterior means, (D,).
    """
    var = mu.double().var(dim=0, unbiased=True) if mu.shape[0] > 1 else torch.zeros(mu.shape[1], dtype=torch.float64)
    return int((var > threshold).sum()), var


def active_dims(mu: torch.Tensor, threshold: float = 0.01) -> list[int]:
    """The active dimensions themselves, in order: the ones `active_units` counts."""
    _, var = active_units(mu, threshold)
    return torch.nonzero(var > threshold).flatten().tolist()


def kl_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Mean over examples of KL(N(mu_d, exp(logvar_d)) || N(0, 1)) for each latent dimension d:
    (D,) float64, in nats.

    The reference is always the standard normal, whatever the model's prior: for a learned prior
    (a mixture, a VampPrior) this is not the model's KL term but the usual "rate per dimension"
    diagnostic, which still shows which dimensions carry information.
    """
    mu, logvar = mu.double(), logvar.double()
    return (0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)).mean(dim=0)


@torch.no_grad()
def mutual_information(mu: torch.Tensor, logvar: torch.Tensor, num_samples: int = 1,
                       generator: torch.Generator | None = None, chunk_rows: int = 0) -> float:
    """I(x; z) in nats under the aggregate posterior, as in He et al. 2019, "Lagging inference
    networks and posterior collapse", https://arxiv.org/abs/1901.05534:

        I = E_x[-H(q(z|x))] - E_{x, z ~ q(z|x)}[log q(z)],   q(z) = (1/N) sum_n q(z|x_n)

    over the N examples given by their posterior moments (N, D), averaged over `num_samples`
    draws z ~ q(z|x) per example. Both terms are estimated on the same draws, as
    E[log q(z|x) - log q(z)]: this has the same expectation as He et al.'s analytic entropy, but
    far less noise, since the draws' noise cancels; it is 0 (up to rounding) when every posterior
    is the same (collapse) and never above log N, its value for posteriors that never overlap.
    Near 0 the estimate can come out slightly negative (-0.004, say), which I(x; z) never is:
    report `max(0, estimate)`, as `vaekit evaluate` does, keeping the raw estimate beside it.
    `chunk_rows` draws at a time are scored against all N components (0: about 64 MiB a chunk).
    """
    if mu.shape != logvar.shape or mu.ndim != 2 or len(mu) == 0:
        raise ValueError(f"mu and logvar must be (N, D) of the same shape, got {tuple(mu.shape)} and {tuple(logvar.shape)}")
    if num_samples < 1:
        raise ValueError(f"num_samples must be at least 1, got {num_samples}")
    # float64 throughout: the expansion below subtracts large terms when posteriors are narrow.
    mu, logvar = mu.double().cpu(), logvar.double().cpu()
    n, d = mu.shape
    eps = torch.randn((num_samples, n, d), generator=generator, dtype=torch.float64)
    z = (mu + (0.5 * logvar).exp() * eps).reshape(-1, d)  # (S*N, D), draw s of example i at row s*N + i
    log_own = (-0.5 * (eps.pow(2).sum(dim=2) + logvar.sum(dim=1) + d * math.log(2 * math.pi))).reshape(-1)  # log q(z|x)
    # log q(z_m | x_n) = -0.5 sum_d (z_md - mu_nd)^2 / var_nd + const_n, expanded into one matmul
    # [-z^2/2, z] @ [1/var, mu/var]^T so that a chunk costs (rows, N) memory, not (rows, N, D).
    prec = (-logvar).exp()  # (N, D)
    const = -0.5 * ((mu.pow(2) * prec).sum(dim=1) + logvar.sum(dim=1) + d * math.log(2 * math.pi))  # (N,)
    weights = torch.cat([prec, mu * prec], dim=1).T  # (2D, N)
    rows = chunk_rows or max(1, (64 << 20) // (8 * n))
    total = 0.0
    for start in range(0, len(z), rows):
        zc = z[start : start + rows]  # (M, D)
        log_density = torch.addmm(const, torch.cat([-0.5 * zc.pow(2), zc], dim=1), weights)  # (M, N)
        log_qz = torch.logsumexp(log_density, dim=1) - math.log(n)  # (M,): the aggregate posterior
        total += float((log_own[start : start + rows] - log_qz).sum())
    return total / len(z)


# Below this many nats of I(x; z) the code tells the decoder next to nothing about the input.
MI_COLLAPSED = 0.05


def collapse_warning(active_units: int | Sequence[int], latent_dim: int, mutual_info: float,
                     kl_per_dim: torch.Tensor | list[float]) -> str | None:
    """A plain-language warning when the posterior has collapsed (no active unit, or I(x; z) below
    MI_COLLAPSED nats), a milder note when most units are inactive, and None when the latent
    space is healthy.

    `active_units` is the list of active dimensions (`active_dims`), so that the count and the
    dimensions named come from the same set; a bare count names the dimensions of largest KL.
    """
    kl = torch.as_tensor(kl_per_dim, dtype=torch.float64)
    if isinstance(active_units, numbers.Integral):  # int, numpy integers
        dims = sorted(torch.argsort(kl, descending=True, stable=True)[:active_units].tolist())
    else:
        dims = sorted(int(d) for d in active_units)
    active_units = len(dims)
    remedies = ("KL warm-up (objective.warmup_epochs=10) or cyclical annealing (objective.cycles=4), free bits "
                "(objective.free_bits=0.5), aggressive encoder training (train.aggressive=true) or a weaker decoder "
                "(fewer or narrower layers)")
    if active_units == 0 or mutual_info < MI_COLLAPSED:
        return (f"posterior collapse: the codes barely depend on the input ({active_units} of {latent_dim} latent "
                f"units active, I(x;z) = {mutual_info:.3f} nats, KL {float(kl.sum()):.3f} nats), so the decoder "
                f"ignores z and reconstructions look alike. Retrain with {remedies}.")
    if active_units < latent_dim / 2:
        return (f"only {active_units} of {latent_dim} latent units are active (dimensions {', '.join(map(str, dims))}; "
                f"I(x;z) = {mutual_info:.2f} nats); the rest carry nothing. That is fine if the reconstructions are "
                f"good; to use more of them, try {remedies}.")
    return None


def few_active_warning(active: Sequence[int], latent_dim: int, data_dims: int | None = None) -> str | None:
    """What training says at its end when fewer than half of the latent units are active on the
    validation split (`active`, from `active_dims`), with the fixes; None otherwise. Data of
    `data_dims` < latent_dim dimensions (a 3-column table) need no more than that many units."""
    if len(active) >= min(latent_dim, data_dims or latent_dim) / 2:
        return None
    fixes = ("train longer (train.epochs), or add KL warm-up (objective.warmup_epochs=10), free bits "
             "(objective.free_bits=0.5) or aggressive encoder training (train.aggressive=true)")
    if not active:
        return (f"no latent unit is active on the validation split (0 of {latent_dim}): the posterior has collapsed "
                f"and the decoder ignores z; {fixes}")
    return (f"only {len(active)} of {latent_dim} latent units are active on the validation split (dimensions "
            f"{', '.join(map(str, active))}); to use more, {fixes}")
