"""What a text run's report shows in place of pictures: sentences. Samples (greedy decodes of
prior draws, as `vaekit sample` writes them), reconstructions beside their inputs, homotopies
between pairs of sentences (Bowman et al. 2016, table 8) and latent traversals, each a part of
the page as (anchor, title, HTML); `vaekit.report.page` puts them in its sections."""

from __future__ import annotations

from html import escape

import torch

from vaekit.data.base import Split
from vaekit.evaluate.latents import kl_per_dim
from vaekit.run import Run
from vaekit.sample.ops import encode, gaussian_posterior, traverse
from vaekit.sample.text import interpolate_text, reconstruct_text, sample_text

NUM_SAMPLES = 20
NUM_RECONSTRUCTIONS = 12
PAIRS, STEPS = 4, 7  # homotopies: pairs of the subset, decodings per line
TRAVERSAL_VALUES = (-2.0, -1.0, 0.0, 1.0, 2.0)  # prior standard deviations
MAX_TRAVERSED = 5  # latent dimensions traversed (those with the largest KL): columns of sentences

Part = tuple[str, str, str]  # (anchor, title, HTML)


def _note(text: str) -> str:
    return f'<p class="note">{escape(text)}</p>'


def _figure(body: str, caption: str) -> str:
    return f"<figure>{body}<figcaption>{escape(caption)}</figcaption></figure>"


def _list(sentences: list[str]) -> str:
    return "<ol>" + "".join(f"<li>{escape(s)}</li>" for s in sentences) + "</ol>"


def _grid(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def text_parts(run: Run, sub: Split, split: str, seed: int) -> list[Part]:
    """Samples, reconstructions, interpolations and traversals of a text run, as sentences; the
    examples come from `sub`, a seeded subset of `split`."""
    model, x, y = run.model, sub.x, sub.y  # y: the classes a conditional run reads each sentence with
    parts = [("samples", "Samples", _samples(run, seed))]
    rest = (("reconstructions", "Reconstructions"), ("interpolations", "Interpolations"),
            ("traversals", "Latent traversals"))
    if not model.traits.latent:
        why = _note(f"Not shown: model '{run.config.model.name}' is a language model with no latent code, so "
                    f"there is nothing to encode a sentence into, move along or decode from.")
        return parts + [(i, t, why) for i, t in rest]
    if len(x) == 0:
        empty = _note(f"The {split} split is empty; there is nothing to reconstruct.")
        return parts + [(i, t, empty) for i, t in rest]
    n = min(NUM_RECONSTRUCTIONS, len(x))
    pairs = reconstruct_text(run, x[:n], y=_first(y, n))
    how = "the greedy decoding at its posterior mean" if gaussian_posterior(model) else "decoded from its codes"
    parts.append(("reconstructions", "Reconstructions",
                  _figure(_grid(["input", "reconstruction"], [list(p) for p in pairs]),
                          f"{n} {split} sentences as the model reads them (<unk> for a word outside the vocabulary), "
                          f"each beside its reconstruction ({how}).")))
    parts.append(("interpolations", "Interpolations", _interpolations(run, x, y, split)))
    parts.append(("traversals", "Latent traversals", _traversals(run, x[:1], _first(y, 1))))
    return parts


def _first(y: torch.Tensor | None, n: int) -> torch.Tensor | None:
    return None if y is None else y[:n]


def _samples(run: Run, seed: int) -> str:
    if run.model.traits.latent:
        how = (f"{NUM_SAMPLES} codes drawn from the prior (seed {seed}), each decoded greedily: the likeliest word at "
               f"each step, as vaekit sample writes them to samples.txt.")
        if run.model.traits.conditional:
            how += f" The {run.model.num_classes} classes take turns, in blocks from class 0 down."
    else:
        how = (f"{NUM_SAMPLES} sentences drawn word by word from the language model (seed {seed}), as vaekit sample "
               f"writes them to samples.txt: without a code, greedy decoding would give one sentence.")
    body = _figure(_list(sample_text(run, NUM_SAMPLES, seed=seed)), how)
    tc = run.config.train
    if tc.sample_sampler != "prior":  # the codes the end of training drew samples.txt with, beside the prior's
        from vaekit.sample.samplers import fitted_sampler

        train = run.dataset().train
        sampler = fitted_sampler(run.model, tc.sample_sampler, train.x, train.y, tc.sample_components)
        body += _figure(_list(sample_text(run, NUM_SAMPLES, seed=seed, sampler=sampler)),
                        f"{NUM_SAMPLES} codes drawn from a {tc.sample_components}-component Gaussian mixture fitted to "
                        f"the training codes (train.sample_sampler={tc.sample_sampler}), decoded the same way.")
    return body


def _interpolations(run: Run, x: torch.Tensor, y: torch.Tensor | None, split: str) -> str:
    half = min(PAIRS, len(x) // 2)
    if half == 0:
        return _note(f"The {split} subset has fewer than 2 sentences; nothing to interpolate.")
    ya, yb = (None, None) if y is None else (y[:half], y[half:2 * half])
    blocks = interpolate_text(run, x[:half], x[half:2 * half], STEPS, ya=ya, yb=yb)
    ends = run.codec.decode(x[:2 * half])
    figures = [_figure(_list(block), f"from: {ends[i]} / to: {ends[half + i]}") for i, block in enumerate(blocks)]
    intro = (f"Each list decodes {STEPS} evenly spaced points on the straight line between the posterior means of "
             f"two {split} sentences, greedily (the homotopies of Bowman et al. 2016, table 8); the ends are the two "
             f"sentences' reconstructions.")
    return f"<p>{escape(intro)}</p>" + "".join(figures)


def _traversals(run: Run, x: torch.Tensor, y: torch.Tensor | None) -> str:
    model = run.model
    if not gaussian_posterior(model):
        return _note(f"Not shown: the {run.config.model.name} posterior is a point mass on its codes, not a Gaussian, "
                     "so it has no standard deviations to step through.")
    mu, logvar = encode(model, x, y=y)
    dims = sorted(torch.argsort(kl_per_dim(mu, logvar), descending=True)[:MAX_TRAVERSED].tolist())
    columns = {d: run.codec.decode(traverse(model, x, d, TRAVERSAL_VALUES, units="prior", y=y)[0]) for d in dims}
    rows = [[f"{v:g}", *(columns[d][i] for d in dims)] for i, v in enumerate(TRAVERSAL_VALUES)]
    caption = (f"One sentence ({run.codec.decode(x)[0]}), encoded to its posterior mean; each column sets one latent "
               f"dimension to the row's number of prior standard deviations around the prior's mean while the others "
               f"stay fixed, and decodes greedily. Shown: the {len(dims)} of {mu.shape[1]} dimensions with the largest "
               f"KL for this sentence. A column whose sentence never changes is a dimension the decoder ignores.")
    return _figure(_grid(["value", *(f"z{d}" for d in dims)], rows), caption)
