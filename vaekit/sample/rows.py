"""Table rows out of a trained table run: synthetic rows (`synthesize`), conditional rows
(`where=`), and imputed rows (`impute_rows`), in the table's own columns, types and categories.

    run = vaekit.load_run("runs/credit")
    synth = synthesize(run, 1000, seed=0)                     # a DataFrame with the original header
    good = synthesize(run, 100, where={"Status": "good"})     # rows of p(x | Status = good)
    filled = impute_rows(run, pandas.read_csv("incomplete.csv"))   # MIWAE's single imputation

Synthetic rows are draws of p(x|z) at z drawn from the prior, not the likelihood's mean: a mean
would give every category a fraction and every continuous column its conditional average, which
narrows the distributions the quality score compares. The codec then maps each draw back (a
category by its one-hot, a mode-normalised number through its mode).

Conditions: a model conditioned on the table's label column (data.label_column with a
conditional family) takes `where={label: value}` as its y. Any other condition is sampled by
importance resampling (`vaekit.sample.impute.conditional_draws`): codes from the prior weighed by
how well they explain the given cells, exact as the number of proposals grows. Without a
condition on the label, a conditional model's labels are drawn in their training proportions.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd
import torch

from vaekit.checks import MAX_IMAGES, MAX_TEMPERATURE, check_int, check_real, check_seed
from vaekit.contract import Batch
from vaekit.errors import InputError

MAX_PROPOSALS = 100_000  # prior draws weighed per conditional row set: bounds memory and time


def _table_run(run: Any, fn: str):
    from vaekit.run import Run

    if not isinstance(run, Run):
        raise InputError(f"{fn} expects a table run (vaekit.load_run(path)), got {type(run).__name__}")
    if run.codec.modality != "table":
        raise InputError(f"{fn} works on runs trained on a table (data.name=table); the run {run.path} models "
                         f"{run.codec.modality} data")
    return run, run.codec


def _generator(run, seed: int | None) -> torch.Generator:
    device = next(run.model.parameters()).device
    g = torch.Generator(device=device)
    return g.manual_seed(check_seed(seed)) if seed is not None else g.manual_seed(int(torch.randint(2**62, ()).item()))


@torch.no_grad()
def synthesize(run: Any, n: int, where: Mapping[str, Any] | None = None, seed: int | None = 0,
               temperature: float = 1.0, num_samples: int = 1000) -> pd.DataFrame:
    """`n` synthetic rows of a table run as a DataFrame with the table's header (its kept columns,
    in order), drawn from p(x|z); `where` fixes some cells ({column: value}). `num_samples`:
    prior proposals per row for a condition on cells other than the label."""
    run, codec = _table_run(run, "synthesize")
    n = check_int(n, "the number of rows n", min=1, max=MAX_IMAGES)
    temperature = check_real(temperature, "temperature", min_exclusive=0, max=MAX_TEMPERATURE)
    model, gen = run.model, _generator(run, seed)
    device = next(model.parameters()).device
    where = dict(where or {})
    label_given = codec.label is not None and codec.label.name in where
    y = _labels(codec, model, n, where, gen, device)
    if where:
        x_given, mask_given = _given(codec, where)
        from vaekit.sample.impute import check_family, conditional_draws

        check_family(model, "synthesize with where=")
        if y is not None and not label_given:
            raise InputError(f"where: this model is conditioned on {codec.label.name!r}; fix it too "
                             f"(where {codec.label.name}=VALUE), so the other cells are drawn given it")
        num_samples = check_int(num_samples, "num_samples (proposals per row)", min=1, max=MAX_PROPOSALS)
        x = conditional_draws(model, x_given.to(device), mask_given.to(device), n, num_samples=num_samples,
                              generator=gen, y=None if y is None else y[0])
    else:
        x = model.generate(n, temperature, gen, y).sample(gen)
    return codec.decode(x.cpu(), y=None if y is None else y.cpu())


def _labels(codec, model, n: int, where: dict, gen: torch.Generator, device) -> torch.Tensor | None:
    """The labels y of a conditional table model: the label condition's code, or draws in the
    training proportions. Removes the label from `where`."""
    label = codec.label.name if codec.label is not None else None
    if label is None or not model.traits.conditional:
        return None
    if label in where:
        code = codec.labels(pd.DataFrame({label: [where.pop(label)]}))
        return code.expand(n).to(device)
    weights = torch.tensor(codec.label_counts, dtype=torch.float, device=device)
    return torch.multinomial(weights, n, replacement=True, generator=gen)


def _given(codec, where: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """One encoded row holding the `where` cells, and its mask (1 on their entries only)."""
    names = [c.name for c in codec.columns]
    for column in where:
        if column not in names:
            hint = " (the label column, which this model is not conditioned on)" if codec.label and column == codec.label.name else ""
            from vaekit.registry import suggest

            raise InputError(f"where: {column!r} is not a modelled column of the table{hint}{suggest(str(column), names)}")
    row = pd.DataFrame({name: [where.get(name, np.nan)] for name in names}, columns=names)
    for column, value in where.items():  # numbers given as text (from the command line) are numbers
        if isinstance(value, str) and codec.columns[names.index(column)].kind in ("continuous", "integer"):
            try:
                row[column] = [float(value)]
            except ValueError:
                raise InputError(f"where: column {column!r} holds numbers, not {value!r}") from None
    x, mask = codec.encode(row, unseen="error")
    for column in where:
        block = next((b for b in codec.layout if b.name == column), None)
        if block is not None and not bool(mask[0, block.start:block.start + block.width].all()):
            raise InputError(f"where: {column}={where[column]!r} is a missing value; give a value the column holds")
    return x[0], mask[0]


@torch.no_grad()
def impute_rows(run: Any, df: pd.DataFrame, multiple: int | None = None, num_samples: int = 1000,
                draws: int = 100, seed: int | None = 0) -> pd.DataFrame | list[pd.DataFrame]:
    """`df` with its missing cells filled by the run's model (MIWAE, `vaekit.sample.impute`: codes
    from q(z|observed cells), weighted by the IWAE weights); observed cells are returned as they were.

    Single imputation (`multiple` None): every missing cell from all `num_samples` weighted codes of
    its row, sum_k w~_k E[cell | z_k] (`vaekit.sample.table_impute`): the mean of a number in the
    table's units (rounded for integers and counts), the category (or boolean value) of highest
    weighted probability. Multiple imputation: a list of `multiple` tables, each one completion per
    row resampled from the weighted codes and drawn from p(x|z). `num_samples`: importance samples
    K per row. `draws` is no longer used (single imputation once pooled that many resampled
    completions); it is still checked, so that calls passing it keep running as before."""
    from vaekit.sample.impute import impute_draws
    from vaekit.sample.table_impute import impute_table

    run, codec = _table_run(run, "impute_rows")
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"impute_rows expects a pandas DataFrame, got {type(df).__name__}; read one with "
                         f"vaekit.data.table.read_table(path)")
    if multiple is not None:
        multiple = check_int(multiple, "multiple (the number of imputed tables)", min=1, max=1000)
    else:
        check_int(draws, "draws (completions per row)", min=1, max=10_000)
    num_samples = check_int(num_samples, "num_samples (importance samples per row)", min=1, max=MAX_PROPOSALS)
    x, mask = codec.encode(df)
    y = codec.labels(df) if run.model.traits.conditional else None
    device = next(run.model.parameters()).device
    batch = Batch(x.to(device), None if y is None else y.to(device), mask.to(device))
    gaps = _gaps(codec, df, mask)
    if multiple is None:
        filled = impute_table(run.model, codec, batch, num_samples, _generator(run, seed), fn="impute_rows")
        return _restore(df, filled, gaps)
    out = impute_draws(run.model, batch, draws=multiple, num_samples=num_samples,
                       generator=_generator(run, seed)).cpu()  # (M, N, D)
    return [_restore(df, codec.decode(out[m]), gaps) for m in range(multiple)]


def _gaps(codec, df: pd.DataFrame, mask: torch.Tensor) -> dict[str, np.ndarray]:
    """Per kept column, the rows whose cell is imputed: missing in `df`, or holding a value the
    codec treated as missing (a category unseen in training)."""
    from vaekit.data.columns import missing_cells

    blocks = {b.name: b for b in codec.layout}
    out = {}
    for column in codec.columns:
        gap = missing_cells(df[column.name])
        if column.name in blocks:
            b = blocks[column.name]
            gap = gap | ~mask[:, b.start:b.start + b.width].bool().all(1).numpy()
        out[column.name] = gap
    return out


def _restore(df: pd.DataFrame, filled: pd.DataFrame, gaps_of: dict[str, np.ndarray]) -> pd.DataFrame:
    """`df` (all its columns, in its order) with the cells `gaps_of` marks taken from `filled`."""
    result = df.copy()
    for name in filled.columns:
        gaps = gaps_of[name]
        if gaps.any():
            values = df[name].to_numpy(dtype=object, copy=True)
            values[gaps] = filled[name].to_numpy(dtype=object)[gaps]
            # the column's own type once no cell is missing (integers read as float because of the gaps)
            result[name] = pd.Series(values, name=name).infer_objects().astype(filled[name].dtype, errors="ignore")
    return result
