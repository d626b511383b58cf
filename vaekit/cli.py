"""The `vaekit` command line: thin; it parses, then calls the library.

Every user error is a `VaekitError` printed as one line, exit code 2; so is an allocation that runs
out of memory (a model, batch or grid too large for the machine), and a malformed command line,
including a number outside its option's range (the option types of `vaekit.checks`) or an empty
path, caught before anything is loaded or written. Dotted config overrides follow the command's own
options: `vaekit train configs/digits.yaml --model.latent_dim=8`. What each command then does is in
`vaekit.commands`.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
import warnings

from vaekit.checks import (MAX_COMPONENTS, MAX_GRID, MAX_IMAGES, MAX_K, MAX_MAP_POINTS, MAX_PAIRS, MAX_STEPS,
                           MAX_TEMPERATURE, TSNE_SEED_MAX, Parser, count, finite, label, seed)
from vaekit import commands
from vaekit.errors import ConfigError, VaekitError


def _overrides(extra: list[str]) -> list[str]:
    """`--a.b=v` and `--a.b v` pairs among the arguments argparse did not know."""
    out, i = [], 0
    while i < len(extra):
        arg = extra[i]
        if not arg.startswith("--") or "." not in arg.split("=", 1)[0]:
            raise ConfigError(f"unrecognised argument '{arg}'; config overrides look like --train.epochs=5")
        if "=" in arg:
            out.append(arg[2:])
        elif i + 1 < len(extra):
            out.append(f"{arg[2:]}={extra[i + 1]}")
            i += 1
        else:
            raise ConfigError(f"override '{arg}' has no value; write it as {arg}=VALUE")
        i += 1
    return out


TRAIN_EPILOG = """\
Any config key can be overridden after the other options with its dotted path, as
--SECTION.KEY=VALUE or --SECTION.KEY VALUE; values are read as YAML:

  vaekit train configs/digits.yaml --train.epochs=5 --model.latent_dim 4
  vaekit train configs/digits.yaml --model.encoder.hidden=[256,128] --data.limit=1000

The keys are listed in docs/configuration.md. With --resume RUN, overrides change the run's
stored config (for example --train.epochs=20 to train longer)."""

OVERRIDES_EPILOG = """\
Dotted config overrides, such as --data.data_dir=PATH or --data.limit=500, change the
run's stored config for this command only."""


