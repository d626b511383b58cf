"""What training settles about the data before it builds a model: which data (a resumed table
run reads its rows with its own stored codec) and which likelihood (a table's columns, from its
codec, are the mixed likelihood's layout; a text's vocabulary, the tokens likelihood's size).

A table data set always trains under the mixed likelihood (`vaekit.distributions.mixed`): the
family's default likelihood (Bernoulli) is replaced by it, any other named likelihood is refused,
and the resolved config (with the layout) is what config.yaml keeps, so `load_run` rebuilds the
model without the data. Text (a codec of modality "text") trains under the tokens likelihood
(`vaekit.distributions.tokens`) with sequence networks (`vaekit.nn.sequence`), their
`vocab_size` filled in from the codec's vocabulary in the same way.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from vaekit import run as rundir
from vaekit.config import Config
from vaekit.data import Dataset, load_dataset
from vaekit.data import codec as codecs
from vaekit.distributions import BernoulliConfig, TokensConfig
from vaekit.distributions.mixed import Block, MixedConfig
from vaekit.errors import ConfigError, DataError
from vaekit.registry import NETWORKS


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
    columns; for text, the tokens likelihood and every vocab_size. ConfigError for a likelihood or
    network that cannot model the data."""
    codec = data.codec
    if codec is not None and codec.modality == "text":
        return _for_text(config, codec.vocab_size, data.shape)
    _refuse_text_parts(config)
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


def _for_text(config: Config, vocab: int, shape: tuple[int, ...]) -> Config:
    """The tokens likelihood in place of the families' default, and `vocab_size` filled into it
    and into the sequence networks; ConfigError for parts that cannot model token ids."""
    model = config.model
    likelihood = model.likelihood
    if likelihood == BernoulliConfig():  # the families' default: text is never 0/1 pixels
        likelihood = TokensConfig()
    elif likelihood.name != "tokens":
        raise ConfigError(f"text is modelled token by token by model.likelihood.name=tokens, not "
                          f"'{likelihood.name}'; set model.likelihood.name=tokens (or remove the likelihood section)")
    likelihood = _with_vocab(likelihood, vocab, "likelihood")
    if likelihood.max_length == 0:  # generation stops where the data's sequences do
        likelihood = dataclasses.replace(likelihood, max_length=shape[0])
    parts = {"likelihood": likelihood}
    for part in ("encoder", "decoder"):
        net = getattr(model, part, None)  # a language model has no encoder
        if net is None:
            continue
        if not getattr(NETWORKS.get(net.name), "tokens", False):
            raise ConfigError(f"model.{part}.name={net.name} cannot read token ids; text needs a sequence network: "
                              f"set model.{part}.name=rnn (or transformer)")
        parts[part] = _with_vocab(net, vocab, part)
    return dataclasses.replace(config, model=dataclasses.replace(model, **parts))


def _with_vocab(section, vocab: int, part: str):
    """`section` with vocab_size = the codec's `vocab` (where it is 0); ConfigError for another size."""
    if not any(f.name == "vocab_size" for f in dataclasses.fields(section)):
        return section
    if section.vocab_size == 0:
        return dataclasses.replace(section, vocab_size=vocab)
    if section.vocab_size != vocab:
        raise ConfigError(f"model.{part}.vocab_size is {section.vocab_size}, but the text's vocabulary has {vocab} "
                          f"ids; remove model.{part}.vocab_size (the text data set fills it in)")
    return section


def _refuse_text_parts(config: Config) -> None:
    """ConfigError for the parts that model token ids, on data that are not text."""
    if config.model.likelihood.name == "tokens":
        raise ConfigError("model.likelihood.name=tokens models token sequences; use it with data.name=text, or "
                          "choose another likelihood (bernoulli, gaussian)")
    for part in ("encoder", "decoder"):
        net = getattr(config.model, part, None)
        if net is None:
            continue
        name = net.name
        if getattr(NETWORKS.get(name), "tokens", False):
            raise ConfigError(f"model.{part}.name={name} reads token sequences; use it with data.name=text, or "
                              f"model.{part}.name=mlp or conv for this data")
