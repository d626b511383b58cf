"""MIWAE's single imputation of table rows (vaekit.sample.table_impute, impute_rows with
multiple=None) against independent computations in float64:

- the clipped Gaussian mean against numerical integration (scipy's quad);
- each column's weighted expectation against a brute-force loop over codes and rows, where a
  number's E[decoded value | z_k] is the mean of the column's own decode (clipping included) at
  J stratified quantiles of alpha ~ N(mu, s^2), mode by mode. That decode is monotone in alpha
  and bounded by the training range, so this midpoint rule is within (high - low) / J of the
  exact mean: a rigorous tolerance;
- impute_rows end to end: against the same loop at the run's own importance-weighted codes, and
  with a decoder that ignores z, where the answer is the one code's mean and argmax whatever the
  weights.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import integrate
from scipy.special import ndtri

from vaekit.contract import Batch
from vaekit.data.columns import (BooleanColumn, CategoricalColumn, ContinuousColumn, CountColumn, IntegerColumn)
from vaekit.data.table import TableCodec
from vaekit.distributions.mixed import MixedConfig, MixedLikelihood
from vaekit.sample import table_impute
from vaekit.sample.rows import impute_rows
from vaekit.sample.table_impute import clipped_normal_mean, column_expectations, imputed_frame

J = 100_000  # stratified quantiles of alpha in the brute-force mean


# ----------------------------------------------------------------------------- brute force


def _softmax(v) -> np.ndarray:
    e = np.exp(np.asarray(v, dtype=np.float64) - max(v))
    return e / e.sum()


def brute_number(column, p, k: int, i: int) -> float:
    """E[decoded value | z_k] of row i: mode by mode, the mean of the column's decode at J
    stratified quantiles of alpha (clipped, not rounded: the estimator rounds the mean)."""
    u = (np.arange(J) + 0.5) / J
    mu, s = p.mu[k, i].double().numpy(), np.exp(p.log_sigma[k, i].double().numpy())
    modes = column.modes
    probs = _softmax(p.logits[k, i].double().tolist()) if modes else np.ones(1)
    total = 0.0
    for m in range(len(probs)):
        alpha = mu[m] + s[m] * ndtri(u)
        block = np.zeros((J, 1 + modes))
        block[:, 0] = alpha
        if modes:
            block[:, 1 + m] = 1.0
        total += probs[m] * ContinuousColumn.decode(column, block, clip=True).to_numpy().mean()
    return total


def brute_cell(column, p, k: int, i: int):
    if column.kind == "categorical":
        return _softmax(p.logits[k, i].double().tolist())
    if column.kind == "boolean":
        return 1.0 / (1.0 + math.exp(-float(p.logits[k, i, 0])))
    if column.kind == "count":
        return math.exp(float(p.log_rate[k, i, 0]))
    return brute_number(column, p, k, i)


def brute_expectations(codec, px, w: np.ndarray) -> dict[str, np.ndarray]:
    """sum_k w[k, i] E[cell | z_k], one code and one row at a time."""
    out = {}
    for column in codec.columns:
        if not column.width:
            continue
        p = px.block(column.name)
        rows = []
        for i in range(w.shape[1]):
            rows.append(sum(w[k, i] * np.asarray(brute_cell(column, p, k, i)) for k in range(w.shape[0])))
        out[column.name] = np.array(rows)
    return out


# ----------------------------------------------------------------------------- the clipped mean


@pytest.mark.parametrize("mean, std", [(0.3, 0.2), (0.0, 1.0), (1.1, 0.3), (-0.4, 0.05), (5.0, 0.5), (-3.0, 2.0),
                                       (0.5, 1e-4), (0.2, 30.0)])
def test_the_clipped_normal_mean_matches_integration(mean, std):
    low, high = -0.5, 1.2
    # in standard units t = (y - mean) / std, cut at 40 (the density beyond is below 1e-300)
    a, b = max((low - mean) / std, -40.0), min((high - mean) / std, 40.0)
    inside = integrate.quad(lambda t: (mean + std * t) * math.exp(-0.5 * t * t) / math.sqrt(2 * math.pi), a, b,
                            points=[0.0] if a < 0 < b else None, epsabs=1e-13, limit=200)[0] if a < b else 0.0
    below = 0.5 * math.erfc((mean - low) / (std * math.sqrt(2)))  # P(Y < low)
    above = 0.5 * math.erfc((high - mean) / (std * math.sqrt(2)))  # P(Y > high)
    expected = inside + low * below + high * above
    got = clipped_normal_mean(torch.tensor(mean, dtype=torch.float64), torch.tensor(std, dtype=torch.float64),
                              low, high)
    assert float(got) == pytest.approx(expected, abs=1e-9)
    assert low <= float(got) <= high


# ----------------------------------------------------------------------------- one pass, every kind


def _codec() -> TableCodec:
    """One column of every kind and transform, fitted on seeded data (two modes for 'mode')."""
    rng = np.random.default_rng(0)
    n = 600
    two = np.where(rng.random(n) < 0.6, rng.normal(10.0, 1.0, n), rng.normal(30.0, 3.0, n))
    columns = [
        ContinuousColumn("m", "mode").fit(pd.Series(two)),
        ContinuousColumn("s", "standard").fit(pd.Series(rng.normal(5.0, 2.0, n))),
        ContinuousColumn("q", "quantile").fit(pd.Series(rng.gamma(2.0, 3.0, n))),
        IntegerColumn("i", "mode").fit(pd.Series(rng.integers(0, 100, n))),
        CategoricalColumn("c").fit(pd.Series(rng.choice(["a", "b", "c", "d"], n))),
        BooleanColumn("b").fit(pd.Series(rng.random(n) < 0.3)),
        CountColumn("n").fit(pd.Series(rng.poisson(4.0, n))),
    ]
    return TableCodec(columns, [c.name for c in columns], {})


def _px(codec: TableCodec, k: int, b: int, seed: int):
    """The mixed likelihood of the codec's layout at random parameters (k, b, P), per-row sigmas:
    alpha means spread widely enough that many draws fall beyond the training range (clipped)."""
    lik = MixedLikelihood(MixedConfig(variance="decoder"), (codec.width,), layout=codec.likelihood_layout())
    g = torch.Generator().manual_seed(seed)
    params = 1.5 * torch.randn(k, b, lik.param_shape()[0], generator=g)
    return lik(params)


def test_every_columns_expectation_matches_a_brute_force_loop():
    codec, k, b = _codec(), 6, 4
    px = _px(codec, k, b, seed=1)
    w = np.random.default_rng(2).dirichlet(np.ones(k), size=b).T  # (K, b), each row's weights sum to 1
    got = column_expectations(codec, px, torch.from_numpy(w))
    expected = brute_expectations(codec, px, w)
    assert got.keys() == expected.keys() == {"m", "s", "q", "i", "c", "b", "n"}
    for column in codec.columns:
        name = column.name
        assert got[name].shape == expected[name].shape
        if column.kind in ("continuous", "integer"):
            span = column.params["high"] - column.params["low"]
            # exact formulas (mode, standard): the brute force's bound alone; the quantile column's
            # QUANTILE_STRATA strata obey the same bound with their own count (in practice ~20x closer)
            strata = table_impute.QUANTILE_STRATA if column.transform == "quantile" else math.inf
            tol = span * (1.0 / J + 1.0 / strata) + 1e-9
            assert np.abs(got[name] - expected[name]).max() <= tol, name
        else:
            np.testing.assert_allclose(got[name], expected[name], rtol=1e-12, atol=1e-12, err_msg=name)
    # clipping mattered: some codes put mass beyond the range (else clip-free formulas would pass too)
    p = px.block("s")
    raw = p.mu[..., 0].double() * codec.columns[1].params["scale"] + codec.columns[1].params["center"]
    assert (raw > codec.columns[1].params["high"]).any() or (raw < codec.columns[1].params["low"]).any()


def test_the_estimates_become_table_values():
    codec = _codec()
    cells = {"m": np.array([11.4, 29.0]), "s": np.array([4.2, 6.0]), "q": np.array([1.0, 9.5]),
             "i": np.array([41.5, 42.51]), "c": np.array([[0.1, 0.5, 0.3, 0.1], [0.3, 0.2, 0.2, 0.3]]),
             "b": np.array([0.49, 0.5]), "n": np.array([-0.2, 1e6])}
    frame = imputed_frame(codec, cells, 2)
    assert list(frame.columns) == ["m", "s", "q", "i", "c", "b", "n"]
    assert frame["m"].tolist() == [11.4, 29.0] and frame["m"].dtype == np.float64
    assert frame["i"].tolist() == [42, 43] and frame["i"].dtype == np.int64  # round half to even, as numpy
    assert frame["c"].tolist() == ["b", "a"]  # the most probable category (the first of a tie)
    assert frame["b"].tolist() == [False, True]  # True from 0.5 up, as decode reads a boolean
    assert frame["n"].tolist() == [0, codec.columns[-1].high]  # counts clipped as decode clips


# ----------------------------------------------------------------------------- impute_rows end to end


def _rows(table_csv, n: int = 6) -> pd.DataFrame:
    rows = pd.read_csv(table_csv).head(n).astype({"owner": object})  # a bool column can take no NaN
    rows.loc[0, ["age", "income"]] = np.nan
    rows.loc[1, ["city", "owner"]] = np.nan
    rows.loc[2, ["age", "income", "city", "owner", "children"]] = np.nan  # nothing observed
    rows.loc[3, "children"] = np.nan
    return rows


def _weighted(run, rows: pd.DataFrame, k: int, seed: int):
    """The run's K codes per row and their normalised importance weights, drawn as impute_rows
    draws them (one pass, the same seeded generator): px at the codes, w (K, N) float64."""
    model = run.model
    was = model.training
    model.eval()
    x, mask = run.codec.encode(rows)
    x0 = torch.where(mask.bool(), x, torch.zeros(()))
    q = model.encode(Batch(x0, None, mask))
    z = q.rsample(k, generator=torch.Generator().manual_seed(seed))
    px = model.decode(z)
    log_w = px.log_prob(x0, mask) + model.prior.log_prob(z) - q.log_prob(z)
    model.train(was)
    return px, torch.softmax(log_w.double(), 0).numpy()


def _check_observed(rows: pd.DataFrame, filled: pd.DataFrame) -> None:
    observed = rows.notna()
    assert list(filled.columns) == list(rows.columns)
    for name in rows.columns:  # bit for bit: the same values where the cell was given
        assert (filled.loc[observed[name], name].to_numpy() == rows.loc[observed[name], name].to_numpy()).all()
    assert not filled.drop(columns="id").isna().any().any()


@torch.no_grad()
def test_impute_rows_is_the_weighted_estimate_at_its_codes(table_run, table_csv):
    rows, k = _rows(table_csv), 20
    filled = impute_rows(table_run, rows, num_samples=k, seed=5)
    _check_observed(rows, filled)
    px, w = _weighted(table_run, rows, k, seed=5)
    expected = imputed_frame(table_run.codec, brute_expectations(table_run.codec, px, w), len(rows))
    for name in ("age", "income", "city", "owner", "children"):
        gap = rows[name].isna().to_numpy()
        got, want = filled.loc[gap, name].to_numpy(), expected.loc[gap, name].to_numpy()
        if name == "income":  # continuous: within the brute force's bound, and a float32 model
            span = table_run.codec.columns[1].params["high"] - table_run.codec.columns[1].params["low"]
            np.testing.assert_allclose(got.astype(float), want, atol=span * (1.0 / J + 1e-5))
        else:
            assert got.tolist() == want.tolist(), name
    # multiple imputation still draws: two tables differ where cells were missing
    a, b = impute_rows(table_run, rows, multiple=2, num_samples=k, seed=5)
    _check_observed(rows, a)
    assert not a.equals(b)


@torch.no_grad()
def test_a_decoder_that_ignores_z_imputes_its_one_mean_and_argmax(table_run, table_csv):
    run = table_run
    last = run.model.decoder.net[-1]
    saved = last.weight.detach().clone()
    try:
        last.weight.zero_()  # p(x|z) = p(x|bias) for every z: any weights give the same answer
        rows = _rows(table_csv)
        filled = impute_rows(run, rows, num_samples=30, seed=0)
        _check_observed(rows, filled)
        px = run.model.decode(torch.zeros(1, 1, run.model.config.latent_dim))
        one = imputed_frame(run.codec, brute_expectations(run.codec, px, np.ones((1, 1))), 1)
    finally:
        last.weight.copy_(saved)
    income = run.codec.columns[1].params
    for name in ("age", "income", "city", "owner", "children"):
        gap = rows[name].isna().to_numpy()
        got = filled.loc[gap, name].to_numpy()
        if name == "income":
            np.testing.assert_allclose(got.astype(float), one[name][0], atol=(income["high"] - income["low"]) * 2e-5)
        else:
            assert (got == one[name][0]).all(), name


def test_draws_is_still_checked_but_no_longer_changes_the_single_imputation(table_run, table_csv):
    rows = _rows(table_csv)
    a = impute_rows(table_run, rows, num_samples=20, draws=1, seed=0)
    b = impute_rows(table_run, rows, num_samples=20, draws=500, seed=0)
    assert a.equals(b)
    from vaekit.errors import InputError

    with pytest.raises(InputError, match="draws"):
        impute_rows(table_run, rows, draws=0)


def test_a_model_without_the_mixed_likelihood_is_refused():
    class NotMixed:
        pass

    with pytest.raises(table_impute.InputError, match="mixed likelihood"):
        column_expectations(_codec(), NotMixed(), torch.ones(1, 1))
