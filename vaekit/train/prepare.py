"""What training settles about the data before it builds a model: which data (a resumed table
run reads its rows with its own stored codec) and which likelihood (a table's columns, from its
codec, are the mixed likelihood's layout).

A table data set always trains under the mixed likelihood (`vaekit.distributions.mixed`): the
family's default likelihood (Bernoulli) is replaced by it, any other named likelihood is refused,
and the resolved config (with the layout) is what config.yaml keeps, so `load_run` rebuilds the
model without the data.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from vaekit import run as rundir
from vaekit.config import Config
from vaekit.data import Dataset, load_dataset
from vaekit.data import codec as codecs
from vaekit.distributions import BernoulliConfig
from vaekit.distributions.mixed import Block, MixedConfig
from vaekit.errors import ConfigError, DataError


def run_data(config: Config, out: Path, resume: bool, dataset: Dataset | None) -> Dataset:
    """The data to train on: `dataset` when given, else the config's, read with the run's stored
    codec when resuming a run whose codec its data set fits (a table's), so that the rows are
    encoded exactly as before. A table passed in with a different codec is refused on resume."""
    stored = _stored(out) if resume else None
    if dataset is None:
        return load_dataset(config.data, codec=stored if codecs.fitted_by_data_set(stored) else None)
    if codecs.fitted_by_data_set(stored) and dataset.codec != stored:
        raise DataError(f"the table passed in is encoded differently from the run in {out} (other columns, "
                        f"categories or fitted transforms); resume with the run's own data "
                        f"(vaekit.load_run(run).dataset()) or train a new run")
    return dataset


def _stored(out: Path):
    weights = out / rundir.WEIGHTS
    if not weights.is_file():
        return None
    return codecs.stored_codec(rundir.weights_metadata(weights), str(weights))


def for_data(config: Config, data: Dataset) -> Config:
    """`config` with what the data decide filled in: for a table, the mixed likelihood over its
    columns. ConfigError for a likelihood that cannot model the data."""
    codec = data.codec
    if codec is None or codec.modality != "table":
        if config.model.likelihood.name == "mixed":
            raise ConfigError("model.likelihood.name=mixed models the columns of a table; use it with data.name=table, "
                              "or choose another likelihood (bernoulli, gaussian)")
        return config
    layout = tuple(Block(**b) for b in codec.likelihood_layout())
    likelihood = config.model.likelihood
    if likelihood.name == "mixed":
        if likelihood.layout and tuple(likelihood.layout) != layout:
            raise ConfigError("model.likelihood.layout does not match the table's columns (another table's, or edited); "
                              "remove it: the table data set fills it in")
        likelihood = dataclasses.replace(likelihood, layout=layout)
    elif likelihood == BernoulliConfig():  # the families' default: a table's rows are never all 0/1 pixels
        likelihood = MixedConfig(layout=layout)
    else:
        raise ConfigError(f"a table is modelled column by column by model.likelihood.name=mixed, not "
                          f"'{likelihood.name}'; set model.likelihood.name=mixed (or remove the likelihood section)")
    return dataclasses.replace(config, model=dataclasses.replace(config.model, likelihood=likelihood))
