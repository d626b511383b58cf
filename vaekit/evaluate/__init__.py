"""Evaluation: ELBO, importance-sampled NLL, latent statistics and the runner."""

from vaekit.evaluate.elbo import elbo_stats
from vaekit.evaluate.latents import active_units, posterior_moments
from vaekit.evaluate.nll import importance_nll
from vaekit.evaluate.runner import evaluate

__all__ = ["active_units", "elbo_stats", "evaluate", "importance_nll", "posterior_moments"]
