"""The language-model family (`lm`): the text VAE's decoder without z. Its log p(x) is checked
against the chain rule computed one prefix at a time, its importance-sampled NLL is exact, it
trains through vaekit.train, and the tools that need a latent refuse it in one line."""

from __future__ import annotations

import pytest
import torch

from text_helpers import TINY_SEQUENCE_NETWORKS, corpus, text_dataset
from vaekit.config import parse_config
from vaekit.contract import BOS_ID, PAD_ID
from vaekit.errors import ConfigError
from vaekit.evaluate.nll import importance_nll
from vaekit.models import build_model
from vaekit.train.prepare import for_data

DATA = text_dataset(corpus(120), corpus(30, seed=1), max_length=10)


def lm_config(network: str = "rnn", **extra):
    return parse_config({
        "model": {"name": "lm", "decoder": dict(TINY_SEQUENCE_NETWORKS[network])},
        "train": {"epochs": 3, "batch_size": 16, "lr": 3e-3, "report": False, "sample_grid": 0, "progress": False,
                  "device": "cpu"}, **extra})


def build(network: str = "rnn"):
    torch.manual_seed(0)
    return build_model(for_data(lm_config(network), DATA).model, DATA.shape)


@pytest.mark.parametrize("network", sorted(TINY_SEQUENCE_NETWORKS))
@torch.no_grad()
def test_log_p_is_the_chain_rule_over_prefixes(network):
    """Teacher forcing in one pass equals sum_t log p(x_t | x_<t) with each prefix run on its own."""
    model = build(network).eval()
    x = DATA.test.x[:5]
    fast = model(x).recon
    px = model.generate(5)  # p(x), bound to 5 empty codes
    slow = torch.zeros(5, dtype=torch.float64)
    for i in range(5):
        row = x[i][x[i] != PAD_ID]
        prefix = torch.tensor([BOS_ID])
        for token in row.tolist():
            logits = px.step_logits(prefix.unsqueeze(0).expand(5, -1))[i, -1]
            slow[i] += float(torch.log_softmax(logits.double(), -1)[token])
            prefix = torch.cat([prefix, torch.tensor([token])])
    torch.testing.assert_close(fast.double(), slow, rtol=1e-5, atol=1e-4)


@torch.no_grad()
def test_the_terms_have_no_kl_and_the_importance_nll_is_exact():
    model = build().eval()
    x = DATA.test.x[:8]
    terms = model(x)
    assert terms.kl.shape == (8,) and bool((terms.kl == 0).all())
    log_w = model.log_weights(x, 7)
    assert log_w.shape == (7, 8)
    torch.testing.assert_close(log_w, terms.recon.expand(7, -1))
    torch.testing.assert_close(importance_nll(model, x, num_samples=20, batch_size=4), -terms.recon.double(),
                               rtol=1e-6, atol=1e-6)


def test_the_lm_decoder_is_the_vae_decoder_less_z():
    """Same sizes, same layers: the parameters differ by the weights that read z alone."""
    from text_helpers import text_config

    lm = build()
    vae_config = for_data(text_config("vae"), DATA).model
    vae = build_model(vae_config, DATA.shape)
    lm_shapes = {k: v.shape for k, v in lm.decoder.state_dict().items()}
    vae_shapes = {k: v.shape for k, v in vae.decoder.state_dict().items()}
    assert lm_shapes.keys() == vae_shapes.keys()
    differ = {k for k in lm_shapes if lm_shapes[k] != vae_shapes[k]}
    latent = vae_config.latent_dim
    for k in differ:  # only input widths that include z: init's input and the RNN's first input matrix
        assert vae_shapes[k][1] - lm_shapes[k][1] == latent, (k, lm_shapes[k], vae_shapes[k])


def test_it_trains_and_samples_sentences(tmp_path):
    import vaekit

    data = text_dataset(corpus(240), corpus(40, seed=1), corpus(40, seed=2), max_length=10)
    run = vaekit.train(lm_config(), tmp_path / "lm", dataset=data, log=lambda msg: None)
    records = run.metrics()
    assert records[-1]["val_elbo"] > records[0]["val_elbo"] + 1.0
    summary = run.summary()
    assert summary["latent_dim"] == 0 and summary["val_active_units"] == 0
    ids = run.model.sample(6, generator=torch.Generator().manual_seed(0))
    assert ids.shape == (6, data.shape[0])
    lines = data.codec.decode(ids)
    assert len(lines) == 6 and len(set(lines)) > 1  # drawn, not one greedy sentence six times
    again = vaekit.load_run(tmp_path / "lm")
    x = data.test.x[:4]
    torch.testing.assert_close(again.model(x).recon, run.model.eval()(x).recon, rtol=0, atol=0)


def test_tools_that_need_a_latent_refuse_it_in_one_line():
    model = build()
    for call in (lambda: model.encode(DATA.test.x[:2]), lambda: model.reconstruct(DATA.test.x[:2]),
                 lambda: model.decode(torch.zeros(2, 4))):
        with pytest.raises(ConfigError, match="no latent code"):
            call()


@pytest.mark.parametrize("extra, match", [
    ({"objective": {"beta": 0.5}}, "beta"),
    ({"train": {"aggressive": True, "epochs": 1, "report": False, "progress": False}}, "no latent code"),
])
def test_settings_for_a_latent_are_refused(tmp_path, extra, match):
    import vaekit

    config = lm_config(**extra)
    with pytest.raises(ConfigError, match=match):
        vaekit.train(config, tmp_path / "x", dataset=DATA, log=lambda msg: None)


def test_an_lm_on_images_or_with_an_mlp_is_refused():
    with pytest.raises(ConfigError):
        build_model(parse_config({"model": {"name": "lm", "decoder": {"name": "mlp"}}}).model, (10,))
