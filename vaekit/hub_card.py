"""The model card `vaekit push` writes as the repository's README.md: YAML front matter the Hub
reads (library_name, tags), what was trained on what, the two lines that load it, the figures of
`vaekit evaluate` and of training, examples of what the model generates, and the config.

The card is built from the run's own files and never writes into the run: the examples it shows
are the run's samples.png or samples.txt when training wrote them, else drawn here (seed 0, from
the prior) into the staging folder that is uploaded.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from vaekit.files import read_json
from vaekit.run import CONFIG, SAMPLES, SUMMARY, Run

CARD = "README.md"
SAMPLES_TEXT = "samples.txt"
TAGS = ["vaekit", "vae", "pytorch"]
SHOWN_SENTENCES = 10  # sentences of a text run on the card
SHOWN_ROWS = 5  # synthetic rows of a table run on the card
GRID = 64  # samples drawn for the picture of an image run that has no samples.png
# Bookkeeping of an eval_SPLIT.json, not figures of the model
_NOT_FIGURES = {"num_examples", "importance_samples", "seconds", "num_dims"}


def model_card(run: Run, repo_id: str, staging: Path) -> str:
    """The card of `run` for the repository `repo_id`, as Markdown with YAML front matter.
    `staging` is the folder being uploaded: it holds the run's files already, and receives the
    samples the card shows when the run has none."""
    family, data = run.config.model.name, run.config.data.name
    front = {"library_name": "vaekit", "tags": list(dict.fromkeys([*TAGS, family, data]))}
    summary = _json(run.path / SUMMARY)
    shape = "x".join(str(d) for d in run.data_shape)
    latent = f", {summary['latent_dim']} latent dimensions" if summary.get("latent_dim") else ""
    parts = [
        "---\n" + yaml.safe_dump(front, sort_keys=False) + "---\n",
        f"# {repo_id.split('/')[1]}\n\n"
        f"A `{family}` model (a vaekit model family) trained on the `{data}` data set "
        f"({run.codec.modality} data of shape {shape}{latent}), shared with `vaekit push`.\n",
        "## Use it\n\n"
        'With vaekit and its Hub extra installed (`pip install "vaekit[hub]"`):\n\n'
        f'```python\nimport vaekit\nrun = vaekit.load_run("hf://{repo_id}")\n```\n\n'
        f"`run.model` is the trained model; the command line takes the same name, for example "
        f"`vaekit sample hf://{repo_id} --out samples/`.\n",
        _metrics(run.path, summary),
        _samples(run, staging),
        "## Config\n\nThe run's `config.yaml`, as `vaekit train` validated it:\n\n"
        f"```yaml\n{(run.path / CONFIG).read_text(encoding='utf-8').rstrip()}\n```\n",
    ]
    return "\n".join(p for p in parts if p)


def number(value: float | int) -> str:
    """A figure as the card writes it: an integer as it is, a real number to 6 significant digits."""
    return str(value) if isinstance(value, int) else f"{value:.6g}"


def figures(result: dict) -> dict[str, float | int]:
    """The numeric figures of an eval_SPLIT.json (not lists, texts or its bookkeeping)."""
    return {k: v for k, v in result.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in _NOT_FIGURES}


def _json(path: Path) -> dict:
    return read_json(path, "run vaekit evaluate (or training) again, or delete it") if path.is_file() else {}


def _metrics(run_dir: Path, summary: dict) -> str:
    out = ["## Metrics\n"]
    evals = sorted(run_dir.glob("eval_*.json"))
    for path in evals:
        result = _json(path)
        split = result.get("split", path.stem.removeprefix("eval_"))
        limit = {m.get("limit") for m in result.get("measured", {}).values() if isinstance(m, dict)} - {None}
        how = f"{result['num_examples']} examples" if "num_examples" in result else "all examples"
        if limit:
            how += ", a seeded random subset: a quick look, not the split's figure"
        if "importance_samples" in result:
            how += f"; NLL with K={result['importance_samples']} importance samples"
        rows = "".join(f"| {k} | {number(v)} |\n" for k, v in figures(result).items())
        out.append(f"`vaekit evaluate` on the {split} split ({how}), in nats unless named otherwise:\n\n"
                   f"| figure | value |\n|---|---|\n{rows}")
    if not evals:
        out.append("No `vaekit evaluate` figures were pushed with this run; `vaekit evaluate RUN` before "
                   "`vaekit push` adds them here.\n")
    training = [(label, summary[key]) for key, label in (
        ("stop_reason", "stopped because"), ("epoch", "epochs trained"), ("best_epoch", "best epoch"),
        ("best_val", f"best validation {summary.get('selected_by', 'elbo')}"),
        ("val_active_units", "active latent units (validation)"), ("num_params", "parameters"))
        if key in summary]
    if training:
        rows = "".join(f"| {label} | {number(v) if isinstance(v, (int, float)) else v} |\n" for label, v in training)
        out.append(f"Training (`summary.json`):\n\n| | |\n|---|---|\n{rows}")
    return "\n".join(out)


def _samples(run: Run, staging: Path) -> str:
    """The examples section: a picture, sentences or rows, by the run's data."""
    modality = run.codec.modality
    if modality == "image":
        if (staging / SAMPLES).is_file():
            how = "written at the end of training"
        else:
            from vaekit.sample import sample_grid, save_grid

            images, nrow = sample_grid(run.model, GRID, seed=0)
            save_grid(run.codec.decode(images.detach().cpu()).reshape(-1, *run.data_shape), staging / SAMPLES, nrow)
            how = "drawn from the prior (seed 0) when the run was pushed"
        return f"## Samples\n\n![samples]({SAMPLES})\n\n`{SAMPLES}`, {how}.\n"
    if modality == "text":
        if (staging / SAMPLES_TEXT).is_file():
            lines = (staging / SAMPLES_TEXT).read_text(encoding="utf-8").splitlines()[:SHOWN_SENTENCES]
            how = f"the first of `{SAMPLES_TEXT}`, written at the end of training"
        else:
            from vaekit.sample import sample_text

            lines = sample_text(run, SHOWN_SENTENCES, seed=0)
            how = "drawn from the prior (seed 0) when the run was pushed"
        fence = "````" if any("```" in s for s in lines) else "```"
        return f"## Samples\n\nSentences {how}:\n\n{fence}text\n" + "".join(f"{s}\n" for s in lines) + f"{fence}\n"
    if modality == "table":
        from vaekit.sample.rows import synthesize

        rows = synthesize(run, SHOWN_ROWS, seed=0)
        head = "| " + " | ".join(_cell(c) for c in rows.columns) + " |\n|" + "---|" * len(rows.columns) + "\n"
        body = "".join("| " + " | ".join(_cell(v) for v in row) + " |\n" for row in rows.itertuples(index=False))
        return (f"## Samples\n\n{SHOWN_ROWS} synthetic rows drawn from the prior (seed 0) when the run was pushed "
                f"(`vaekit synthesize hf://...` writes more):\n\n{head}{body}")
    return ""  # vectors: nothing a card can show at a glance


def _cell(value: object) -> str:
    """A table cell: empty for a missing value, '|' escaped, on one line."""
    import pandas as pd

    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return str(value).replace("|", "\\|").replace("\n", " ")

