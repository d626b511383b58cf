"""Distributions as small classes sharing one base (`Distribution`): the Gaussian and point-mass
posteriors, priors and likelihoods."""

from vaekit.distributions import likelihoods, mixed, mixtures, priors, tokens  # noqa: F401  (registers them)
from vaekit.distributions.base import Distribution, PointMass
from vaekit.distributions.gaussian import LOG_2PI, DiagonalGaussian
from vaekit.distributions.likelihoods import Bernoulli, BernoulliConfig, Gaussian, GaussianConfig, Likelihood
from vaekit.distributions.mixed import MixedConfig, MixedLikelihood
from vaekit.distributions.mixtures import GaussianMixture, VampPrior
from vaekit.distributions.priors import Prior, StandardNormal
from vaekit.distributions.tokens import Tokens, TokensConfig, TokenSequence

__all__ = [
    "LOG_2PI",
    "Bernoulli",
    "BernoulliConfig",
    "DiagonalGaussian",
    "Distribution",
    "Gaussian",
    "GaussianMixture",
    "GaussianConfig",
    "Likelihood",
    "MixedConfig",
    "MixedLikelihood",
    "PointMass",
    "Prior",
    "StandardNormal",
    "TokenSequence",
    "Tokens",
    "TokensConfig",
    "VampPrior",
]
