"""The sequence networks over token ids (vaekit/nn/recurrent.py, transformer.py): shapes with one
and with (S, B) codes, causality of the decoder, padding invariance of the encoder, word dropout
through the tokens likelihood, and the config errors."""

from __future__ import annotations

import pytest
import torch

from text_helpers import TINY_SEQUENCE_NETWORKS
from vaekit.config import parse_config
from vaekit.contract import BOS_ID, EOS_ID, PAD_ID, UNK_ID
from vaekit.distributions.tokens import Tokens, TokensConfig
from vaekit.errors import ConfigError, InputError
from vaekit.models import build_model
from vaekit.nn.sequence import BoundDecoder
from vaekit.registry import NETWORKS

V, L, D = 11, 9, 5
NETWORK_NAMES = sorted(n for n in NETWORKS.names() if getattr(NETWORKS.get(n), "tokens", False))
# (network, extra settings): both cells of the RNN, stacked; the Transformer's two poolings.
VARIANTS = [
    ("rnn", {"cell": "gru"}), ("rnn", {"cell": "lstm", "layers": 2}), ("rnn", {"bidirectional": False}),
    *((("transformer", {"pooling": p}) for p in ("mean", "cls")) if "transformer" in NETWORK_NAMES else ()),
]
IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for n, kw in VARIANTS]


def network_config(name: str, **kw):
    raw = {**TINY_SEQUENCE_NETWORKS[name], "vocab_size": V, **kw}
    return parse_config({"model": {"encoder": raw}}).model.encoder


def encoder(name, out=6, **kw):
    torch.manual_seed(0)
    return NETWORKS.get(name).encoder(network_config(name, **kw), (L,), out).eval()


def decoder(name, **kw):
    torch.manual_seed(0)
    return NETWORKS.get(name).decoder(network_config(name, **kw), D, (V,)).eval()


def tokens(rows: list[list[int]], length: int = L) -> torch.Tensor:
    """Rows of word ids, each ended by <eos> and padded."""
    x = torch.full((len(rows), length), PAD_ID, dtype=torch.long)
    for i, r in enumerate(rows):
        x[i, : len(r) + 1] = torch.tensor([*r, EOS_ID])
    return x


ROWS = [[4, 5, 6, 7], [8], [9, 10, 4, 5, 6, 7, 8]]


def test_every_sequence_network_is_covered():
    assert {"rnn"} <= set(NETWORK_NAMES) and set(NETWORK_NAMES) <= set(TINY_SEQUENCE_NETWORKS)
    assert not NETWORKS.get("mlp").tokens and not NETWORKS.get("conv").tokens


@pytest.mark.parametrize("name, kw", VARIANTS, ids=IDS)
def test_encoder_and_decoder_shapes(name, kw):
    x = tokens(ROWS)
    assert encoder(name, **kw)(x).shape == (3, 6)
    dec = decoder(name, **kw)
    bound = dec(torch.randn(3, D))
    assert isinstance(bound, BoundDecoder) and bound.lead_shape == (3,)
    assert bound.step_logits(x).shape == (3, L, V)
    z = torch.randn(4, 3, D)  # (S, B, D): S codes per example
    inputs = x.expand(4, 3, L)
    logits = dec(z).step_logits(inputs)
    assert logits.shape == (4, 3, L, V)
    torch.testing.assert_close(logits[2], dec(z[2]).step_logits(x))  # each sample decoded as its own batch
    torch.testing.assert_close(logits, dec(z).step_logits(x))  # inputs broadcast over the samples


@pytest.mark.parametrize("name, kw", VARIANTS, ids=IDS)
def test_decoder_is_causal(name, kw):
    """The logits at position t read inputs[..., :t+1] only: changing every input after t leaves
    them, and everything before, as they were."""
    dec = decoder(name, **kw)
    z = torch.randn(3, D)
    g = torch.Generator().manual_seed(1)
    inputs = torch.randint(4, V, (3, L), generator=g)
    base = dec(z).step_logits(inputs)
    for t in range(L - 1):
        changed = inputs.clone()
        changed[:, t + 1:] = torch.randint(4, V, (3, L - t - 1), generator=g)
        out = dec(z).step_logits(changed)
        torch.testing.assert_close(out[:, : t + 1], base[:, : t + 1], rtol=1e-5, atol=1e-5)
        assert not torch.allclose(out[:, t + 1:], base[:, t + 1:])  # the later positions do read them


@pytest.mark.parametrize("name, kw", VARIANTS, ids=IDS)
def test_decoder_reads_z(name, kw):
    """z changes the logits at every position, the last one included (it enters every step)."""
    dec = decoder(name, **kw)
    inputs = tokens(ROWS)
    a, b = dec(torch.randn(3, D)).step_logits(inputs), dec(torch.randn(3, D)).step_logits(inputs)
    assert ((a - b).abs().amax(-1) > 1e-4).all()


