"""What each `vaekit` command does once its arguments are parsed (`vaekit.cli`): load the run,
call the library, write the outputs where `--out` says, print what was written."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from vaekit import text_commands as text
from vaekit.errors import ConfigError


def _common(args: argparse.Namespace, overrides: list[str]) -> list[str]:
    if getattr(args, "data_dir", None):
        overrides = [*overrides, f"data.data_dir={args.data_dir}"]
    return overrides


def cmd_train(args: argparse.Namespace, overrides: list[str]) -> None:
    from vaekit.config import load_config
    from vaekit.run import read_config
    from vaekit.train.loop import train

    from vaekit.hub_fetch import is_hub_uri

    overrides = _common(args, overrides)
    if args.device:
        overrides.append(f"train.device={args.device}")
    for flag, value in (("--resume", args.resume), ("--out", args.out)):
        if is_hub_uri(value):
            raise ConfigError(f"vaekit train {flag} takes a local run directory, not {value}; train locally, then "
                              f"share the run with vaekit push RUN USER/REPO (--with-state to let others resume it)")
    if args.resume:
        out = Path(args.resume)
        config = read_config(out, overrides)
    else:
        if not args.config:
            raise ConfigError("vaekit train needs a CONFIG.yaml (presets live in configs/) or --resume RUN")
        config = load_config(args.config, overrides)
        out = Path(args.out) if args.out else Path("runs") / Path(args.config).stem
    run = train(config, out, resume=bool(args.resume), overwrite=args.overwrite)
    if run is not None:  # under torchrun, the first process alone reports
        print(json.dumps(run.summary(), indent=2))


def _load(args: argparse.Namespace, overrides: list[str]):
    from vaekit.run import load_run

    return load_run(args.run, device=args.device or "cpu", overrides=_common(args, overrides))


def cmd_evaluate(args: argparse.Namespace, overrides: list[str]) -> None:
    from vaekit.evaluate import evaluate

    run = _load(args, overrides)
    metrics = [m for item in args.metrics or () for m in item.split(",")] if args.metrics else None
    out = None
    if args.out:  # a folder, as for every other command; a name ending in .json is the file itself
        out = Path(args.out) if args.out.endswith(".json") else _folder(Path(args.out))
    result = evaluate(run, args.split, args.importance_samples, batch_size=args.batch_size, limit=args.limit,
                      seed=args.seed, metrics=metrics, inception_weights=args.inception_weights,
                      sampler=args.sampler, components=args.components, target=args.target, out=out)
    print(json.dumps(result, indent=2))
    if result.get("collapse_warning"):  # on stderr, so that stdout stays pure JSON
        print(f"vaekit: warning: {result['collapse_warning']}", file=sys.stderr)


def _folder(path: Path) -> Path:
    """An output folder, created if missing; OutputError when it cannot be."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        from vaekit.errors import OutputError

        raise OutputError(f"cannot create '{path}' ({e.strerror}); choose another --out") from None
    return path


# what a file of each suffix holds, for the error of an --out with another suffix
_WRITTEN_AS = {".png": "images are written as PNG", ".csv": "table rows are written as CSV",
               ".txt": "sentences are written as text", ".tsv": "sentences and their reconstructions are written "
               "as tab-separated values", ".npy": "vectors are written as NumPy arrays"}


def _out(args: argparse.Namespace, run, default: str) -> Path:
    """Where a command's examples go: a PNG grid for an image run, CSV rows for a table run, text
    for a text run (the suffix of `default`: .txt, or .tsv for pairs), a .npy array for the others.
    --out names the file (the suffix is added when left off; another suffix is a ConfigError) or
    a folder, existing or written with a trailing slash, that gets the default name `default`."""
    ext = {"image": ".png", "table": ".csv", "text": Path(default).suffix}.get(run.codec.modality, ".npy")
    name = Path(default).with_suffix(ext).name
    if not args.out:
        path = run.output_dir(name) / name
    elif args.out.endswith(("/", os.sep)) or Path(args.out).is_dir():
        path = Path(args.out) / name
    else:
        path = Path(args.out)
        if not path.suffix:
            path = path.with_name(path.name + ext)
        elif path.suffix.lower() != ext:
            raise ConfigError(f"--out {args.out}: {_WRITTEN_AS[ext]}; name the file {path.with_suffix(ext)}"
                              + (" (or --out - for the terminal)" if ext in (".txt", ".tsv") else ""))
    _folder(path.parent)
    return path