def parser() -> argparse.ArgumentParser:
    """The `vaekit` argument parser: one subcommand per action, every option with help."""
    p = Parser(prog="vaekit", description="Train, evaluate and sample variational autoencoders.")
    p.add_argument("--import", dest="imports", action="append", metavar="MODULE",
                   help="import a module first, so the models, likelihoods or data sets it registers can be used")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    splits = ["train", "val", "test"]
    devices = ["auto", "cpu", "cuda"]

    def command(name: str, help: str, epilog: str | None = OVERRIDES_EPILOG) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".", epilog=epilog,
                              formatter_class=argparse.RawDescriptionHelpFormatter)

    def run_cmd(name: str, help: str) -> argparse.ArgumentParser:
        s = command(name, help)
        s.add_argument("run", help="run directory written by vaekit train, or hf://USER/REPO[@REVISION] on the "
                                   "Hugging Face Hub")
        s.add_argument("--device", choices=devices, default=None, help="where the model runs (default cpu)")
        s.add_argument("--data-dir", default=None, help="folder with the data files (else $VAEKIT_DATA_DIR)")
        return s

    t = command("train", "train a model from a YAML config", TRAIN_EPILOG)
    t.add_argument("config", nargs="?", help="YAML config (presets in configs/)")
    t.add_argument("--out", help="run directory (default runs/CONFIG_NAME)")
    t.add_argument("--resume", metavar="RUN", help="continue a run that was stopped")
    t.add_argument("--overwrite", action="store_true", help="replace an existing run in --out")
    t.add_argument("--device", choices=devices, default=None, help="train.device: where training runs (default auto)")
    t.add_argument("--data-dir", default=None, help="folder with the data files (else $VAEKIT_DATA_DIR)")
    t.set_defaults(func=commands.cmd_train)

    e = run_cmd("evaluate", "ELBO, importance-sampled NLL and active units on a split")
    e.add_argument("--split", choices=splits, default=None, help="default: the run's eval.split (test)")
    e.add_argument("--importance-samples", "-k", type=count(1, MAX_K), default=None,
                   help=f"K, 1 to {MAX_K:,} (default: the run's eval.importance_samples, 5000 unless set)")
    e.add_argument("--batch-size", type=count(1), default=None, help="data points per importance-sampling batch (default: the run's eval.batch_size)")
    e.add_argument("--limit", type=count(1), default=None, help="a seeded random subset of N examples (a quick check, not the split's figure)")
    e.add_argument("--seed", type=seed(), default=0, help="seed of the estimates and of --limit's subset (default 0)")
    e.add_argument("--metrics", action="append", metavar="GROUP[,GROUP...]",
                   help="metric groups: likelihood, latent, fidelity, disentanglement, quality, table, text "
                        "(default likelihood,latent; and table for a table run, text for a text run)")
    e.add_argument("--inception-weights", metavar="PATH", default=None,
                   help="local pytorch-fid Inception weights (pt_inception-2015-12-05-6726825d.pth): "
                        "the quality group adds fid_inception")
    e.add_argument("--sampler", default="prior",
                   help="where the quality group's samples draw their codes: prior, or gmm (a mixture fitted to the training codes)")
    e.add_argument("--components", type=count(1, MAX_COMPONENTS), default=10,
                   help=f"mixture components of the gmm sampler, 1 to {MAX_COMPONENTS:,} (default 10)")
    e.add_argument("--target", metavar="COLUMN", default=None,
                   help="the table group's ML-efficacy target column (default: the label column, else the last "
                        "categorical column)")
    e.add_argument("--out", metavar="FOLDER", help="folder for eval_SPLIT.json, created if missing, or a .json file "
                                                   "(default the run directory); earlier figures there are kept")
    e.set_defaults(func=commands.cmd_evaluate)

    s = run_cmd("sample", "generate new examples")
    s.add_argument("-n", "--n", type=count(1, MAX_IMAGES), default=64, help=f"number of examples, 1 to {MAX_IMAGES:,} (default 64)")
    s.add_argument("--temperature", type=finite(min_exclusive=0, max=MAX_TEMPERATURE), default=1.0,
                   help=f"scale of the prior's standard deviation, above 0 and at most {MAX_TEMPERATURE:g} (default 1)")
    s.add_argument("--seed", type=seed(), default=0, help="the same seed gives the same examples (default 0)")
    s.add_argument("--sampler", default="prior", help="prior, or gmm: a mixture fitted to the training codes")
    s.add_argument("--components", type=count(1, MAX_COMPONENTS), default=10,
                   help=f"mixture components of the gmm sampler, 1 to {MAX_COMPONENTS:,} (default 10)")
    s.add_argument("--class", dest="cls", type=label, metavar="LABEL", default=None, help="generate this class (conditional models)")
    s.add_argument("--decode", choices=["greedy", "sample"], default=None,
                   help="text runs: greedy (the likeliest word at each step; the default) or sample (each word drawn)")
    s.add_argument("--token-temperature", type=finite(min_exclusive=0, max=MAX_TEMPERATURE), default=None,
                   help="text runs, --decode sample: the words' softmax temperature (default 1)")
    s.add_argument("--top-k", type=count(1), default=None, metavar="K",
                   help="text runs, --decode sample: draw each word among the K likeliest (default: all)")
    s.add_argument("--out", help="output file (default RUN/samples.png; samples.csv, samples.txt or samples.npy by "
                                 "the run's data; - prints a text run's sentences)")
    s.set_defaults(func=commands.cmd_sample)

    y = run_cmd("synthesize", "write synthetic rows of a table run as CSV, drawn from the model")
    y.add_argument("-n", "--n", type=count(1, MAX_IMAGES), default=1000, help=f"number of rows, 1 to {MAX_IMAGES:,} (default 1000)")
    y.add_argument("--where", action="append", metavar="COLUMN=VALUE",
                   help="fix a column's value in every row (repeatable): conditional sampling")
    y.add_argument("--temperature", type=finite(min_exclusive=0, max=MAX_TEMPERATURE), default=1.0,
                   help=f"scale of the prior's standard deviation, above 0 and at most {MAX_TEMPERATURE:g} (default 1)")
    y.add_argument("--samples", type=count(1, 100_000), default=1000,
                   help="prior proposals weighed per row under --where (default 1000)")
    y.add_argument("--seed", type=seed(), default=0, help="the same seed gives the same rows (default 0)")
    y.add_argument("--out", help="output CSV file (default RUN/synthetic.csv)")
    y.set_defaults(func=commands.cmd_synthesize)

    u = run_cmd("impute", "fill the missing cells of a table (CSV or Parquet) with a table run's model (MIWAE)")
    u.add_argument("table", help="the table with missing cells, with the run's columns")
    u.add_argument("--multiple", type=count(1, 1000), default=None, metavar="M",
                   help="write M imputed tables (OUT-1.csv ... OUT-M.csv), one draw each, instead of one pooled table")
    u.add_argument("--samples", type=count(1, 100_000), default=1000, help="importance samples per row (default 1000)")
    u.add_argument("--draws", type=count(1, 10_000), default=100,
                   help="no longer used: the single imputation weighs all --samples codes of a row "
                        "(accepted, so that scripts passing it still run)")
    u.add_argument("--seed", type=seed(), default=0, help="the same seed gives the same imputation (default 0)")
    u.add_argument("--out", help="output CSV file (default RUN/imputed.csv)")
    u.set_defaults(func=commands.cmd_impute)

    r = run_cmd("reconstruct", "originals beside their reconstructions")
    r.add_argument("-n", "--n", type=count(1, MAX_IMAGES), default=32,
                   help=f"number of examples (the first of the split), 1 to {MAX_IMAGES:,} (default 32)")
    r.add_argument("--split", choices=splits, default="test", help="where the examples come from (default test)")
    r.add_argument("--out", help="output file (default RUN/reconstructions.png; reconstructions.tsv for text, "
                                 "- prints it)")
    r.set_defaults(func=commands.cmd_reconstruct)

    i = run_cmd("interpolate", "decode straight lines between pairs of encoded examples")
    i.add_argument("--pairs", type=count(1, MAX_PAIRS), default=8, help=f"pairs of random examples, one row each, 1 to {MAX_PAIRS:,} (default 8)")
    i.add_argument("--steps", type=count(2, MAX_STEPS), default=8,
                   help=f"decodings per line, both ends included, 2 to {MAX_STEPS} (default 8)")
    i.add_argument("--split", choices=splits, default="test", help="where the examples come from (default test)")
    i.add_argument("--seed", type=seed(), default=0, help="picks the pairs (default 0)")
    i.add_argument("--between", nargs=2, action="append", metavar=("SENTENCE", "SENTENCE"),
                   help="text runs: interpolate between these two sentences (repeatable) instead of the split's pairs")
    i.add_argument("--out", help="output file (default RUN/interpolations.png; interpolations.txt for text, "
                                 "- prints it)")
    i.set_defaults(func=commands.cmd_interpolate)

    a = run_cmd("anomaly", "score examples by -ELBO or NLL; AUROC and AUPRC given the normal classes")
    a.add_argument("--split", choices=splits, default="test", help="the examples to score (default test)")
    a.add_argument("--score", choices=["elbo", "nll"], default="elbo", help="negative ELBO, or importance-sampled NLL")
    a.add_argument("-k", "--importance-samples", type=count(1, MAX_K), default=100, help=f"K for --score nll, 1 to {MAX_K:,} (default 100)")
    a.add_argument("--normal", type=label, action="append", help="a normal class (repeatable); other labels are anomalies")
    a.add_argument("--per-token", action="store_true",
                   help="text runs: scores in nats per token (<eos> included) rather than per sentence")
    a.add_argument("--out", help="output folder (default the run directory)")
    a.set_defaults(func=commands.cmd_anomaly)

    x = run_cmd("explore", "a local web page to explore the run's latent space: map, sliders, samples, your own inputs")
    x.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; any other exposes the explorer, "
                        "which has no password, to the network)")
    x.add_argument("--port", type=count(0, 65535), default=8000, help="port to listen on (default 8000; 0 picks a free one)")
    x.add_argument("--map", choices=["pca", "tsne", "umap"], default="pca",
                   help="how the codes are laid out in 2-D: pca (default), tsne (scikit-learn) or umap (umap-learn)")
    x.add_argument("--split", choices=splits, default="test", help="the examples on the map (default test)")
    x.add_argument("--limit", type=count(2, MAX_MAP_POINTS), default=2000,
                   help=f"points on the map (a seeded subset), 2 to {MAX_MAP_POINTS:,} (default 2000)")
    x.add_argument("--seed", type=seed(TSNE_SEED_MAX), default=0,
                   help="picks the subset and seeds the map, 0 to 2**32-1 (default 0)")
    x.add_argument("--open-browser", action="store_true", help="open the page in the default browser once it is served")
    x.set_defaults(func=commands.cmd_explore)

    x = command("export", "write the encoder and decoder as ONNX or TorchScript files, checked against PyTorch")
    x.add_argument("run", help="run directory written by vaekit train")
    x.add_argument("--format", choices=["onnx", "torchscript"], default="onnx",
                   help="onnx (run with onnxruntime; needs pip install \"vaekit[export]\") or torchscript (.pt, "
                        "torch.jit.load) (default onnx)")
    x.add_argument("--part", choices=["encoder", "decoder", "both"], default="both",
                   help="which network to export (default both; a language model has a decoder only)")
    x.add_argument("--out", metavar="FOLDER", help="folder for the files and their .json descriptions, created if "
                                                 "missing (default RUN/export)")
    x.set_defaults(func=commands.cmd_export)

    b = command("leaderboard", "train configs under one budget, evaluate them alike, write a ranked table")
    b.add_argument("configs", nargs="+", help="YAML configs, one entry each")
    b.add_argument("--budget", required=True, help="per config: a time (90s, 10m, 1.5h) or epochs (20ep)")
    b.add_argument("--data", default=None, help="data set for every config (data.name); default: each config's own")
    b.add_argument("--data-dir", default=None, help="folder with the data files (else $VAEKIT_DATA_DIR)")
    b.add_argument("--out", help="output folder (default runs/leaderboard-DATA)")
    b.add_argument("--seed", type=seed(), default=0, help="train.seed for every config (default 0)")
    b.add_argument("-k", "--importance-samples", type=count(1, MAX_K), default=500,
                   help=f"K of the test NLL, the same for all, 1 to {MAX_K:,} (default 500)")
    b.add_argument("--metrics", action="append", metavar="GROUP[,GROUP]", help="metric groups for evaluate (repeatable)")
    b.add_argument("--rank-by", default="nll", help="numeric column to rank by (default nll)")
    b.add_argument("--better", choices=["lower", "higher"], default=None,
                   help="which way --rank-by improves (default: lower, higher for elbo, recon, active_units, images_per_sec)")
    b.add_argument("--samples", type=count(0, MAX_GRID), default=36,
                   help=f"samples per grid in the HTML page (sentences for a text run), 0 (none) to {MAX_GRID:,} (default 36)")
    b.add_argument("--device", choices=devices, default=None, help="train.device for every config")
    b.set_defaults(func=commands.cmd_leaderboard)

    o = command("oneclass", "the one-class anomaly protocol: train on each class alone, AUROC on the whole test split")
    o.add_argument("config", help="YAML config of the model")
    o.add_argument("--data", default=None, help="a labelled data set (data.name); default: the config's own")
    o.add_argument("--classes", type=label, nargs="+", default=None, help="the normal classes to run (default: every label)")
    o.add_argument("--score", choices=["elbo", "nll"], default="elbo", help="negative ELBO, or importance-sampled NLL")
    o.add_argument("-k", "--importance-samples", type=count(1, MAX_K), default=100, help=f"K for --score nll, 1 to {MAX_K:,} (default 100)")
    o.add_argument("--budget", default=None, help="the same budget for every class: a time (90s, 10m) or epochs (20ep)")
    o.add_argument("--seed", type=seed(), default=0, help="train.seed for every class (default 0)")
    o.add_argument("--out", help="output folder (default runs/oneclass-DATA)")
    o.add_argument("--data-dir", default=None, help="folder with the data files (else $VAEKIT_DATA_DIR)")
    o.add_argument("--device", choices=devices, default=None, help="train.device for every class")
    o.set_defaults(func=commands.cmd_oneclass)

    m = run_cmd("embed", "write latent means and log-variances as .npy")
    m.add_argument("--split", choices=splits, default="test", help="the examples to encode (default test)")
    m.add_argument("--out", help="output folder (default the run directory)")
    m.set_defaults(func=commands.cmd_embed)

    q = command("push", "upload a run to the Hugging Face Hub with a model card, to load as hf://USER/REPO",
                "Dotted config overrides do not apply: the run is uploaded as it was trained.")
    q.add_argument("run", help="run directory written by vaekit train")
    q.add_argument("repo", metavar="USER/REPO", help="the Hub repository, created when missing")
    q.add_argument("--private", action="store_true", help="create the repository private (an existing one keeps "
                                                          "its visibility)")
    q.add_argument("--token", default=None, help="a Hub token with write access (default: hf auth login's, or HF_TOKEN)")
    q.add_argument("--revision", "--branch", dest="revision", metavar="BRANCH", default=None,
                   help="the branch to commit to, created when missing (default: the default branch)")
    q.add_argument("--message", "-m", default=None, help="the commit message")
    q.add_argument("--with-state", action="store_true",
                   help="also upload train_state.pt, so that the run can be resumed (default: what loading needs)")
    q.set_defaults(func=commands.cmd_push)

    h = run_cmd("report", "one HTML page with the run's metrics, training curves and pictures")
    h.add_argument("--out", help="output file (default RUN/report.html)")
    h.add_argument("--map", choices=["pca", "tsne"], default="pca", help="how the latent map is drawn in 2-D")
    h.add_argument("--split", choices=splits, default="test", help="the examples of the pictures and the map (default test)")
    h.add_argument("--limit", type=count(1, MAX_IMAGES), default=2000,
                   help=f"examples in the latent map and the KL per dimension (a seeded subset), 1 to {MAX_IMAGES:,} "
                        "(default 2000; t-SNE needs 4)")
    h.add_argument("--seed", type=seed(TSNE_SEED_MAX), default=0, help="picks the subset and seeds the map, 0 to 2**32-1 (default 0)")
    h.set_defaults(func=commands.cmd_report)
    return p


