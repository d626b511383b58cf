"""MIWAE's single imputation of table rows, in the table's own units (Mattei & Frellsen 2019,
https://arxiv.org/abs/1812.02633, section 4): each cell is estimated by sum_k w~_k E[cell | z_k]
over its row's K importance-weighted codes (`vaekit.sample.impute.weighted_pass`), with E[cell | z_k]
the expectation of what a draw of p(x|z_k) decodes to (`vaekit.data.columns`), computed from the
likelihood's parameters rather than from draws:

- a category: the argmax of sum_k w~_k p(category | z_k), the softmax of its block's logits (a
  boolean: True where sum_k w~_k sigmoid(logit_k) >= 0.5, as decode reads 0.5 up as True): the
  most probable value under the estimated p(x_m | x_o), which maximises the expected accuracy.
- a continuous number: the mean. A mode-normalised column decodes [alpha, mode m] to
  v = A_m alpha + B_m (A_m = 4 sigma_m scale, B_m = mu_m scale + center, `scalers.modes_backward`),
  then clips v to the training range [low, high]. Given z_k the mode is m with probability
  softmax(logits)_m and alpha ~ N(mu_km, s_km^2), so
      E[v | z_k] = sum_m p(m|z_k) E[clip(Y_km, low, high)],  Y_km ~ N(A_m mu_km + B_m, (A_m s_km)^2),
  and a clipped Gaussian's mean has a closed form (`clipped_normal_mean`): exact. The clipping is
  kept because decode applies it to every draw, so this is the mean of the decoded values' own
  distribution (clipping only the final mean would let a tail beyond the range pull it). A
  "standard" column is the one-mode case. A "quantile" column decodes alpha through the training
  quantiles, which is not affine: E[v | z_k] is then the mean of the column's own decode at
  QUANTILE_STRATA stratified quantiles of alpha ~ N(mu_k, s_k^2) (`_strata`; deterministic, within
  (high - low) / QUANTILE_STRATA of the exact mean, in practice far closer).
- an integer: that mean, rounded (integers are always clipped on decode). A count: the weighted
  mean of its Poisson rates, rounded and clipped to [0, the training maximum] as decode clips.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import torch

from vaekit.contract import Batch, Family
from vaekit.data.scalers import MODE_SPREAD
from vaekit.errors import InputError
from vaekit.sample.impute import weighted_pass

QUANTILE_STRATA = 128  # equally likely values of alpha averaged per code for a quantile column (`_strata`)


def impute_table(model: Family, codec: Any, batch: Batch, num_samples: int = 1000,
                 generator: torch.Generator | None = None, chunk: int | None = None,
                 fn: str = "impute_table") -> pd.DataFrame:
    """Every cell of every row of `batch` (the codec's encoding of a table, with its mask) estimated
    from the observed cells, as a DataFrame of the codec's kept columns (what `codec.decode` returns):
    the caller keeps the observed cells. `num_samples` codes per row; `chunk` rows per pass."""
    parts = weighted_pass(model, batch, lambda px, w: column_expectations(codec, px, w, fn), num_samples,
                          generator, chunk, fn)
    cells = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    return imputed_frame(codec, cells, len(batch.x))


def column_expectations(codec: Any, px: Any, w: torch.Tensor, fn: str = "column_expectations") -> dict[str, np.ndarray]:
    """Per column with entries, sum_k w~_k of E[cell | z_k] (float64, numpy): a categorical column's
    probabilities (b, C), a boolean's P(True) (b,), a number's mean in table units (b,). `px` is the
    mixed likelihood at the codes (batch shape (K, b)), `w` (K, b) the normalised weights."""
    from vaekit.distributions.mixed import MixedDist

    if not isinstance(px, MixedDist):
        raise InputError(f"{fn} needs a model with the mixed likelihood of a table, got {type(px).__name__}; "
                         "train the run on a table (data.name=table)")
    params = dict(zip((b.name for b in px.blocks), px.parts))
    w = w.double()
    out = {}
    for column in codec.columns:
        p = params.get(column.name)
        if p is None:  # a constant: no entries
            continue
        if column.kind == "categorical":
            e = torch.softmax(p.logits.double(), -1)  # (K, b, C)
        elif column.kind == "boolean":
            e = torch.sigmoid(p.logits.double())[..., 0]
        elif column.kind == "count":
            e = torch.exp(p.log_rate.double())[..., 0]
        else:
            e = number_means(column, p)
        out[column.name] = (w.reshape(*w.shape, *[1] * (e.ndim - 2)) * e).sum(0).cpu().numpy()
    return out


def number_means(column: Any, p: Any) -> torch.Tensor:
    """E[decoded value | z_k] (K, b) of a continuous or integer column, in table units, float64,
    from its block's parameters `p` (mu, log_sigma and, for modes, logits)."""
    q = column.params
    mu, s = p.mu.double(), torch.exp(p.log_sigma.double())  # (K, b, M)
    if column.transform == "quantile":
        return _strata(column, mu[..., 0], s[..., 0])
    if column.transform == "mode":
        a = MODE_SPREAD * torch.tensor(q["stds"], dtype=mu.dtype, device=mu.device) * q["scale"]
        b = torch.tensor(q["means"], dtype=mu.dtype, device=mu.device) * q["scale"] + q["center"]
        probs = torch.softmax(p.logits.double(), -1)
    else:  # standard: v = alpha * scale + center, one mode
        a, b, probs = q["scale"], q["center"], torch.ones_like(mu)
    return (probs * clipped_normal_mean(a * mu + b, a * s, q["low"], q["high"])).sum(-1)


def clipped_normal_mean(mean: torch.Tensor, std: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """E[clip(Y, low, high)] for Y ~ N(mean, std^2), std > 0:
    low Phi(a) + high Phi(-b) + mean (Phi(b) - Phi(a)) + std (phi(a) - phi(b)), a, b the standardised ends."""
    a, b = (low - mean) / std, (high - mean) / std
    cdf, pdf = torch.special.ndtr, lambda t: torch.exp(-0.5 * t * t) / math.sqrt(2 * math.pi)
    return low * cdf(a) + high * cdf(-b) + mean * (cdf(b) - cdf(a)) + std * (pdf(a) - pdf(b))


def _strata(column: Any, mu: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """E[decode(alpha)] for alpha ~ N(mu, s^2), (K, b): the mean of the decode at the midpoints of
    QUANTILE_STRATA equally likely strata of alpha. The decode is monotone in alpha and bounded by
    the training range, so this is within (high - low) / QUANTILE_STRATA of the exact mean (and
    exact for an affine decode, by symmetry); unlike a Gauss-Hermite rule it does not rely on a
    smooth decode, and this one has kinks and steps (the training quantiles, the snapped ends)."""
    from scipy.special import ndtri

    nodes = ndtri((np.arange(QUANTILE_STRATA) + 0.5) / QUANTILE_STRATA)
    alpha = mu.cpu().numpy()[..., None] + s.cpu().numpy()[..., None] * nodes  # (K, b, n)
    # clipped as decode clips, not rounded: an integer column rounds the mean, as for the other transforms
    values = column.values(alpha.reshape(-1, 1), clip=True).reshape(alpha.shape)
    return torch.from_numpy(values.mean(-1)).to(mu.device)


def imputed_frame(codec: Any, cells: dict[str, np.ndarray], n: int) -> pd.DataFrame:
    """The estimates of `column_expectations` (over all n rows) as table values: the most probable
    category, True from P(True) 0.5 up, means (integers and counts rounded), in the codec's kept
    columns and types."""
    out = {}
    for column in codec.columns:
        e = cells.get(column.name)
        if column.kind in ("categorical", "constant"):  # decode: argmax of the probabilities; a constant's value
            out[column.name] = column.decode(e if e is not None else np.zeros((n, 0)))
        elif column.kind == "boolean":
            out[column.name] = column.decode(e[:, None])
        elif column.kind == "continuous":
            out[column.name] = pd.Series(e, name=column.name, dtype="float64")
        else:
            high = column.high if column.kind == "count" else column.params["high"]
            low = 0.0 if column.kind == "count" else column.params["low"]
            out[column.name] = pd.Series(np.clip(np.round(e), low, high).astype(np.int64), name=column.name)
    return pd.DataFrame(out, columns=[name for name in codec.names if name in out])
