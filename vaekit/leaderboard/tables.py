"""Ranking leaderboard entries and writing them: Markdown, CSV, and a self-contained HTML page
with each entry's sample grid embedded as a PNG."""

from __future__ import annotations

import base64
import csv
import html
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import torch

from vaekit.leaderboard.entries import Entry
from vaekit.sample import grid_png, sample_grid
from vaekit.files import write_text

FILES = ("leaderboard.md", "leaderboard.csv", "leaderboard.html")
HIGHER_IS_BETTER = {"elbo", "recon", "active_units", "images_per_sec"}
# Numeric columns every entry can have; metric groups of `evaluate` may add more.
RANK_COLUMNS = ("nll", "nll_stderr", "bits_per_dim", "elbo", "recon", "kl", "active_units", "params", "epochs",
                "minutes", "images_per_sec")


def rank(entries: Sequence[Entry], by: str = "nll", better: Literal["lower", "higher"] | None = None) -> list[Entry]:
    """The entries in leaderboard order, with `.rank` set: those with a value of `by`, best first
    (equal values share a rank, ties keep their given order); then those without one; failed
    entries last."""
    higher = _higher(by, better)
    ok = [e for e in entries if not e.failed]
    valued = [e for e in ok if e.value(by) is not None]
    valued.sort(key=lambda e: -e.value(by) if higher else e.value(by))  # stable
    missing = [e for e in ok if e.value(by) is None]
    failed = [e for e in entries if e.failed]
    for e in entries:
        e.rank = None
    for i, e in enumerate(valued):
        e.rank = valued[i - 1].rank if i and e.value(by) == valued[i - 1].value(by) else i + 1
    return [*valued, *missing, *failed]


def _higher(by: str, better: str | None) -> bool:
    return by in HIGHER_IS_BETTER if better is None else better == "higher"


# ----------------------------------------------------------------------------- writers


def _columns(entries: Sequence[Entry]) -> list[str]:
    extras: dict[str, None] = {}
    for e in entries:
        extras.update(dict.fromkeys(e.extras()))
    return ["rank", "name", "model", "params", "epochs", "minutes", "images_per_sec", "nll", "nll_stderr",
            "bits_per_dim", "elbo", "recon", "kl", "active_units", "latent_dim", *extras, "status", "error", "config",
            "run_dir"]


# Columns of the CSV that Markdown and HTML fold into others (NLL ± stderr, status: error) or leave out.
_CSV_ONLY = {"nll_stderr", "recon", "latent_dim", "error", "config", "run_dir",
             # settings and references of the quality group, the same for every entry: not results
             "num_samples", "num_real", "sample_temperature", "precision_recall_k", "classifier_features",
             "classifier_accuracy", "classifier_labels", "fd_classifier_reference", "diversity_real",
             # the text group's figures of the test split itself, the same for every entry
             "num_tokens", "distinct_1_real", "distinct_2_real", "sample_length_real"}


def _raw(entry: Entry, column: str) -> Any:
    """A cell's plain value (CSV); None where it is missing."""
    if column in ("rank", "name", "status", "error", "config", "params", "epochs", "minutes", "images_per_sec"):
        return getattr(entry, column)
    if column == "model":
        return entry.family
    if column == "run_dir":
        return str(entry.run_dir)
    if column == "latent_dim":
        return entry.metrics.get("latent_dim")
    return entry.value(column) if column in RANK_COLUMNS else entry.extras().get(column)


def write_csv(entries: Sequence[Entry], path: str | Path) -> Path:
    """One row per entry, in the given order; empty cells for missing values."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    columns = _columns(entries)
    writer.writerow(columns)
    for e in entries:
        writer.writerow(["" if (v := _raw(e, c)) is None else v for c in columns])
    write_text(path, buf.getvalue())
    return Path(path)


_HEADERS = {"rank": "rank", "name": "name", "model": "model", "params": "params", "epochs": "epochs",
            "minutes": "train min", "images_per_sec": "images/s", "nll": "test NLL (nats)", "bits_per_dim": "bits/dim",
            "elbo": "ELBO", "kl": "KL", "active_units": "active units", "status": "status"}


def _cells(entry: Entry, extras: Sequence[str]) -> dict[str, str]:
    """A row's cells as shown in Markdown and HTML."""
    def num(v: Any, spec: str) -> str:
        return "" if v is None else format(v, spec)

    nll, se = entry.value("nll"), entry.value("nll_stderr")
    au, dim = entry.value("active_units"), entry.metrics.get("latent_dim")
    status = entry.status if entry.error is None else f"{entry.status}: {entry.error}"
    cells = {"rank": num(entry.rank, "d"), "name": entry.name, "model": entry.family or "",
             "params": num(entry.params, ",d"), "epochs": num(entry.epochs, "d"), "minutes": num(entry.minutes, ".2f"),
             "images_per_sec": num(entry.images_per_sec, ",.0f"),
             "nll": "" if nll is None else f"{nll:.2f}" + ("" if se is None else f" ± {se:.2f}"),
             "bits_per_dim": num(entry.value("bits_per_dim"), ".4f"), "elbo": num(entry.value("elbo"), ".2f"),
             "kl": num(entry.value("kl"), ".2f"),
             "active_units": "" if au is None else f"{au:g}" + (f"/{dim}" if dim else "")}
    extra = entry.extras()
    for k in extras:
        se = extra.get(f"{k}_stderr")
        cells[k] = num(extra.get(k), ".4g") + ("" if se is None or k not in extra else f" ± {se:.2g}")
    return {**cells, "status": status}


