"""The numerics of a continuous table column, on standardised values z (plain numpy; the fitted
parameters are plain lists of floats, so a run's codec is JSON):

- mode-specific normalisation (TVAE, Xu et al. 2019, https://arxiv.org/abs/1907.00503): a
  Bayesian Gaussian mixture (sklearn, seeded), a value coded as [alpha, one-hot of its mode];
- quantiles: through the training quantiles to a standard normal, as sklearn's
  QuantileTransformer(output_distribution="normal") does.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

MAX_MODES = 10  # TVAE's default
WEIGHT_THRESHOLD = 0.005  # TVAE's default: lighter components are dropped
MODE_SPREAD = 4.0  # alpha = (z - mu) / (4 sigma), as TVAE: most of a mode lies in [-1, 1]
# The mixture is fitted on a seeded subsample of at most this many values: ample for a 1-D mixture of
# at most 10 modes, and ~0.5 s a column where 20,000 took ~10 s (diamonds' carat). Every value, not
# only the subsample, is checked to lie near a mode (ALPHA_LIMIT).
MODE_FIT_ROWS = 5_000
# A training value more than 2 x 4 = 8 standard deviations from its mode is explained by none of the kept
# modes (a dropped light mode, a spike's outliers): a broad mode spanning the training range is added, so
# alpha stays O(1) (TVAE clips alpha to [-1, 1] instead, which loses those values).
ALPHA_LIMIT = 2.0
SIGMA_FLOOR = 1e-3  # in standardised units: the sqrt of sklearn's reg_covar, for a mode on one value
QUANTILES = 1000  # sklearn's default n_quantiles
QUANTILE_BOUND = 1e-7  # sklearn's: probabilities clipped to [1e-7, 1 - 1e-7] before the normal ppf


def fit_modes(z: np.ndarray, max_modes: int, weight_threshold: float, seed: int) -> dict[str, Any]:
    """{"means", "stds", "weights"} of the kept modes of `z` (n,), sorted by mean."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import BayesianGaussianMixture

    rng = np.random.default_rng(seed)
    sample = z if len(z) <= MODE_FIT_ROWS else rng.choice(z, MODE_FIT_ROWS, replace=False)
    components = min(max_modes, len(np.unique(sample)))
    if components < 2:  # one mode: one value (a floor-wide spike), or max_modes=1 (the values' own spread)
        means, stds, weights = np.array([z.mean()]), np.array([max(z.std(), SIGMA_FLOOR)]), np.ones(1)
    else:
        gmm = BayesianGaussianMixture(n_components=components, weight_concentration_prior_type="dirichlet_process",
                                      weight_concentration_prior=0.001, n_init=1, random_state=seed)
        with warnings.catch_warnings():  # a mixture that has not converged in 100 steps still codes the values
            warnings.simplefilter("ignore", ConvergenceWarning)
            gmm.fit(sample.reshape(-1, 1))
        keep = gmm.weights_ > weight_threshold
        keep[np.argmax(gmm.weights_)] = True
        means, weights = gmm.means_[keep, 0], gmm.weights_[keep]
        stds = np.maximum(np.sqrt(gmm.covariances_[keep, 0, 0]), SIGMA_FLOOR)
    means, stds, weights = _cover(z, means, stds, weights, max_modes, weight_threshold)
    order = np.argsort(means)  # modes by position, for a readable codec
    return {"means": means[order].tolist(), "stds": stds[order].tolist(),
            "weights": (weights[order] / weights.sum()).tolist()}


def _cover(z: np.ndarray, means: np.ndarray, stds: np.ndarray, weights: np.ndarray, max_modes: int,
           weight_threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The modes, with a broad one spanning the training range added when some training value lies
    beyond ALPHA_LIMIT of its mode (values of a dropped light mode, a tail no mode explains)."""
    _, alpha = mode_codes(z, means, stds, weights / weights.sum())
    if np.abs(alpha).max() <= ALPHA_LIMIT:
        return means, stds, weights
    if len(means) == max_modes:  # stay within max_modes: the lightest mode gives way
        means, stds, weights = (np.delete(a, np.argmin(weights)) for a in (means, stds, weights))
    return (np.append(means, (z.min() + z.max()) / 2),
            np.append(stds, max((z.max() - z.min()) / (2 * MODE_SPREAD), SIGMA_FLOOR)),  # |alpha| <= 1 inside
            np.append(weights, max(1.0 - weights.sum(), weight_threshold)))


def mode_codes(z: np.ndarray, mu: np.ndarray, sigma: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each value's mode (the highest weight x density) and its alpha = (z - mu_k) / (4 sigma_k); (n,) each."""
    log_density = np.log(w) - np.log(sigma) - 0.5 * ((z[:, None] - mu) / sigma) ** 2  # (n, K): no underflow
    k = np.argmax(log_density, axis=1)
    return k, (z - mu[k]) / (MODE_SPREAD * sigma[k])


def modes_forward(z: np.ndarray, p: dict[str, Any]) -> np.ndarray:
    """(n,) -> (n, 1 + K): [alpha, one-hot of the mode]."""
    mu = np.asarray(p["means"])
    k, alpha = mode_codes(z, mu, np.asarray(p["stds"]), np.asarray(p["weights"]))
    block = np.zeros((len(z), 1 + len(mu)))
    block[:, 0] = alpha
    block[np.arange(len(z)), 1 + k] = 1.0
    return block


def modes_backward(block: np.ndarray, p: dict[str, Any]) -> np.ndarray:
    """(n, 1 + K) -> (n,): the mode by the argmax of its entries (a one-hot or a decoder's probabilities)."""
    mu, sigma = np.asarray(p["means"]), np.asarray(p["stds"])
    k = np.argmax(block[:, 1:], axis=1)
    return block[:, 0] * MODE_SPREAD * sigma[k] + mu[k]


def fit_quantiles(z: np.ndarray) -> dict[str, Any]:
    """{"references", "quantiles"}: at most QUANTILES evenly spaced probabilities and z's quantiles there."""
    references = np.linspace(0.0, 1.0, min(QUANTILES, len(z)))
    return {"references": references.tolist(), "quantiles": np.maximum.accumulate(np.quantile(z, references)).tolist()}


def quantiles_forward(z: np.ndarray, p: dict[str, Any]) -> np.ndarray:
    """(n,) -> (n, 1): standard-normal scores, +-5.2 at and beyond the training range's ends."""
    from scipy.special import ndtri

    q, r = np.asarray(p["quantiles"]), np.asarray(p["references"])
    # sklearn's two-sided interpolation: a value repeated over a run of quantiles maps to its middle.
    prob = 0.5 * (np.interp(z, q, r) - np.interp(-z, -q[::-1], -r[::-1]))
    return ndtri(np.clip(prob, QUANTILE_BOUND, 1 - QUANTILE_BOUND))[:, None]


def quantiles_backward(block: np.ndarray, p: dict[str, Any]) -> np.ndarray:
    """(n, 1) -> (n,)."""
    from scipy.special import ndtr

    prob = ndtr(block[:, 0])
    # the ends were clipped to QUANTILE_BOUND on the way in: snap them back (with room for float32's
    # rounding of z), so the training minimum and maximum decode exactly
    prob = np.where(prob >= 1 - 10 * QUANTILE_BOUND, 1.0, np.where(prob <= 10 * QUANTILE_BOUND, 0.0, prob))
    return np.interp(prob, np.asarray(p["references"]), np.asarray(p["quantiles"]))
