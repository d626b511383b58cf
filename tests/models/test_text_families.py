"""The model families on text: the contract of tests/models/test_contract.py on token sequences
for every family that works there (with every sequence network), the one-line refusal of those
that cannot, and a tiny text VAE trained end to end through vaekit.train."""

from __future__ import annotations

import json
import math

import pytest
import torch

from text_helpers import TINY_SEQUENCE_NETWORKS, TINY_TEXT_MODELS, corpus, text_config, text_dataset
from vaekit.config import dump_config, parse_config
from vaekit.contract import EOS_ID, PAD_ID, Batch
from vaekit.errors import ConfigError
from vaekit.models import build_model
from vaekit.objectives import Weights, log_mean_exp, reduce
from vaekit.registry import MODELS, NETWORKS
from vaekit.run import WEIGHTS, load_run
from vaekit.train.prepare import for_data
from vaekit.weights import save_weights
from vaekit.yamlio import load_yaml

B, S, CLASSES = 6, 5, 3
DATA = text_dataset(corpus(120), corpus(30, seed=1), max_length=10, num_classes=CLASSES)  # labels: cvae reads them
L, V = DATA.shape[0], DATA.codec.vocab_size
TEXT_FAMILIES = [n for n in MODELS.names() if MODELS.get(n).traits.text and MODELS.get(n).traits.latent]  # lm: tests/models/test_lm.py
SEQUENCE_NETWORKS = sorted(n for n in NETWORKS.names() if NETWORKS.get(n).tokens)
CASES = [(f, "rnn") for f in TEXT_FAMILIES] + [("vae", n) for n in SEQUENCE_NETWORKS if n != "rnn"]
DETERMINISTIC = {"vqvae", "wae"}


def test_every_family_that_works_on_text_has_a_tiny_config():
    assert set(TEXT_FAMILIES) <= set(TINY_TEXT_MODELS)
    assert {"vae", "iwae", "hvae", "ladder"} <= set(TEXT_FAMILIES)  # the Gaussian-latent families
    assert set(SEQUENCE_NETWORKS) <= set(TINY_SEQUENCE_NETWORKS)


def resolved(family: str, network: str = "rnn", **decoder):
    """The tiny config as training resolves it for the tiny corpus."""
    return for_data(text_config(family, network, TINY_TEXT_MODELS[family], **decoder), DATA)


def build(config, seed=0):
    torch.manual_seed(seed)
    return build_model(config.model, DATA.shape)


def seeded(fn, seed=7):
    torch.manual_seed(seed)
    return fn()


@pytest.fixture(params=CASES, ids=["-".join(c) for c in CASES])
def config(request):
    return resolved(*request.param)


@pytest.fixture
def batch() -> Batch:
    return DATA.train.batch(torch.arange(B))


def labels(model, n: int) -> torch.Tensor | None:
    """Classes for generating n sequences: a conditional family needs them, the others ignore them."""
    return torch.arange(n) % CLASSES if model.traits.conditional else None


def test_shapes(config, batch):
    model = build(config)
    out = model(batch)
    lead = (B,) if out.samples is None else (out.samples, B)
    assert out.recon.shape == lead and out.kl.shape == lead and out.elbo.shape == (B,)
    assert bool((out.recon < 0).all())  # log-probabilities of discrete sequences
    if model.traits.bound:
        assert model.log_weights(batch, S).shape == (S, B)
    model.eval()
    for ids in (model.sample(4, y=labels(model, 4)), model.reconstruct(batch)):
        assert ids.dtype == torch.long and ids.shape[-1] == L
        assert len(DATA.codec.decode(ids)) == len(ids)


def test_loss_is_finite_and_one_step_changes_every_parameter(config, batch):
    model = build(config)
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    result = seeded(lambda: reduce(model(batch), Weights(), model.traits.kl_target))
    assert result.loss.shape == () and torch.isfinite(result.loss)
    (result.loss + (result.aux_loss if result.aux_loss is not None else 0.0)).backward()
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    unchanged = [k for k, v in model.named_parameters() if torch.equal(v, before[k])]
    assert not unchanged, f"parameters the loss does not reach: {unchanged}"