def _display_keys(entries: Sequence[Entry]) -> tuple[list[str], list[str]]:
    """The columns shown in Markdown and HTML, and which of them are extra metrics."""
    extras = [c for c in _columns(entries) if c not in _HEADERS and c not in _CSV_ONLY]
    extras = [c for c in extras if not (c.endswith("_stderr") and c.removesuffix("_stderr") in extras)]  # x ± se
    return [*(k for k in _HEADERS if k != "status"), *extras, "status"], extras


def to_markdown(entries: Sequence[Entry], context: str = "") -> str:
    """The leaderboard as a Markdown page: a title, the context line and the ranked table."""
    keys, extras = _display_keys(entries)
    lines = ["| " + " | ".join(_HEADERS.get(k, k) for k in keys) + " |", "|" + "---|" * len(keys)]
    for e in entries:
        cells = _cells(e, extras)
        lines.append("| " + " | ".join(cells[k].replace("|", "\\|") for k in keys) + " |")
    notes = _split_note(entries)
    return "# Leaderboard\n\n" + (f"{context}\n\n" if context else "") + "\n".join(lines) + "\n" + (
        f"\n{notes}\n" if notes else "")


_CSS = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;font-size:14px}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f0f0f0}td.text{text-align:left}tr.failed{color:#a00}
.grids{display:flex;flex-wrap:wrap;gap:1.5em;margin-top:1em}figure{margin:0}
figure img{image-rendering:pixelated;border:1px solid #ccc}figcaption{font-size:14px;margin-top:4px}
figure.sentences{max-width:32em;font-size:14px}figure.sentences ol{margin:0;padding-left:2em}"""


_TEXT, _FAILED, _TEXT_KEYS = ' class="text"', ' class="failed"', {"name", "model", "status"}


def to_html(entries: Sequence[Entry], context: str = "") -> str:
    """A self-contained page: inline CSS, the table, and each entry's sample grid as a data URI."""
    keys, extras = _display_keys(entries)
    rows = ["<tr>" + "".join(f"<th>{html.escape(_HEADERS.get(k, k))}</th>" for k in keys) + "</tr>"]
    for e in entries:
        cells = _cells(e, extras)
        tds = "".join(f"<td{_TEXT if k in _TEXT_KEYS else ''}>{html.escape(cells[k])}</td>" for k in keys)
        rows.append(f"<tr{_FAILED if e.failed else ''}>{tds}</tr>")
    figures = []
    for e in entries:
        label = f"{'#' + str(e.rank) + ' ' if e.rank else ''}{e.name} ({e.family})"
        if e.samples is not None:
            uri = "data:image/png;base64," + base64.b64encode(e.samples).decode("ascii")
            figures.append(f'<figure><img src="{uri}" alt="samples of {html.escape(e.name)}">'
                           f"<figcaption>{html.escape(label)}</figcaption></figure>")
        elif e.sentences is not None:  # a text run's samples, greedy decodes of prior draws
            items = "".join(f"<li>{html.escape(s)}</li>" for s in e.sentences)
            figures.append(f'<figure class="sentences"><ol>{items}</ol><figcaption>{html.escape(label)}</figcaption>'
                           f"</figure>")
    notes = _split_note(entries)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>vaekit leaderboard</title>"
            f"<style>{_CSS}</style></head>\n<body><h1>Leaderboard</h1><p>{html.escape(context)}</p>\n"
            f"<table>\n{chr(10).join(rows)}\n</table>\n" + (f"<p>{html.escape(notes)}</p>\n" if notes else "")
            + (f"<h2>Samples</h2><div class=\"grids\">{''.join(figures)}</div>\n" if figures else "")
            + "</body></html>\n")


def write_leaderboard(entries: Sequence[Entry], out: str | Path, context: str = "") -> list[Path]:
    """Write leaderboard.md, leaderboard.csv and leaderboard.html into `out`; returns their paths."""
    out = Path(out)
    md, csv_path, html_path = (out / name for name in FILES)
    write_text(md, to_markdown(entries, context))
    write_csv(entries, csv_path)
    write_text(html_path, to_html(entries, context))
    return [md, csv_path, html_path]


def _split_note(entries: Sequence[Entry]) -> str:
    """A warning when entries were not all evaluated on the same test split."""
    splits = {e.test_split for e in entries if e.test_split is not None}
    if len(splits) <= 1:
        return ""
    first = next(e.test_split for e in entries if e.test_split is not None)
    odd = [e.name for e in entries if e.test_split not in (None, first)]
    return (f"Warning: not every entry was evaluated on the same test split ({', '.join(odd)} differ from "
            f"the first); their data configs differ, so their figures are not comparable.")


def _sample_png(model: torch.nn.Module, n: int, seed: int) -> bytes:
    """A PNG grid of n samples, laid out as samples.png (a conditional model: one row per class)."""
    images, nrow = sample_grid(model, n, seed)
    return grid_png(images, nrow, size=32)  # 8x8 digits shown at 32 pixels