# The paths a command takes; an empty one would read as absent and quietly mean the default.
_PATHS = {"out": "--out", "table": "TABLE", "resume": "--resume", "data_dir": "--data-dir", "inception_weights": "--inception-weights",
          "run": "RUN", "config": "CONFIG"}


def _check_paths(args: argparse.Namespace) -> None:
    for key, name in _PATHS.items():
        if getattr(args, key, None) == "":
            raise ConfigError(f"{name} is empty; name a file or folder, or drop {name} for the default"
                              if name.startswith("--") else f"the {name} argument is empty; pass a path")


def _out_of_memory(e: BaseException) -> str | None:
    """The one-line message for an allocation that failed (Python's MemoryError, torch's CPU
    allocator or CUDA), or None when `e` is something else."""
    text = str(e)
    if not (isinstance(e, MemoryError) or isinstance(e, RuntimeError) and
            ("can't allocate memory" in text or "out of memory" in text.lower())):
        return None
    tried = ""
    if found := re.search(r"allocate (\d+) bytes", text):  # the CPU allocator: "you tried to allocate N bytes"
        n = int(found.group(1))
        shown = next((f"{n / size:.1f} {unit}" for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)) if n >= size),
                     f"{n} bytes")
        tried = f" (tried to allocate {shown})"
    elif found := re.search(r"[Tt]ried to allocate ([\d.]+ ?[KMGT]i?B)", text):  # CUDA
        tried = f" (tried to allocate {found.group(1)})"
    return (f"out of memory{tried}: the model, batch or request is too large for this machine; lower what makes it "
            f"large (model.latent_dim, the hidden sizes, train.batch_size, train.sample_grid, -n, data.image_size), "
            f"or use a machine with more memory")


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """vaekit's own warnings (a table column left out, say) as one line each, without the
    source line Python shows by default; other libraries' warnings as Python shows them."""
    if category.__module__.startswith("vaekit."):
        print(f"vaekit: warning: {message}", file=file or sys.stderr)
    else:
        _python_showwarning(message, category, filename, lineno, file, line)


