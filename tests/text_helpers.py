"""Tiny text data sets built in memory, and tiny configs of sequence networks, for the tests of
the text models (the `text` data set reads files; these tests need neither files nor a tokenizer
fitted on disk)."""

from __future__ import annotations

import random
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

from vaekit.config import parse_config
from vaekit.data import Dataset, Split, load_dataset
from vaekit.data.text import TextCodec
from vaekit.data.text_set import TextConfig, TextWarning

# Sentences of a toy grammar: which subject goes with which object is what a latent code can
# carry, so a VAE has something to learn beyond word frequencies.
SUBJECTS = ["the cat", "a dog", "the old man", "my sister"]
VERBS = ["sees", "likes", "finds", "wants"]
OBJECTS = ["the red ball", "a small house", "the green tree", "some bread"]

# Tiny settings of each sequence network (what the model sections add to {"name": network}).
TINY_SEQUENCE_NETWORKS: dict[str, dict] = {
    "rnn": {"name": "rnn", "embedding_size": 8, "hidden_size": 16},
    "transformer": {"name": "transformer", "d_model": 16, "heads": 2, "layers": 1, "ff_size": 32, "dropout": 0.0},
}


def corpus(n: int, seed: int = 0) -> list[str]:
    """n sentences of the toy grammar, drawn with a seeded generator."""
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        i = rng.randrange(len(SUBJECTS))
        # the object follows the subject most of the time: a dependency across the sentence
        j = i if rng.random() < 0.8 else rng.randrange(len(OBJECTS))
        lines.append(f"{SUBJECTS[i]} {rng.choice(VERBS)} {OBJECTS[j]}")
    return lines


def text_dataset(train: list[str], val: list[str], test: list[str] | None = None, max_length: int = 10,
                 num_classes: int | None = None) -> Dataset:
    """A Dataset of token ids in the agreed layout: every split padded to (N, max_length), the
    codec fitted on the training lines. With `num_classes`, labels i % num_classes."""
    codec = TextCodec.fit(train, max_length=max_length)

    def split(lines: list[str]) -> Split:
        enc = codec.encode(lines)
        x = F.pad(enc.ids, (0, max_length - enc.ids.shape[1]))  # pads are id 0
        y = None if num_classes is None else torch.arange(len(lines)) % num_classes
        return Split(x=x, y=y, lengths=enc.lengths)  # batches are cut to their longest sequence

    return Dataset(name="tiny-text", train=split(train), val=split(val), test=split(test or val), shape=(max_length,),
                   is_image=False, binary=False, dynamic_binarize=False, num_classes=num_classes, codec=codec)


def text_config(family: str = "vae", network: str = "rnn", model: dict | None = None, train: dict | None = None,
                **decoder):
    """A tiny config of `family` with sequence networks (vocab_size left for the data to fill)."""
    net = TINY_SEQUENCE_NETWORKS[network]
    return parse_config({
        "model": {"name": family, "latent_dim": 4, "encoder": dict(net), "decoder": {**net, **decoder}, **(model or {})},
        "train": {"epochs": 3, "batch_size": 16, "lr": 3e-3, "report": False, "sample_grid": 0, "progress": False,
                  "device": "cpu", "eval_batch_size": 64, **(train or {})},
    })


# Per family, what its tiny model section adds on text (as tests/models/test_contract.py's
# TINY_MODELS does on images); every family that works on text needs an entry.
TINY_TEXT_MODELS: dict[str, dict] = {
    "vae": {}, "cvae": {"num_classes": 3}, "iwae": {"k": 3}, "betatcvae": {}, "capacity_vae": {"capacity_steps": 10},
    "infovae": {"lam": 10.0}, "wae": {}, "ladder": {"lower_dims": [4], "hidden": 16},
    "hvae": {"lower_dims": [4], "hidden": 16}, "vqvae": {"codebook_size": 5, "code_dim": 1, "prior_hidden": 8},
}


# A text run on the corpus the repository ships, trained by the command line: configs/text.yaml
# with tiny networks, for the tests of the commands, the evaluation and the report of text runs.
SENTENCES = Path(__file__).resolve().parent / "data" / "fixtures" / "sentences.txt"
TEXT_PRESET = Path(__file__).resolve().parents[1] / "configs" / "text.yaml"
TINY_TEXT_RUN = [f"--data.path={SENTENCES}", "--data.max_length=16", "--model.latent_dim=4",
                 "--model.encoder.embedding_size=16", "--model.encoder.hidden_size=32",
                 "--model.decoder.embedding_size=16", "--model.decoder.hidden_size=32", "--train.epochs=3",
                 "--train.sample_grid=8", "--train.progress=false", "--eval.importance_samples=10"]


def train_text_run(out: Path, *overrides: str) -> Path:
    """Train the tiny text run into `out` with `vaekit train` (a few seconds); its path."""
    from cli_helpers import cli

    code, _, err = cli("train", TEXT_PRESET, "--out", out, *TINY_TEXT_RUN, *overrides)
    assert code == 0, err
    return out


def load(**kw) -> Dataset:
    """The `text` data set of these TextConfig keys; a TextWarning fails the test that expects none."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", TextWarning)
        return load_dataset(TextConfig(**kw))


def decoded(data: Dataset, split: str) -> list[str]:
    """The sentences of one split, through the data set's codec."""
    s = data.split(split)
    return data.codec.decode(s.x, s.lengths)