def _save_examples(run, x, path: Path, nrow: int | None = None) -> Path:
    """A PNG grid for image data; a .npy array for anything else, in the data's own units (the
    run's codec undoes the standardisation the model was trained on)."""

    from vaekit.sample import save_grid
    from vaekit.files import atomic_write

    if run.codec.modality == "table":
        return _save_rows(run.codec.decode(x.detach().cpu()), path)
    x = run.codec.decode(x.detach().cpu())
    if run.codec.is_image:
        return save_grid(x.reshape(-1, *run.data_shape), path, nrow=nrow)
    atomic_write(path, lambda tmp: _save_npy(tmp, x.numpy()))
    return path


def _emit(args: argparse.Namespace, run, default: str, content: str) -> None:
    """A text run's output: written to --out (or RUN/`default`) and its path printed, as every
    command does; `--out -` prints the text itself instead."""
    if args.out == "-":
        print(content, end="")
        return
    from vaekit.sample.text import write_sentences

    print(write_sentences(_out(args, run, default), content))


def _save_rows(rows, path: Path) -> Path:
    """A DataFrame as a CSV file with its header, written atomically."""
    from vaekit.files import atomic_write

    atomic_write(path, lambda tmp: rows.to_csv(tmp, index=False))
    return path


def _where(items: list[str] | None) -> dict[str, str]:
    """--where column=value (repeatable) as a dict; ConfigError for a malformed one."""
    out: dict[str, str] = {}
    for item in items or ():
        column, sep, value = item.partition("=")
        if not sep or not column.strip():
            raise ConfigError(f"--where {item!r}: write it as COLUMN=VALUE, for example --where cut=Ideal")
        if column.strip() in out:
            raise ConfigError(f"--where names {column.strip()!r} twice; give each column one value")
        out[column.strip()] = value
    return out


def cmd_synthesize(args: argparse.Namespace, overrides: list[str]) -> None:
    from vaekit.sample.rows import synthesize

    run = _load(args, overrides)
    rows = synthesize(run, args.n, where=_where(args.where), seed=args.seed, temperature=args.temperature,
                      num_samples=args.samples)
    print(_save_rows(rows, _out(args, run, "synthetic.csv")))


def cmd_impute(args: argparse.Namespace, overrides: list[str]) -> None:
    from vaekit.data.table import read_table
    from vaekit.sample.rows import impute_rows

    run = _load(args, overrides)
    if run.codec.modality != "table":
        raise ConfigError(f"vaekit impute fills the missing cells of a table; the run {run.path} models "
                          f"{run.codec.modality} data")
    table = read_table(args.table)
    result = impute_rows(run, table, multiple=args.multiple, num_samples=args.samples, draws=args.draws, seed=args.seed)
    out = _out(args, run, "imputed.csv")
    if args.multiple is None:
        print(_save_rows(result, out))
        return
    for m, rows in enumerate(result, start=1):  # imputed.csv -> imputed-1.csv, imputed-2.csv, ...
        print(_save_rows(rows, out.with_name(f"{out.stem}-{m}{out.suffix}")))


def cmd_sample(args: argparse.Namespace, overrides: list[str]) -> None:
    from vaekit.sample import sample

    run = _load(args, overrides)
    if text.is_text(run):
        return _emit(args, run, "samples.txt", text.sample(args, run))
    text.refuse_text_options(args, run)
    if run.codec.modality == "table":  # rows drawn from p(x|z), as vaekit synthesize writes them
        if args.sampler != "prior" or args.cls is not None:
            raise ConfigError("for a table run, vaekit sample draws from the prior; use vaekit synthesize --where "
                              "COLUMN=VALUE for chosen values")
        from vaekit.sample.rows import synthesize

        rows = synthesize(run, args.n, seed=args.seed, temperature=args.temperature)
        print(_save_rows(rows, _out(args, run, "samples.csv")))
        return
    sampler = None
    if args.sampler != "prior":
        from vaekit.sample.samplers import fitted_sampler

        train = run.dataset().train
        sampler = fitted_sampler(run.model, args.sampler, train.x, train.y, args.components)
    x = sample(run.model, args.n, args.temperature, args.seed, y=args.cls, sampler=sampler)
    print(_save_examples(run, x, _out(args, run, "samples.png")))