_python_showwarning = warnings.showwarning


def main(argv: list[str] | None = None) -> int:
    """Run `vaekit ARGV`; the exit code: 0, 2 for any user error (one line on stderr), 130 on Ctrl-C."""
    warnings.showwarning = _show_warning
    try:
        args, extra = parser().parse_known_args(argv)
    except SystemExit as e:  # --help (0) or a malformed command line (2), already printed
        return e.code if isinstance(e.code, int) else 2
    try:
        _check_paths(args)
        for module in args.imports or ():  # user code that registers its own components
            try:
                importlib.import_module(module)
            except ImportError as e:
                raise ConfigError(f"--import {module}: {e}; put the module on PYTHONPATH") from None
            except Exception as e:  # the user's module fails as it runs: say so, and how to see where
                raise ConfigError(f"--import {module} failed while importing ({type(e).__name__}: {e}); "
                                  f"run python -c 'import {module}' to see the traceback") from None
        args.func(args, _overrides(extra))
    except VaekitError as e:
        print(f"vaekit: error: {e}", file=sys.stderr)
        return 2
    except ValueError as e:  # argument values the library rejects
        print(f"vaekit: error: {e}", file=sys.stderr)
        return 2
    except (MemoryError, RuntimeError) as e:  # a model, batch or grid too large for the machine; anything else is a bug
        message = _out_of_memory(e)
        if message is None:
            raise
        print(f"vaekit: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vaekit: interrupted; continue a training run with: vaekit train --resume RUN", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