@torch.no_grad()
def test_log_weights_average_to_the_elbo(config, batch):
    model = build(config)
    if not model.traits.bound:
        return  # a WAE: tests/models/test_contract.py checks the refusal
    for p in model.parameters():
        p.add_(0.2 * torch.randn_like(p))
    model.eval()
    log_w = seeded(lambda: model.log_weights(batch, 200))
    if config.model.name in DETERMINISTIC:
        torch.testing.assert_close(log_w, model(batch).elbo.expand_as(log_w))
        return
    elbo = torch.stack([seeded(lambda: model(batch).elbo, seed=s) for s in range(40)])
    stderr = (log_w.var(0) / len(log_w) + elbo.var(0) / len(elbo)).sqrt()
    assert ((log_w.mean(0) - elbo.mean(0)) / stderr).abs().max() < 5


def test_save_and_load_give_identical_outputs(config, batch, tmp_path):
    model = build(config, seed=0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.2 * torch.randn_like(p))
    (tmp_path / "config.yaml").write_text(dump_config(config))
    save_weights(model, tmp_path / WEIGHTS, {"data_shape": json.dumps([L]), "num_classes": "null"})
    loaded = load_run(tmp_path).model  # rebuilt from config.yaml alone: vocab_size is in it
    model.eval()
    a, b = seeded(lambda: model(batch)), seeded(lambda: loaded(batch))
    assert torch.equal(a.recon, b.recon) and torch.equal(a.kl, b.kl)
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    y = labels(model, B)
    assert torch.equal(model.sample(B, generator=g(), y=y), loaded.sample(B, generator=g(), y=y))


def test_same_seed_same_result(config, batch):
    a, b = build(config, seed=5), build(config, seed=5)
    assert torch.equal(seeded(lambda: a(batch).recon), seeded(lambda: b(batch).recon))


def test_beta_and_free_bits_weigh_a_text_vae_as_written(batch):
    """loss = -mean log p(x|z) + beta * sum_d max(mean KL_d, free_bits), on the same draw of z."""
    model = build(resolved("vae"))
    terms = seeded(lambda: model(batch))
    per_dim = terms.kl_per_dim.mean(0)
    assert per_dim.shape == (4,)
    fb = float(per_dim.detach().median())  # some dimensions below the floor, some above
    loss = seeded(lambda: reduce(model(batch), Weights(beta=0.5, free_bits=fb))).loss
    expect = -terms.recon.mean() + 0.5 * torch.where(per_dim < fb, torch.full_like(per_dim, fb), per_dim).sum()
    torch.testing.assert_close(loss, expect)


def test_the_iwae_trains_on_the_k_sample_bound_of_text(batch):
    model = build(resolved("iwae"))
    terms = seeded(lambda: model(batch))
    assert terms.recon.shape == (3, B)
    log_w = terms.recon - terms.kl  # log p(x, z_k) - log q(z_k | x)
    loss = seeded(lambda: reduce(model(batch), Weights())).loss
    torch.testing.assert_close(loss, -(torch.logsumexp(log_w, 0) - math.log(3)).mean())


# ----------------------------------------------------------------------------- what refuses text


@pytest.mark.parametrize("family", sorted(set(MODELS.names()) - set(TEXT_FAMILIES) - {"lm"}))  # lm: test_lm.py
def test_families_that_cannot_model_text_say_so_in_one_line(family):
    assert family in {"vaegan"}  # a family newly refusing text is a decision: list it here
    config = for_data(text_config(family), DATA)
    with pytest.raises(ConfigError, match=rf"^model '{family}' does not work on text: .*; use one of .*\bvae\b") as e:
        build_model(config.model, DATA.shape, num_classes=3)
    assert "\n" not in str(e.value)


def test_the_vampprior_refuses_text():
    config = for_data(text_config(model={"prior": {"name": "vampprior", "components": 3}}), DATA)
    with pytest.raises(ConfigError, match="^model.prior.name=vampprior .* token ids are discrete; use "):
        build_model(config.model, DATA.shape)
    build_model(for_data(text_config(model={"prior": {"name": "mixture", "components": 3}}), DATA).model, DATA.shape)


# ----------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny text VAE (word dropout on) trained through vaekit.train for a few epochs."""
    import vaekit

    data = text_dataset(corpus(240), corpus(40, seed=1), corpus(40, seed=2), max_length=10)
    out = tmp_path_factory.mktemp("text-run")
    config = text_config("vae", train={"epochs": 4}, word_dropout=0.25)
    run = vaekit.train(config, out, dataset=data, log=lambda msg: None)
    return run, data, out