@pytest.mark.parametrize("name, kw", VARIANTS, ids=IDS)
def test_encoder_ignores_padding(name, kw):
    """Appending pads (a longer batch, a wider split) leaves each row's output as it was, and a row
    encodes the same alone or beside longer rows."""
    enc = encoder(name, **kw)
    x = tokens(ROWS)
    out = enc(x)
    torch.testing.assert_close(enc(tokens(ROWS, length=L + 6)), out, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(enc(tokens(ROWS[1:2], length=2)), out[1:2], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(out[0], out[1])  # and the rows do differ


@pytest.mark.parametrize("name, kw", VARIANTS, ids=IDS)
def test_encoder_reads_the_whole_sequence(name, kw):
    """Changing the first or the last word changes the code (a bidirectional encoder's forward
    state alone would still see both; this catches one that drops a direction or a position)."""
    enc = encoder(name, **kw)
    x = tokens(ROWS)
    first, last = x.clone(), x.clone()
    first[:, 0] = UNK_ID
    last[0, 3] = UNK_ID  # the last word of row 0
    out = enc(x)
    assert not torch.allclose(enc(first), out) and not torch.allclose(enc(last)[0], out[0])


@pytest.mark.parametrize("name", NETWORK_NAMES)
def test_word_dropout_replaces_words_at_its_rate_in_training_only(name):
    """Bowman et al. 2016: the teacher-forced inputs the decoder reads have each word replaced by
    <unk> with probability word_dropout, never <bos> or <pad>; in eval mode none."""
    rate = 0.3
    dec = decoder(name, word_dropout=rate)
    likelihood = Tokens(TokensConfig(vocab_size=V), (40,))
    seen = []
    real = dec.logits

    def recording(z, inputs, keep=None):
        seen.append(inputs)
        return real(z, inputs, keep)

    dec.logits = recording
    g = torch.Generator().manual_seed(0)
    n = 400
    lengths = torch.randint(1, 40, (n,), generator=g)
    x = torch.randint(4, V, (n, 40), generator=g)
    x[torch.arange(40) >= lengths[:, None]] = PAD_ID
    x[torch.arange(n), lengths - 1] = EOS_ID
    dist = likelihood(dec.train()(torch.randn(n, D)))
    dist.log_prob(x)
    teacher = dist.teacher_inputs(x)
    got = seen[-1]
    words = (teacher != BOS_ID) & (teacher != PAD_ID)
    dropped = (got != teacher)
    assert bool((got[dropped] == UNK_ID).all()) and not bool(dropped[~words].any())
    frac, m = dropped[words].float().mean().item(), int(words.sum())
    assert abs(frac - rate) < 4 * (rate * (1 - rate) / m) ** 0.5, frac
    likelihood(dec.eval()(torch.randn(n, D))).log_prob(x)
    assert torch.equal(seen[-1], teacher)  # eval: the inputs as they are


def test_word_dropout_zero_never_touches_the_inputs():
    dec = decoder("rnn").train()
    seen = []
    real = dec.logits
    dec.logits = lambda z, inputs, keep=None: seen.append(inputs) or real(z, inputs, keep)
    x = tokens(ROWS)
    dist = Tokens(TokensConfig(vocab_size=V), (L,))(dec(torch.randn(3, D)))
    dist.log_prob(x)
    assert torch.equal(seen[-1], dist.teacher_inputs(x))


@pytest.mark.parametrize("name", NETWORK_NAMES)
def test_vocab_size_left_at_zero_names_the_fix(name):
    cfg = network_config(name, vocab_size=0)
    with pytest.raises(ConfigError, match=r"model.encoder.vocab_size is 0.*data.name=text"):
        NETWORKS.get(name).encoder(cfg, (L,), 4)
    with pytest.raises(ConfigError, match=r"model.decoder.vocab_size is 0"):
        NETWORKS.get(name).decoder(cfg, D, (V,))
    with pytest.raises(ConfigError, match="4 special tokens"):
        NETWORKS.get(name).encoder(network_config(name, vocab_size=4), (L,), 4)


@pytest.mark.parametrize("name", NETWORK_NAMES)
def test_shapes_that_are_not_token_sequences_are_config_errors(name):
    cfg = network_config(name)
    with pytest.raises(ConfigError, match=r"shape \(L,\).*\[1, 8, 8\]"):
        NETWORKS.get(name).encoder(cfg, (1, 8, 8), 4)
    with pytest.raises(ConfigError, match="model.likelihood.name=tokens"):
        NETWORKS.get(name).decoder(cfg, D, (L,))  # the parameters of a Bernoulli over L numbers
    with pytest.raises(ConfigError, match=f"vocab_size={V}"):
        NETWORKS.get(name).decoder(cfg, D, (V + 1,))  # another vocabulary's logits


@pytest.mark.parametrize("name", NETWORK_NAMES)
def test_float_inputs_are_an_input_error(name):
    with pytest.raises(InputError, match="token ids"):
        encoder(name)(torch.rand(3, L))


@pytest.mark.parametrize("name", NETWORK_NAMES)
def test_sequence_networks_refuse_other_data_through_the_model(name):
    raw = {"name": "vae", "encoder": {**TINY_SEQUENCE_NETWORKS[name], "vocab_size": V},
           "decoder": {**TINY_SEQUENCE_NETWORKS[name], "vocab_size": V}}
    with pytest.raises(ConfigError, match=f"model.decoder.name={name} reads token sequences"):
        build_model(parse_config({"model": {**raw, "encoder": {"name": "mlp"}}}).model, (L,))
    with pytest.raises(ConfigError, match=f"model.encoder.name={name} reads token sequences"):
        build_model(parse_config({"model": raw}).model, (L,))
    tokens_lik = {"name": "tokens", "vocab_size": V}
    with pytest.raises(ConfigError, match="model.encoder.name=mlp cannot read token sequences"):
        build_model(parse_config({"model": {**raw, "encoder": {"name": "mlp"}, "likelihood": tokens_lik}}).model, (L,))
    with pytest.raises(ConfigError, match="model.decoder.name=mlp cannot read token sequences"):
        build_model(parse_config({"model": {**raw, "decoder": {"name": "mlp"}, "likelihood": tokens_lik}}).model, (L,))