def cmd_reconstruct(args: argparse.Namespace, overrides: list[str]) -> None:
    from vaekit.sample import reconstruction_pairs

    run = _load(args, overrides)
    if text.is_text(run):
        return _emit(args, run, "reconstructions.tsv", text.reconstruct(args, run))
    split = run.dataset().split(args.split)
    x = split.x[: args.n]
    pairs = reconstruction_pairs(run.model, x, None if split.y is None else split.y[: args.n])
    print(_save_examples(run, pairs, _out(args, run, "reconstructions.png"), nrow=2 * min(8, len(x))))


def cmd_interpolate(args: argparse.Namespace, overrides: list[str]) -> None:
    import torch

    from vaekit.sample import interpolate

    run = _load(args, overrides)
    if not text.is_text(run):
        text.refuse_text_options(args, run)
    elif args.between:  # the sentences given, not pairs of the split
        return _emit(args, run, "interpolations.txt", text.interpolate(args, run, None, None))
    x = run.dataset().split(args.split).x
    g = torch.Generator().manual_seed(args.seed)
    idx = torch.randperm(len(x), generator=g)[: 2 * args.pairs]
    if len(idx) < 2:
        raise ConfigError(f"the {args.split} split has fewer than 2 examples; nothing to interpolate")
    half = len(idx) // 2
    y = run.dataset().split(args.split).y
    ya, yb = (None, None) if y is None else (y[idx[:half]], y[idx[half : 2 * half]])
    if text.is_text(run):
        return _emit(args, run, "interpolations.txt",
                     text.interpolate(args, run, x[idx[:half]], x[idx[half : 2 * half]], ya, yb))
    path = interpolate(run.model, x[idx[:half]], x[idx[half : 2 * half]], args.steps, ya, yb)
    print(_save_examples(run, path.reshape(-1, *run.data_shape), _out(args, run, "interpolations.png"), nrow=args.steps))


def cmd_embed(args: argparse.Namespace, overrides: list[str]) -> None:

    from vaekit.sample import encode

    run = _load(args, overrides)
    split = run.dataset().split(args.split)
    mu, logvar = encode(run.model, split.x, y=split.y)
    out = _folder(Path(args.out)) if args.out else run.output_dir(f"embed_{args.split}_*.npy")
    from vaekit.files import atomic_write

    files = {"mu": mu.numpy(), "logvar": logvar.numpy()}
    if split.y is not None:
        files["labels"] = split.y.numpy()
    for name, arr in files.items():
        path = out / f"embed_{args.split}_{name}.npy"
        atomic_write(path, lambda tmp, a=arr: _save_npy(tmp, a))
        print(path)
    if text.is_text(run):  # the sentence of each row, as the model read it
        from vaekit.sample.text import write_sentences

        print(write_sentences(out / f"embed_{args.split}_sentences.txt", text.sentences(run, split.x)))


