"""Distributions as small classes: the Gaussian posterior, priors and likelihoods."""

from vaekit.distributions import likelihoods, mixtures, priors  # noqa: F401  (registers them)
from vaekit.distributions.gaussian import LOG_2PI, DiagonalGaussian
from vaekit.distributions.likelihoods import Bernoulli, BernoulliConfig, Gaussian, GaussianConfig, Likelihood
from vaekit.distributions.mixtures import GaussianMixture, VampPrior
from vaekit.distributions.priors import Prior, StandardNormal

__all__ = [
    "LOG_2PI",
    "Bernoulli",
    "BernoulliConfig",
    "DiagonalGaussian",
    "Gaussian",
    "GaussianMixture",
    "GaussianConfig",
    "Likelihood",
    "Prior",
    "StandardNormal",
    "VampPrior",
]
