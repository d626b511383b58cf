"""One self-contained HTML page per run: metrics, training curves and pictures.

The page needs nothing but itself: the charts are inline SVG, the images PNG data URIs and the
style a few lines of inline CSS, so it opens offline and can be mailed or archived as one file.
Parts that do not apply to a run (images for vector data, standard deviations for a point-mass
posterior) are replaced by a sentence saying why. A table run's pictures are its columns instead:
histograms of real and synthetic rows and a heat map of how differently pairs of columns go together.
A text run's are sentences (`vaekit.report.text`): samples, reconstructions beside their inputs,
homotopies and traversals.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import math
import re
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import torch

from vaekit.errors import OutputError
from vaekit.evaluate.latents import kl_per_dim
from vaekit.evaluate.table_group import is_table_run, split_rows, table_kinds
from vaekit.evaluate.text_group import is_text_run
from vaekit.report import pictures as pic
from vaekit.report import table as tab
from vaekit.report.svg import bar_chart, heat_map, line_chart, overlaid_bars, scatter
from vaekit.report.text import text_parts
from vaekit.run import Run, load_run
from vaekit.sample.ops import encode, gaussian_posterior
from vaekit.sample.samplers import fitted_sampler
from vaekit.files import read_json, write_text

REPORT = "report.html"
BOOKKEEPING = ("measured", "weights_sha256")  # eval_SPLIT.json keys about the figures, shown apart
MEASURED = ("at", "num_examples", "limit", "seed", "importance_samples", "seconds")  # per metric group
TRAVERSAL_VALUES = (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0)  # prior standard deviations
MAX_TRAVERSED = 10  # latent dimensions traversed: those with the largest KL

CSS = """
body { font-family: sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { font-size: 1.2em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
h3 { font-size: 1em; }
nav a { margin-right: 1em; }
table { border-collapse: collapse; font-size: 0.9em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 0.2em 0.6em; text-align: left; vertical-align: middle; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { image-rendering: pixelated; border: 1px solid #ddd; max-width: 100%; }
.charts { display: flex; flex-wrap: wrap; gap: 1em; }
.note { color: #555; font-style: italic; }
code { background: #f3f3f3; padding: 0 0.2em; }
figure { margin: 0.5em 0; }
figcaption { color: #555; font-size: 0.9em; max-width: 60em; }
"""


@dataclass
class Section:
    """One part of the page: its anchor, its heading and its HTML."""

    id: str
    title: str
    body: str


def make_report(run: Run | str | Path, out: str | Path | None = None, *, map_method: str = "pca",
                split: str = "test", limit: int = 2000, seed: int = 0) -> Path:
    """Write the report of a run, a self-contained HTML page, and return its path.

    `run` is a loaded `Run` or a run directory. The page goes to `out`, by default
    RUN/report.html; an existing folder as `out` gets report.html inside it. The latent map and the per-dimension KL use the posterior means of a
    seeded random subset of `limit` examples of `split`; `map_method` is 'pca' or 'tsne'.
    """
    run = run if isinstance(run, Run) else load_run(run)
    path = Path(out) if out is not None else run.output_dir(REPORT) / REPORT  # before the slow part
    html = render_report(run, map_method=map_method, split=split, limit=limit, seed=seed)
    if path.is_dir():  # as cp does: a folder receives the file
        path = path / REPORT
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create '{path.parent}' ({e.strerror}); choose another --out") from None
    write_text(path, html)
    return path


def render_report(run: Run, *, map_method: str = "pca", split: str = "test", limit: int = 2000,
                  seed: int = 0) -> str:
    """The report page of a loaded run as an HTML string (see `make_report`)."""
    if map_method not in ("pca", "tsne"):
        raise ValueError(f"unknown latent map '{map_method}'; choose pca or tsne")
    data = run.dataset()
    sub = pic.subset(data.split(split), limit, seed)
    sections = [_overview(run), _metrics(run), _curves(run.metrics())]
    if is_table_run(run):
        sections += _table_pictures(run, split, limit, seed)
    elif is_text_run(run):
        sections += [Section(*part) for part in text_parts(run, sub, split, seed)]
    else:
        sections += _pictures(run, sub, split, data.num_classes, seed)
    sections += _latents(run, sub, split, map_method, seed)
    return _page(run, sections)


# ----------------------------------------------------------------------------- building blocks


def _note(text: str) -> str:
    """A sentence in place of a part that does not apply; `command` spans become <code>."""
    html = re.sub(r"`([^`]+)`", r"<code>\1</code>", escape(text))
    return f'<p class="note">{html}</p>'


def _value(v: Any) -> str:
    if isinstance(v, float):
        return "inf" if math.isinf(v) and v > 0 else "-inf" if math.isinf(v) else f"{v:.6g}"
    if isinstance(v, (dict, list)):
        return escape(json.dumps(v))
    return escape(str(v))


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = [f"<th>{escape(str(row[0]))}</th>"]
        cells += [f'<td class="num">{_value(v)}</td>' if isinstance(v, (int, float)) and not isinstance(v, bool)
                  else f"<td>{_value(v) if v is not None else ''}</td>" for v in row[1:]]
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _image(data: bytes, alt: str, caption: str) -> str:
    uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    return f'<figure><img src="{uri}" alt="{escape(alt)}"><figcaption>{escape(caption)}</figcaption></figure>'


def _page(run: Run, sections: list[Section]) -> str:
    from vaekit.version import __version__

    name = escape(run.path.name or str(run.path))
    nav = " ".join(f'<a href="#{s.id}">{escape(s.title)}</a>' for s in sections)
    body = "\n".join(f'<section id="{s.id}">\n<h2>{escape(s.title)}</h2>\n{s.body}\n</section>' for s in sections)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>vaekit report: {name}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
            f"<h1>vaekit report: {name}</h1>\n<p>{escape(str(run.path))}</p>\n<nav>{nav}</nav>\n{body}\n"
            f"<footer><p class=\"note\">Written by vaekit {__version__}.</p></footer>\n</body>\n</html>\n")


# ----------------------------------------------------------------------------- sections


def _overview(run: Run) -> Section:
    # Every key of the model section, whatever the family: a nested section (encoder, prior, ...)
    # by its name, so that the table stays one screen long; config.yaml has the rest.
    rows = [[f"model.{f.name}", getattr(value, "name", value)] for f in dataclasses.fields(run.config.model)
            for value in [getattr(run.config.model, f.name)]]
    rows += [["data set", run.config.data.name], ["example shape", " x ".join(map(str, run.data_shape))],
             ["parameters", sum(p.numel() for p in run.model.parameters())]]
    return Section("overview", "Overview", _table(["", ""], rows))


def _metrics(run: Run) -> Section:
    parts = []
    summary = run.summary()
    if summary:
        parts.append("<h3>Training (summary.json)</h3>")
        parts.append(_table(["key", "value"], [[k, v] for k, v in summary.items()]))
    else:
        parts.append(_note("There is no summary.json: training has not finished (or was stopped)."))
    evals, broken = {}, []
    for path in sorted(run.path.glob("eval_*.json")):
        try:
            evals[path.name] = read_json(path, "")  # a JSON object, or CheckpointError (a ValueError)
        except (OSError, ValueError):
            broken.append(path.name)
    if evals:
        keys = list(dict.fromkeys(k for result in evals.values() for k in result if k not in BOOKKEEPING))
        parts.append("<h3>Evaluation (vaekit evaluate)</h3>")
        parts.append(_table(["figure", *evals], [[k, *(r.get(k) for r in evals.values())] for k in keys]))
        rows = [[name, group, *(record.get(k) for k in MEASURED)]
                for name, result in evals.items() if isinstance(result.get("measured"), dict)
                for group, record in result["measured"].items() if isinstance(record, dict)]
        if rows:
            parts.append(_table(["file", "metric group", *MEASURED], rows))
    else:
        parts.append(_note("No evaluation yet: run `vaekit evaluate RUN` for the ELBO, the importance-sampled "
                           "NLL and the active units, then write this report again."))
    if broken:
        parts.append(_note(f"Could not read {', '.join(broken)} (not valid JSON)."))
    return Section("metrics", "Metrics", "\n".join(parts))


def _curves(metrics: list[dict]) -> Section:
    charts = pic.training_curves(metrics)
    if not charts:
        return Section("curves", "Training curves", _note("metrics.jsonl has no epochs yet."))
    svgs = [line_chart(series, title=title, x_label="epoch") for title, series in charts.items()]
    intro = ("Per epoch: train_ figures are averages over the epoch's batches (of the training objective's "
             "terms), val_ figures the ELBO terms on the validation split, in nats per example.")
    return Section("curves", "Training curves", f"<p>{escape(intro)}</p>\n<div class=\"charts\">{''.join(svgs)}</div>")


def _pictures(run: Run, sub, split: str, num_classes: int | None, seed: int) -> list[Section]:
    """Samples, reconstructions, interpolations and traversals: image data only."""
    model, titles = run.model, ("Samples", "Reconstructions", "Interpolations", "Latent traversals")
    ids = ("samples", "reconstructions", "interpolations", "traversals")
    if len(run.data_shape) != 3:
        why = (f"The examples are vectors of shape {tuple(run.data_shape)}, not images, so there is nothing "
               "to draw here; `vaekit sample` and `vaekit reconstruct` write them as .npy arrays.")
        return [Section(i, t, _note(why)) for i, t in zip(ids, titles)]
    x, y = sub.x, sub.y
    images, nrow = pic.sample_images(model, 64, seed)
    cond = " One row per class, as in samples.png." if model.traits.conditional else ""
    body = _image(pic.png(images, nrow), "samples",
                  f"{len(images)} draws from the prior, decoded to the likelihood's mean (seed {seed}).{cond}")
    tc = run.config.train
    if tc.sample_sampler != "prior":  # the codes samples.png was drawn with, beside the prior's
        train = run.dataset().train
        sampler = fitted_sampler(model, tc.sample_sampler, train.x, train.y, tc.sample_components)
        images, nrow = pic.sample_images(model, 64, seed, sampler)
        body += _image(pic.png(images, nrow), "samples from the ex-post mixture",
                       f"{len(images)} draws whose codes come from a {tc.sample_components}-component Gaussian "
                       f"mixture fitted to the training codes (train.sample_sampler={tc.sample_sampler}, as in "
                       f"samples.png), decoded the same way.{cond}")
    out = [Section("samples", "Samples", body)]
    # A point-mass posterior (VQ-VAE) reconstructs from its quantised codes but interpolates
    # between the encoder outputs themselves, as `vaekit interpolate` does.
    gaussian = gaussian_posterior(model)
    n = min(16, len(x))
    pairs = pic.reconstruction_pairs(model, x[:n], None if y is None else y[:n])
    how = "the likelihood's mean at the posterior mean" if gaussian else "decoded from its quantised codes"
    out.append(Section("reconstructions", "Reconstructions", _image(pic.png(pairs, 16), "reconstructions",
                       f"{n} {split} examples, each followed by its reconstruction ({how}).")))
    if len(x) >= 2:
        paths = pic.interpolation_paths(model, x[:12], None if y is None else y[:12], 10)
        ends = "posterior means" if gaussian else "encoder outputs z_e (not quantised)"
        body = _image(pic.png(paths.reshape(-1, *run.data_shape), 10), "interpolations",
                      f"Each row decodes 10 evenly spaced points on the straight line between the {ends} "
                      f"of two {split} examples.")
    else:
        body = _note(f"The {split} subset has fewer than 2 examples; nothing to interpolate.")
    out.append(Section("interpolations", "Interpolations", body))
    out.append(Section("traversals", "Latent traversals", _traversals(run, x[:1], None if y is None else y[:1])))
    return out


def _table_pictures(run: Run, split: str, limit: int, seed: int) -> list[Section]:
    """Per-column histograms and the column-pair difference heat map: real rows of `split` (a
    seeded subset of `limit`) against as many synthetic rows."""
    from vaekit.sample.rows import synthesize

    _, real = split_rows(run, split, seed, limit if limit > 0 else None)
    kinds = table_kinds(run)
    if len(real) == 0:
        why = _note(f"The {split} split has no rows; there is nothing to compare synthetic rows with.")
        return [Section("columns", "Columns", why), Section("column-pairs", "Column pairs", why)]
    synth = synthesize(run, len(real), seed=seed)
    charts = []
    for h in tab.column_histograms(real, synth, kinds):
        missing = (f" ({100 * h.missing_real:.0f}% / {100 * h.missing_synthetic:.0f}% missing)"
                   if h.missing_real or h.missing_synthetic else "")
        charts.append(overlaid_bars({"real": h.real, "synthetic": h.synthetic}, h.labels, title=f"{h.name}{missing}",
                                    x_label=h.kind, y_label="share of rows"))
    caption = (f"Each column of {len(real)} {split} rows (real) and of {len(synth)} synthetic rows drawn from the prior "
               f"(seed {seed}), overlaid: numbers in {tab.BINS} equal-width bins over the range of both (each bar "
               f"labelled by its left edge), categories by their share, the {tab.MAX_CATEGORIES} most frequent in the "
               f"real rows one bar each ({tab.OTHER} pools the rest). Shares are of the non-missing cells; a title "
               f"gives the share of missing cells, real / synthetic, where there are any.")
    columns = Section("columns", "Columns",
                      f'<figure><div class="charts">{"".join(charts)}</div><figcaption>{escape(caption)}</figcaption></figure>')
    if len(kinds) < 2:
        return [columns, Section("column-pairs", "Column pairs", _note("The table has one column: no pairs."))]
    diff = tab.pair_differences(real, synth, kinds)
    chart = heat_map(diff.tolist(), list(kinds), title="Column-pair association difference, real vs synthetic")
    caption = ("Per pair of columns, how differently they go together in the real and the synthetic rows above, "
               "1 - the column-pair trends score: for two numeric columns |r_real - r_synth| / 2 (Pearson's "
               "correlations), for the other pairs the total-variation distance between the real and synthetic "
               "joint frequency tables (numbers binned into 10 bins on the real range). 0 (white) means the pair is "
               "associated alike, 1 (dark red) as differently as can be; blank cells are undefined (a constant "
               "column). The mean over the pairs is 1 - the column_pair_trends figure that `vaekit evaluate` "
               "computes (there with as many synthetic rows as training rows).")
    pairs = Section("column-pairs", "Column pairs", f"<figure>{chart}<figcaption>{escape(caption)}</figcaption></figure>")
    return [columns, pairs]


def _traversals(run: Run, x: torch.Tensor, y: torch.Tensor | None) -> str:
    model = run.model
    if not gaussian_posterior(model):
        return _note(f"Not drawn: the {run.config.model.name} posterior is a point mass on its codes, not a Gaussian, "
                     "so it has no standard deviations to step through.")
    if len(x) == 0:
        return _note("The split is empty; nothing to traverse.")
    mu, logvar = encode(model, x, y=y)
    kl = kl_per_dim(mu, logvar)
    dims = sorted(torch.argsort(kl, descending=True)[:MAX_TRAVERSED].tolist())
    rows = pic.traversal_rows(model, x, y, dims, TRAVERSAL_VALUES)
    body = [f'<tr><th>z{d}</th><td><img src="data:image/png;base64,'
            f'{base64.b64encode(pic.png(rows[d], len(TRAVERSAL_VALUES))).decode("ascii")}" alt="traversal of z{d}"></td></tr>'
            for d in dims]
    top = " (the top layer of the hierarchy)" if model.traits.hierarchical else ""
    caption = (f"One example, encoded to its posterior mean{top}; each row sets one latent dimension to "
               f"{', '.join(f'{v:g}' for v in TRAVERSAL_VALUES)} prior standard deviations around the prior's mean "
               f"while the others stay fixed, and decodes. Shown: the {len(dims)} of {mu.shape[1]} dimensions "
               "with the largest KL for this example, in index order.")
    return f"<table>{''.join(body)}</table>\n<p class=\"note\">{escape(caption)}</p>"


def _latents(run: Run, sub, split: str, map_method: str, seed: int) -> list[Section]:
    """The 2-D map of the posterior means and the per-dimension KL."""
    model = run.model
    if not model.traits.latent:
        why = _note(f"Not drawn: model '{run.config.model.name}' has no latent code.")
        return [Section("latent-map", "Latent map", why), Section("kl", "KL per dimension", why)]
    mu, logvar = encode(model, sub.x, y=sub.y)
    coords, axes = pic.latent_map(mu.numpy(), map_method, seed)
    labels = None if sub.y is None else sub.y.tolist()
    point_mass = not gaussian_posterior(model)
    what = "encoder outputs z_e (before quantisation)" if point_mass else "posterior means"
    coloured = "coloured by label" if labels is not None else "(the split has no labels, so one colour)"
    axis = {"pca": "principal component", "tsne": "t-SNE axis"}[map_method]
    svg = scatter(coords, labels, title=f"{len(mu)} {split} examples", x_label=f"{axis} 1", y_label=f"{axis} 2")
    caption = f"The {what} of a seeded random subset of {len(mu)} {split} examples, {coloured}. {axes}."
    sections = [Section("latent-map", "Latent map", f"<figure>{svg}<figcaption>{escape(caption)}</figcaption></figure>")]
    if point_mass:
        body = _note(f"Not drawn: the {run.config.model.name} posterior is a point mass on its codes, not a Gaussian, "
                     "so there is no KL per dimension; its KL term, -log p(codes) under the learned code prior, "
                     "is among the training curves.")
    else:
        kl = kl_per_dim(mu, logvar)
        chart = bar_chart(kl.tolist(), [f"z{i}" for i in range(len(kl))], title="KL per latent dimension",
                          x_label="latent dimension", y_label="nats")
        top = " the top layer's" if model.traits.hierarchical else ""
        caption = (f"KL(q(z_d|x) || N(0, 1)) of each of{top} {len(kl)} latent dimensions, the mean over the same "
                   f"{len(mu)} examples; {float(kl.sum()):.2f} nats in all. A dimension near zero has collapsed to the "
                   "prior and carries no information about x.")
        if run.config.model.prior.name != "standard_normal":
            caption += f" Measured against N(0, 1), not the run's {run.config.model.prior.name} prior."
        body = f"<figure>{chart}<figcaption>{escape(caption)}</figcaption></figure>"
    sections.append(Section("kl", "KL per dimension", body))
    return sections