def cmd_anomaly(args: argparse.Namespace, overrides: list[str]) -> None:
    import torch

    from vaekit.evaluate.anomaly import anomaly_scores, auprc, auroc
    from vaekit.files import atomic_write, write_json

    run = _load(args, overrides)
    if not text.is_text(run):
        text.refuse_text_options(args, run)
    split = run.dataset().split(args.split)
    scores = anomaly_scores(run.model, split.x, split.y, args.score, args.importance_samples)
    if args.per_token:
        scores = text.per_token(scores, split.x)
    result = {"split": args.split, "score": args.score, "num_examples": len(scores),
              "mean_score": float(scores.mean())}
    if args.score == "nll":
        result["importance_samples"] = args.importance_samples
    if text.is_text(run):
        result.update(per_token=bool(args.per_token), most_anomalous=text.most_anomalous(run, scores, split.x))
    if args.normal:
        if split.y is None:
            raise ConfigError(f"--normal needs labels, and the {args.split} split has none")
        anomalous = ~torch.isin(split.y, torch.tensor(args.normal))
        result.update(normal_classes=sorted(args.normal), num_anomalies=int(anomalous.sum()),
                      auroc=auroc(scores, anomalous), auprc=auprc(scores, anomalous))
    out = _folder(Path(args.out)) if args.out else run.output_dir(f"anomaly_{args.split}.json")
    atomic_write(out / f"anomaly_{args.split}_scores.npy", lambda tmp: _save_npy(tmp, scores.numpy()))
    write_json(out / f"anomaly_{args.split}.json", result)
    print(json.dumps(result, indent=2))


def cmd_explore(args: argparse.Namespace, overrides: list[str]) -> None:
    from vaekit.explore.extra import require

    require("starlette", "uvicorn")  # before the run loads: a missing extra is the first thing to hear about
    from vaekit.explore.server import serve

    serve(args.run, host=args.host, port=args.port, open_browser=args.open_browser, map_method=args.map,
          split=args.split, limit=args.limit, seed=args.seed, device=args.device or "cpu",
          overrides=tuple(_common(args, overrides)))

def cmd_export(args: argparse.Namespace, overrides: list[str]) -> None:
    from vaekit.export import export_run, summary
    from vaekit.run import load_run

    run = load_run(args.run, overrides=overrides)  # on the CPU, where the files are traced and checked
    print(summary(export_run(run, args.format, args.part, args.out)))


def cmd_leaderboard(args: argparse.Namespace, overrides: list[str]) -> None:
    from vaekit.leaderboard import FILES, default_out, leaderboard

    overrides = _common(args, overrides)
    if args.device:
        overrides.append(f"train.device={args.device}")
    out = Path(args.out) if args.out else default_out(args.data)
    metrics = [m for item in args.metrics or () for m in item.split(",") if m] or None
    leaderboard(args.configs, budget=args.budget, data=args.data, out=out, seed=args.seed,
                importance_samples=args.importance_samples, metrics=metrics, overrides=overrides,
                rank_by=args.rank_by, better=args.better, samples=args.samples)
    print((out / FILES[0]).read_text())
    for name in FILES:
        print(out / name)


def cmd_oneclass(args: argparse.Namespace, overrides: list[str]) -> None:
    from vaekit.leaderboard.oneclass import FILES, one_class

    overrides = _common(args, overrides)
    if args.device:
        overrides.append(f"train.device={args.device}")
    out = Path(args.out) if args.out else Path("runs") / f"oneclass-{args.data or Path(args.config).stem}"
    one_class(args.config, data=args.data, classes=args.classes, score=args.score,
              importance_samples=args.importance_samples, budget=args.budget, seed=args.seed, out=out,
              overrides=overrides)
    print((out / FILES[0]).read_text())
    for name in FILES:
        print(out / name)


def cmd_push(args: argparse.Namespace, overrides: list[str]) -> None:
    from vaekit.hub import push_run

    if overrides:
        raise ConfigError(f"vaekit push uploads the run as it was trained; config overrides ({overrides[0]}) do not "
                          f"apply: drop them")
    print(push_run(args.run, args.repo, private=args.private, token=args.token, revision=args.revision,
                   message=args.message, with_state=args.with_state, log=lambda line: print(line, file=sys.stderr)))


def cmd_report(args: argparse.Namespace, overrides: list[str]) -> None:
    from vaekit.report import make_report

    run = _load(args, overrides)
    print(make_report(run, args.out, map_method=args.map, split=args.split, limit=args.limit, seed=args.seed))


def _save_npy(path: str, array) -> None:
    import numpy as np

    with open(path, "wb") as f:  # a file object: np.save would add '.npy' to a bare temp name
        np.save(f, array)
