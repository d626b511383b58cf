"""What training settles for text (vaekit/train/prepare.py's for_data): the tokens likelihood in
place of the families' default, vocab_size filled in from the codec, and a one-line ConfigError
for every part that cannot model token ids, or for text parts on other data."""

from __future__ import annotations

import pytest

from text_helpers import corpus, text_config, text_dataset
from vaekit.config import dump_config, parse_config
from vaekit.data import Dataset, Split
from vaekit.errors import ConfigError
from vaekit.models import build_model
from vaekit.train.prepare import for_data
from vaekit.yamlio import load_yaml

DATA = text_dataset(corpus(60), corpus(10, seed=1), max_length=9)
V = DATA.codec.vocab_size


def test_the_default_likelihood_becomes_tokens_and_every_vocab_size_is_filled():
    config = for_data(text_config(), DATA)
    model = config.model
    assert model.likelihood.name == "tokens"
    assert model.likelihood.vocab_size == model.encoder.vocab_size == model.decoder.vocab_size == V
    assert model.likelihood.max_length == 9
    build_model(model, DATA.shape)
    # config.yaml keeps what was filled in: load_run rebuilds the model without the data
    again = parse_config(load_yaml(dump_config(config), "config.yaml"))
    assert again.model == model and for_data(again, DATA) == config


def test_settings_already_right_are_kept():
    raw = {"likelihood": {"name": "tokens", "vocab_size": V, "max_length": 30}}
    config = for_data(text_config(model=raw), DATA)
    assert config.model.likelihood.max_length == 30 and config.model.likelihood.vocab_size == V


@pytest.mark.parametrize("part, model", [
    ("likelihood", {"likelihood": {"name": "tokens", "vocab_size": V + 1}}),
    ("encoder", {"encoder": {"name": "rnn", "vocab_size": V - 1}}),
])
def test_another_vocabulary_size_is_a_config_error(part, model):
    with pytest.raises(ConfigError, match=rf"^model.{part}.vocab_size is \d+, but the text's vocabulary has {V} ids; "
                                          rf"remove model.{part}.vocab_size"):
        for_data(text_config(model=model), DATA)


@pytest.mark.parametrize("likelihood", ["gaussian", "mixed"])
def test_likelihoods_of_numbers_are_refused_on_text(likelihood):
    with pytest.raises(ConfigError, match=f"not '{likelihood}'; set model.likelihood.name=tokens"):
        for_data(text_config(model={"likelihood": {"name": likelihood}}), DATA)


@pytest.mark.parametrize("part", ["encoder", "decoder"])
@pytest.mark.parametrize("network", ["mlp", "conv"])
def test_networks_that_cannot_read_tokens_are_refused_on_text(part, network):
    with pytest.raises(ConfigError, match=rf"^model.{part}.name={network} cannot read token ids; .*"
                                          rf"set model.{part}.name=rnn"):
        for_data(text_config(model={part: {"name": network}}), DATA)


def vectors() -> Dataset:
    import torch

    split = Split(torch.rand(20, 9))
    return Dataset(name="vectors", train=split, val=split, test=split, shape=(9,), is_image=False, binary=False,
                   dynamic_binarize=False, num_classes=None)


def test_tokens_and_sequence_networks_are_refused_on_other_data():
    with pytest.raises(ConfigError, match="^model.likelihood.name=tokens models token sequences; use it with data.name=text"):
        for_data(parse_config({"model": {"likelihood": {"name": "tokens"}}}), vectors())
    with pytest.raises(ConfigError, match="^model.encoder.name=rnn reads token sequences; use it with data.name=text"):
        for_data(text_config(), vectors())
