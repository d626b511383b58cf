"""Objectives as plain functions: the ELBO and the importance-weighted bound."""

from vaekit.objectives.elbo import Loss, bits_per_dim, elbo_loss, kl_term
from vaekit.objectives.iwae import iwae_bound, log_likelihood, log_mean_exp
from vaekit.objectives.mmd import mmd

__all__ = ["Loss", "bits_per_dim", "elbo_loss", "iwae_bound", "kl_term", "log_likelihood", "log_mean_exp", "mmd"]
