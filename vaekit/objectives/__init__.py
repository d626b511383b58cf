"""Objectives as plain functions: the one reduction of a family's terms, the ELBO's units and
the importance-weighted bound."""

from vaekit.objectives.elbo import Loss, bits_per_dim
from vaekit.objectives.iwae import iwae_bound, log_likelihood, log_mean_exp
from vaekit.objectives.mmd import mmd
from vaekit.objectives.reduce import Weights, family_loss, kl_penalty, reduce

__all__ = ["Loss", "Weights", "bits_per_dim", "family_loss", "iwae_bound", "kl_penalty", "log_likelihood", "log_mean_exp", "mmd", "reduce"]
