"""The figures of a text run (`vaekit evaluate --metrics text`, and the likelihood group's
per-token figures), from the pure metrics of `vaekit.evaluate.text_metrics`.

- Per token: the importance-sampled NLL summed over the split's sentences, divided by their
  tokens, `<eos>` included and padding never (the positions the likelihood sums over; Penn
  Treebank perplexities count the `<eos>` too), in nats and bits, and `perplexity`, e to the nats
  per token. `num_dims`, the L positions of the padded layout, would divide by padding.
- Reconstructions: the greedy decoding at each sentence's posterior mean (`vaekit.sample.reconstruct`)
  against the sentence: `token_accuracy`, the share of its tokens (with `<eos>`) found at the same
  position, and `sentence_accuracy`, the share of sentences given back exactly.
- Samples: as many sentences as the split has (distinct-n falls as a corpus grows, so the
  samples are compared with a corpus of the same size), decoded as `vaekit sample` decodes them
  by default, seeded: greedy decodes of prior draws, or for a language model, which has no code,
  word-by-word draws (`sample_decoding` says which): `distinct_1` and `distinct_2` (Li et al. 2016,
  https://arxiv.org/abs/1510.03055) and `sample_length` in tokens without `<eos>`, each beside the
  same figure of the split's own sentences (`*_real`). A collapsed model repeats one sentence:
  its distinct-n falls far below the real one's. A conditional run (a text cvae) reconstructs
  each sentence with its class and decodes its samples with the split's classes, one per sentence.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from vaekit.contract import EOS_ID, PAD_ID
from vaekit.evaluate.text_metrics import distinct_n, perplexity, strip, token_accuracy
from vaekit.sample.ops import reconstruct
from vaekit.sample.text import DECODE_BATCH, default_decode, sample_ids

DISTINCT = (1, 2)  # distinct-n for these n


def is_text_run(run) -> bool:
    """Whether `run` was trained on text (its codec's modality)."""
    return run.codec.modality == "text"


def text_only(run) -> str | None:
    """Why the text group does not apply to `run`, or None."""
    if not is_text_run(run):
        return f"it measures sentences, and this run models {run.codec.modality} data (data.name=text, ptb or wordnet)"
    return None


def not_for_text(run) -> str | None:
    """Why the fidelity group does not apply to `run` (a text run), or None."""
    if is_text_run(run):
        return ("its errors compare numbers, and a text run's examples are token ids; the text group measures "
                "reconstructions by token accuracy (--metrics text)")
    return None


def tokens_per_sentence(x: torch.Tensor) -> torch.Tensor:
    """Tokens of each sentence of ids (N, L), `<eos>` included: (N,)."""
    return (x != PAD_ID).sum(-1)


def per_token_figures(nll: torch.Tensor, x: torch.Tensor) -> dict[str, Any]:
    """The likelihood group's figures per token of a text run: the summed NLL (N,) of sentences
    x (N, L) over their tokens, in nats and bits, and the number of tokens."""
    tokens = tokens_per_sentence(x)
    nats = math.log(perplexity(nll, tokens))  # sum of NLLs / tokens, computed once, in float64
    return {"num_tokens": int(tokens.sum()), "nll_nats_per_token": nats, "nll_bits_per_token": nats / math.log(2)}


@torch.no_grad()
def text_figures(run, x: torch.Tensor, nll: torch.Tensor | None, seed: int,
                 y: torch.Tensor | None = None) -> dict[str, Any]:
    """The text group's figures on sentences x (N, L) (see the module); `nll`, the per-sentence
    NLL (N,), gives the perplexity (None for a family without a likelihood bound); `y`, the
    sentences' classes, which a conditional run reconstructs them with."""
    model = run.model
    out: dict[str, Any] = {}
    if nll is not None:
        out["perplexity"] = perplexity(nll, tokens_per_sentence(x))
    if model.traits.latent:  # a model with an encoder reconstructs
        cut = [slice(i, i + DECODE_BATCH) for i in range(0, len(x), DECODE_BATCH)]
        recon = torch.cat([reconstruct(model, x[c], None if y is None else y[c]) for c in cut])
        out["token_accuracy"] = token_accuracy(recon, x.cpu(), PAD_ID)
        given, back = strip(x.cpu(), EOS_ID, PAD_ID), strip(recon, EOS_ID, PAD_ID)
        out["sentence_accuracy"] = sum(a == b for a, b in zip(given, back)) / len(given)
    ids, _ = sample_ids(model, len(x), seed=seed, y=y if model.traits.conditional else None)  # the split's classes
    samples, real = strip(ids, EOS_ID, PAD_ID), strip(x.cpu(), EOS_ID, PAD_ID)
    out.update(num_samples=len(samples), sample_decoding=default_decode(model))
    for name, seqs in (("", samples), ("_real", real)):
        for n in DISTINCT:
            out[f"distinct_{n}{name}"] = distinct_n(seqs, n)
        out[f"sample_length{name}"] = sum(map(len, seqs)) / len(seqs)
    return out
