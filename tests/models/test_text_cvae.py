"""The conditional VAE on text: q(z|x,c) reads the class after the sequence encoder (token ids take
no one-hot), the decoder reads [z, c]; and a labelled CSV (data.label_column) trained end to end
through vaekit.train, sampled per class by the library and by `vaekit sample --class`. (The
contract of every text family, cvae included, is tests/models/test_text_families.py.)"""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from cli_helpers import cli, error_line
from text_helpers import TINY_TEXT_MODELS, corpus, text_config, text_dataset
from vaekit.config import parse_config
from vaekit.contract import Batch
from vaekit.errors import DataError
from vaekit.models import build_model
from vaekit.run import load_run
from vaekit.sample.text import interpolate_text, reconstruct_text, sample_text
from vaekit.train.prepare import for_data

CLASSES = 3
DATA = text_dataset(corpus(60), corpus(12, seed=1), max_length=10, num_classes=CLASSES)


def tiny_cvae(network: str = "rnn", seed: int = 0):
    torch.manual_seed(seed)
    config = for_data(text_config("cvae", network, TINY_TEXT_MODELS["cvae"]), DATA)
    return build_model(config.model, DATA.shape)


@pytest.mark.parametrize("network", ["rnn", "transformer"])
@torch.no_grad()
def test_q_reads_the_class_beside_the_encoders_features_and_p_reads_it_beside_z(network):
    model = tiny_cvae(network)
    model.eval()
    batch = DATA.train.batch(torch.arange(6))
    assert model.network_inputs() == (DATA.shape, 4 + CLASSES)  # the encoder reads the ids alone
    q = model.encode(batch)
    # independently: (mu, log sigma^2) = W_h h(x) + W_c onehot(c) + b, the head's two blocks of columns
    h = model.encoder(batch.x)  # (B, 2D)
    w, b = model.head.weight, model.head.bias
    expect = h @ w[:, :h.shape[1]].T + F.one_hot(batch.y, CLASSES).float() @ w[:, h.shape[1]:].T + b
    torch.testing.assert_close(torch.cat([q.mu, q.logvar], -1), expect)
    other = model.encode(Batch(batch.x, (batch.y + 1) % CLASSES, lengths=batch.lengths))
    assert float((other.mu - q.mu).abs().min()) > 1e-6  # every example's posterior moves with its class
    z = q.mu
    same = model.decode(z, batch.y).log_prob(batch.x)
    moved = model.decode(z, (batch.y + 1) % CLASSES).log_prob(batch.x)
    assert float((same - moved).abs().min()) > 1e-6


def test_the_text_cvae_needs_the_labels_and_images_keep_their_networks():
    model = tiny_cvae()
    with pytest.raises(DataError, match="needs the labels of every example"):
        model(Batch(DATA.train.x[:4]))
    cfg = parse_config({"model": {"name": "cvae", "latent_dim": 2, "encoder": {"name": "mlp", "hidden": [8]},
                                  "decoder": {"name": "mlp", "hidden": [8]}}})
    image = build_model(cfg.model, (1, 4, 4), 2)
    assert image.head is None and not any(k.startswith("head.") for k in image.state_dict())
    assert image.network_inputs() == ((16 + 2,), 2 + 2)  # x and c concatenated, as before


# ----------------------------------------------------------------------------- end to end

# Two topics with words of their own: what a class should decide in a sentence.
TOPICS = {"animals": (["the cat", "the dog", "a bird", "my horse"], ["sees", "chases", "likes"]),
          "food": (["some bread", "hot soup", "an apple", "fresh rice"], ["tastes", "needs", "beats"])}


def topic_words(topic: str) -> set[str]:
    nouns, verbs = TOPICS[topic]
    return {w for phrase in nouns + verbs for w in phrase.split()}