def test_training_improves_the_elbo_and_keeps_the_resolved_config(trained):
    run, data, out = trained
    records = run.metrics()
    assert len(records) == 4
    assert records[-1]["val_elbo"] > records[0]["val_elbo"] + 1.0, [r["val_elbo"] for r in records]
    assert records[-1]["train_elbo"] > records[0]["train_elbo"]
    stored = parse_config(load_yaml((out / "config.yaml").read_text(), "config.yaml"))
    model = stored.model
    assert model.likelihood.name == "tokens" and model.likelihood.vocab_size == data.codec.vocab_size
    assert model.encoder.vocab_size == model.decoder.vocab_size == data.codec.vocab_size
    assert model.likelihood.max_length == data.shape[0] and model.decoder.word_dropout == 0.25


@torch.no_grad()
def test_a_loaded_run_gives_identical_log_probs(trained):
    run, data, out = trained
    again = load_run(out)
    batch = data.test.batch(torch.arange(8))
    z = run.model.encode(batch).mu
    a = run.model.decode(z).log_prob(batch.x)
    torch.testing.assert_close(again.model.decode(z).log_prob(batch.x), a, rtol=0, atol=0)
    assert again.codec == data.codec  # the vocabulary came back with the weights


@torch.no_grad()
def test_importance_weights_bound_the_likelihood_above_the_elbo(trained):
    run, data, _ = trained
    batch = data.test.batch(torch.arange(16))
    log_w = seeded(lambda: run.model.log_weights(batch, 50))
    assert log_w.shape == (50, 16) and bool(torch.isfinite(log_w).all())
    bound = log_mean_exp(log_w)  # the 50-sample bound, per example
    elbo = torch.stack([seeded(lambda: run.model(batch).elbo, seed=s) for s in range(10)]).mean(0)
    assert float(bound.mean()) >= float(elbo.mean())
    assert float(bound.mean()) < 0  # a log-probability of discrete data


@torch.no_grad()
def test_samples_are_ids_the_codec_decodes_to_sentences(trained):
    run, data, _ = trained
    ids = run.model.sample(12, generator=torch.Generator().manual_seed(0))
    assert ids.shape == (12, data.shape[0]) and ids.dtype == torch.long
    assert bool((ids >= 0).all()) and bool((ids < data.codec.vocab_size).all())
    lines = data.codec.decode(ids)
    assert len(lines) == 12 and sum(bool(line.strip()) for line in lines) >= 6
    words = set(" ".join(corpus(240)).split())
    assert all(w in words or w == "<unk>" for line in lines for w in line.split())
    ended = (ids == EOS_ID).long().cumsum(-1) > 0
    assert bool((ids[ended & (ids != EOS_ID)] == PAD_ID).all())  # only pads after <eos>


def test_the_summary_counts_active_units_of_the_text_model(trained):
    run, _, _ = trained
    summary = run.summary()
    assert summary["status"] == "complete" and summary["latent_dim"] == 4
    assert 0 <= summary["val_active_units"] <= 4 and not math.isnan(summary["num_params"])


def test_a_transformer_vae_trains_end_to_end(tmp_path):
    import vaekit

    data = text_dataset(corpus(240), corpus(40, seed=1), max_length=10)
    config = text_config("vae", "transformer", train={"epochs": 3}, word_dropout=0.25)
    run = vaekit.train(config, tmp_path / "run", dataset=data, log=lambda msg: None)
    records = run.metrics()
    assert records[-1]["val_elbo"] > records[0]["val_elbo"] + 1.0, [r["val_elbo"] for r in records]
    assert run.config.model.encoder.vocab_size == data.codec.vocab_size
    assert len(data.codec.decode(run.model.sample(4))) == 4


def test_the_text_preset_trains_on_the_shipped_sentences(tmp_path):
    """configs/text.yaml through the text data set, at a tiny size: the vocabulary fills the config,
    and the loaded run decodes its own samples with the codec stored with it."""
    from pathlib import Path

    import vaekit

    root = Path(__file__).parents[2]
    tiny = ["train.epochs=1", "train.report=false", "train.progress=false", "train.device=cpu", "model.latent_dim=4",
            *(f"model.{p}.{k}={v}" for p in ("encoder", "decoder") for k, v in (("embedding_size", 8), ("hidden_size", 16))),
            f"data.path={root / 'tests/data/fixtures/sentences.txt'}"]
    config = vaekit.load_config(root / "configs/text.yaml", tiny)
    run = vaekit.train(config, tmp_path / "run", log=lambda msg: None)
    again = load_run(tmp_path / "run")
    assert again.config.model.likelihood.vocab_size == again.codec.vocab_size == run.dataset().codec.vocab_size
    lines = again.codec.decode(again.model.sample(3, generator=torch.Generator().manual_seed(0)))
    assert len(lines) == 3 and all(isinstance(line, str) for line in lines)
