"""Evaluation: ELBO, importance-sampled NLL, latent statistics, reconstruction fidelity,
disentanglement and the runner."""

from vaekit.evaluate.disentangle import factorvae_score, mig
from vaekit.evaluate.elbo import elbo_stats
from vaekit.evaluate.fidelity import reconstruction_errors, ssim
from vaekit.evaluate.latents import (
    active_dims,
    active_units,
    collapse_warning,
    kl_per_dim,
    mutual_information,
    posterior_moments,
)
from vaekit.evaluate.nll import importance_nll
from vaekit.evaluate.runner import evaluate

__all__ = [
    "active_dims", "active_units", "collapse_warning", "elbo_stats", "evaluate", "factorvae_score", "importance_nll", "kl_per_dim", "mig",
    "mutual_information", "posterior_moments", "reconstruction_errors", "ssim",
]