def write_csv(path: Path, n: int, seed: int = 0) -> Path:
    """n rows (id, text, topic): a sentence of the topic's words; every 7th text cell empty."""
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "text", "topic"])
        for i in range(n):
            topic = ("animals", "food")[i % 2]
            nouns, verbs = TOPICS[topic]
            text = "" if i % 7 == 3 else f"{rng.choice(nouns)} {rng.choice(verbs)} {rng.choice(nouns)}"
            writer.writerow([i, text, topic])
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    import vaekit

    root = tmp_path_factory.mktemp("text-cvae")
    config = parse_config({
        "data": {"name": "text", "path": str(write_csv(root / "topics.csv", 200)), "column": "text",
                 "label_column": "topic", "max_length": 8},
        "model": {"name": "cvae", "latent_dim": 4,
                  "encoder": {"name": "rnn", "embedding_size": 8, "hidden_size": 16},
                  "decoder": {"name": "rnn", "embedding_size": 8, "hidden_size": 16}},
        "train": {"epochs": 8, "batch_size": 16, "lr": 1e-2, "report": True, "sample_grid": 6, "progress": False,
                  "device": "cpu"},
        "eval": {"importance_samples": 5},
    })
    vaekit.train(config, root / "run", log=lambda msg: None)
    return root / "run"


def on_topic(sentences: list[str], topic: str) -> float:
    """The share of sentences made of the topic's words alone."""
    words = topic_words(topic)
    return sum(bool(s.split()) and set(s.split()) <= words for s in sentences) / len(sentences)


def test_a_labelled_csv_trains_a_text_cvae_that_writes_the_class_asked_for(trained):
    run = load_run(trained)
    assert run.codec.labels == ("animals", "food") and run.model.num_classes == 2
    assert run.model.traits.conditional and run.metrics()[-1]["val_elbo"] > run.metrics()[0]["val_elbo"]
    for k, topic in enumerate(run.codec.labels):
        assert on_topic(sample_text(run, 12, seed=1, y=k), topic) >= 0.75, sample_text(run, 12, seed=1, y=k)
    written = (trained / "samples.txt").read_text(encoding="utf-8").splitlines()
    assert written == sample_text(run, 6, seed=run.config.train.seed)  # without a class: 3 of each, in order
    assert on_topic(written[:3], "animals") >= 2 / 3 and on_topic(written[3:], "food") >= 2 / 3
    assert '<section id="reconstructions">' in (trained / "report.html").read_text(encoding="utf-8")


def test_reconstructions_and_interpolations_read_each_sentence_with_its_class(trained):
    run = load_run(trained)
    val = run.dataset().val
    pairs = reconstruct_text(run, val.x[:8], y=val.y[:8])
    assert [p[0] for p in pairs] == run.codec.decode(val.x[:8])
    with pytest.raises(DataError, match="needs the labels"):
        reconstruct_text(run, val.x[:2])
    blocks = interpolate_text(run, val.x[:2], val.x[2:4], 4, ya=val.y[:2], yb=val.y[2:4])
    assert len(blocks) == 2 and all(len(block) == 4 for block in blocks)


def test_vaekit_sample_class_prints_sentences_of_that_class(trained):
    run = load_run(trained)
    code, out, err = cli("sample", trained, "--class", 1, "-n", 5, "--seed", 3, "--out", "-")
    assert code == 0, err
    assert out.splitlines() == sample_text(run, 5, seed=3, y=1)
    assert on_topic(out.splitlines(), "food") >= 0.6
    code, _, err = cli("sample", trained, "--class", 2)
    assert code == 2
    assert error_line(err) == "vaekit: error: --class 2 is not one of the run's 2 classes: 0 'animals', 1 'food'"
    for command in ("reconstruct", "interpolate", "embed"):
        code, _, err = cli(command, trained, "--out", "-" if command != "embed" else trained / "embedded")
        assert code == 0, (command, err)
    code, _, err = cli("interpolate", trained, "--between", "the cat sees the dog", "hot soup tastes")
    assert code == 2 and "a conditional model reads each with its class" in error_line(err)
