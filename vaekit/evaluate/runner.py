"""`evaluate(run)`: the figures papers report, on one split, written to eval_SPLIT.json.

The figures come in groups that `metrics=` chooses. A group is a function of an `EvalContext`
returning a dict of figures, registered by name in `METRIC_GROUPS`, so adding one is a function
and an entry; nothing else changes. A group that does not apply to a run (`NOT_APPLICABLE`: the
table group to image runs, the model-space quality group to table runs) is skipped with its
reason, on stderr and under `skipped` in the result. The file keeps groups measured before on the same weights
(`vaekit.evaluate.results`), and each group says on stderr when it starts and how long it took.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaekit.checks import MAX_COMPONENTS, MAX_K, check_int, check_seed
from vaekit.data.base import SPLITS
from vaekit.data.load import limit as limit_split
from vaekit.errors import ConfigError, InputError, OutputError
from vaekit.evaluate.disentangle import factorvae_score, mig, require_factors
from vaekit.evaluate.elbo import elbo_stats
from vaekit.evaluate.fidelity import reconstruction_errors
from vaekit.evaluate.latents import (
    active_dims,
    collapse_warning,
    kl_per_dim,
    mutual_information,
    posterior_moments,
)
from vaekit.evaluate.nll import importance_nll, mean_and_stderr
from vaekit.evaluate.results import merge, read_result, weights_digest
from vaekit.evaluate.table_group import choose_target, is_table_run
from vaekit.evaluate.text_group import is_text_run, not_for_text, per_token_figures, text_figures, text_only
from vaekit.objectives import bits_per_dim
from vaekit.registry import suggest
from vaekit.run import Run, load_run
from vaekit.files import write_json


@dataclass
class EvalContext:
    """What every metric group reads: the run, the examples of the split and the settings."""

    run: Run
    split: str
    x: torch.Tensor
    y: torch.Tensor | None
    factors: torch.Tensor | None
    importance_samples: int
    batch_size: int  # data points per importance-sampling batch
    chunk_size: int
    seed: int
    _moments: tuple[torch.Tensor, torch.Tensor] | None = None
    _nll: torch.Tensor | None = None
    inception_weights: str | None = None  # a local pytorch-fid weights file: the quality group adds fid_inception
    sampler: str = "prior"  # where the quality group's samples draw their codes: prior, or gmm
    components: int = 10  # of the gmm sampler
    target: str | None = None  # the table group's ML-efficacy target column (None: its default)
    limit: int | None = None  # the seeded subset of the split (evaluate's limit=), which the table group's rows match

    @property
    def model(self) -> torch.nn.Module:
        return self.run.model

    @property
    def eval_batch_size(self) -> int:
        return self.run.config.train.eval_batch_size

    def moments(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior means and log-variances (N, D), computed once and shared by the groups."""
        if self._moments is None:
            self._moments = posterior_moments(self.model, self.x, self.eval_batch_size, self.y)
        return self._moments

    def nll(self) -> torch.Tensor:
        """The importance-sampled NLL of every example (N,), computed once and shared by the
        groups (the likelihood group's mean, the text group's perplexity)."""
        if self._nll is None:
            self._nll = importance_nll(self.model, self.x, self.importance_samples, self.batch_size, self.chunk_size,
                                       seed=self.seed, y=self.y)
        return self._nll


def likelihood_metrics(ctx: EvalContext) -> dict[str, Any]:
    """Single-sample ELBO and its terms, and the importance-sampled NLL in nats and bits/dim (per
    token, `<eos>` included, for a text run: `vaekit.evaluate.text_group`). A family without a
    likelihood bound (a WAE) has the reconstruction term alone."""
    dims = ctx.model.num_dims
    elbo = elbo_stats(ctx.model, ctx.x, ctx.eval_batch_size, seed=ctx.seed, y=ctx.y)
    if not ctx.model.traits.bound:
        return {"recon": elbo["recon"], "bound": False}
    nll, nll_se = mean_and_stderr(ctx.nll())
    out = {
        "importance_samples": ctx.importance_samples,
        "elbo": elbo["elbo"],
        "elbo_stderr": elbo["elbo_stderr"],
        "recon": elbo["recon"],
        "kl": elbo["kl"],
        "nll": nll,
        "nll_stderr": nll_se,
    }
    if is_text_run(ctx.run):  # num_dims counts L padded positions; a sentence has its tokens
        out.update(per_token_figures(ctx.nll(), ctx.x))
    else:
        out.update(nll_nats_per_dim=nll / dims, nll_bits_per_dim=bits_per_dim(nll, dims))
    codec = ctx.run.codec
    if codec.modality == "vector" and not codec.identity:  # the figures above are of the standardised data; this one is in the data's units
        out["nll_data_units"] = nll + codec.log_scale
    return out


def latent_metrics(ctx: EvalContext) -> dict[str, Any]:
    """Active units (and which), KL per dimension against N(0, I), I(x; z) (clipped at 0, which it
    never is below, and the raw estimate, which can dip a little below 0) and the collapse warning
    (or None). A point-mass posterior (VQ-VAE, WAE) has active units only: no spread, so no KL per
    dimension or I(x; z) to estimate."""
    mu, logvar = ctx.moments()
    dims = active_dims(mu, ctx.run.config.eval.active_units_threshold)
    if not ctx.model.traits.gaussian_posterior:
        return {"active_units": len(dims), "active_dims": dims, "latent_dim": int(mu.shape[1]), "kl_per_dim": None,
                "mutual_information": None, "mutual_information_raw": None, "collapse_warning": None}
    kl = kl_per_dim(mu, logvar)
    raw = mutual_information(mu, logvar, generator=torch.Generator().manual_seed(ctx.seed))
    mi = max(0.0, raw)
    return {
        "active_units": len(dims),
        "active_dims": dims,
        "latent_dim": int(mu.shape[1]),
        "kl_per_dim": kl.tolist(),
        "mutual_information": mi,
        "mutual_information_raw": raw,
        "collapse_warning": collapse_warning(dims, int(mu.shape[1]), mi, kl),
    }


def fidelity_metrics(ctx: EvalContext) -> dict[str, Any]:
    """Mean and standard error of each per-example reconstruction error (and SSIM for images)."""
    out: dict[str, Any] = {}
    for name, values in reconstruction_errors(ctx.model, ctx.x, ctx.eval_batch_size, ctx.y).items():
        out[name], out[f"{name}_stderr"] = mean_and_stderr(values)
    return out


def disentanglement_metrics(ctx: EvalContext) -> dict[str, Any]:
    """MIG and FactorVAE score of the posterior means against the data set's true factors."""
    factors = require_factors(ctx, ctx.run.dataset().name)
    mu, _ = ctx.moments()
    return {"mig": mig(mu, factors), "factorvae_score": factorvae_score(mu, factors, seed=ctx.seed)}


def quality_metrics(ctx: EvalContext) -> dict[str, Any]:
    """Sample quality and diversity against the examples of the split: Fréchet distance,
    precision and recall in a classifier's feature space (and Inception FID with weights)."""
    from vaekit.data.base import Split
    from vaekit.evaluate.quality import sample_quality

    q = sample_quality(ctx.run, len(ctx.x), seed=ctx.seed, inception_weights=ctx.inception_weights, split=ctx.split,
                       real=Split(ctx.x, ctx.y), sampler=ctx.sampler, components=ctx.components)
    return {k: v for k, v in q.items() if k not in ("split", "seconds")}  # the runner reports those


def text_metrics(ctx: EvalContext) -> dict[str, Any]:
    """A text run's perplexity per token (from the likelihood group's NLL when it ran), token and
    sentence accuracy of greedy reconstructions, and distinct-n and length of seeded samples
    beside the split's own (`vaekit.evaluate.text_group`)."""
    return text_figures(ctx.run, ctx.x, ctx.nll() if ctx.model.traits.bound else None, ctx.seed, ctx.y)


def table_metrics(ctx: EvalContext) -> dict[str, Any]:
    """A table run's synthetic rows against the split's rows, in the table's units: quality score,
    ML efficacy, distance to the closest record and imputation error (`vaekit.evaluate.table_group`)."""
    from vaekit.evaluate.table_group import table_figures

    return table_figures(ctx.run, ctx.split, seed=ctx.seed, limit=ctx.limit, target=ctx.target, log=_stderr)


# name -> group; the order here is the order of the figures in the result.
METRIC_GROUPS: dict[str, Callable[[EvalContext], dict[str, Any]]] = {
    "likelihood": likelihood_metrics,
    "latent": latent_metrics,
    "fidelity": fidelity_metrics,
    "disentanglement": disentanglement_metrics,
    "quality": quality_metrics,
    "table": table_metrics,
    "text": text_metrics,
}
DEFAULT_METRICS = ("likelihood", "latent")  # what metrics=None computes: the cheap, always-meaningful groups
TABLE_DEFAULT_METRICS = ("likelihood", "latent", "table")  # metrics=None for a table run
TEXT_DEFAULT_METRICS = ("likelihood", "latent", "text")  # metrics=None for a text run


def _not_for_tables(run: Run) -> str | None:
    if is_table_run(run):
        return ("its Fréchet distance and precision/recall compare model-space vectors; for a table run the "
                "table group compares synthetic rows in the table's own units (--metrics table)")
    if is_text_run(run):
        return ("its Fréchet distance and precision/recall compare vectors in a classifier's feature space; for a "
                "text run the text group measures samples by distinct-n (--metrics text)")
    return None


def _needs_latent(run: Run) -> str | None:
    if not run.model.traits.latent:
        return f"it reads the codes of q(z|x), and model '{run.config.model.name}' has no latent code"
    return None


def _not_for_text_or_tables(run: Run) -> str | None:
    if is_table_run(run):
        return ("its errors compare model-space vectors (one-hot blocks, mode-normalised values), not the table's "
                "own units; for a table run the table group scores hidden cells in the table's units "
                "(--metrics table), and vaekit reconstruct writes the reconstructed rows")
    return not_for_text(run)


def _tables_only(run: Run) -> str | None:
    if not is_table_run(run):
        return f"it measures synthetic table rows, and this run models {run.codec.modality} data (data.name=table)"
    return None


# group -> why it does not apply to a run (None when it does); groups not named always apply.
NOT_APPLICABLE: dict[str, Callable[[Run], str | None]] = {"quality": _not_for_tables, "table": _tables_only,
                                                          "fidelity": _not_for_text_or_tables, "text": text_only,
                                                          "latent": _needs_latent}


def default_metrics(run: Run) -> tuple[str, ...]:
    """The groups metrics=None computes for `run`: likelihood and latent, and table for a table
    run, text for a text run."""
    if is_text_run(run):  # a language model has no latent figures
        return TEXT_DEFAULT_METRICS if run.model.traits.latent else ("likelihood", "text")
    return TABLE_DEFAULT_METRICS if is_table_run(run) else DEFAULT_METRICS


def applicable(run: Run, metrics: Sequence[str]) -> list[str]:
    """The chosen groups (checked, in METRIC_GROUPS order) that apply to `run`."""
    return [g for g in metric_groups(metrics) if not (g in NOT_APPLICABLE and NOT_APPLICABLE[g](run))]


def metric_groups(metrics: Sequence[str] | str | None) -> list[str]:
    """The chosen group names, checked, in METRIC_GROUPS order; a string may list them with commas."""
    if metrics is None:
        return list(DEFAULT_METRICS)
    names = [m.strip() for m in metrics.split(",")] if isinstance(metrics, str) else [str(m).strip() for m in metrics]
    names = [m for m in names if m]
    valid = ", ".join(METRIC_GROUPS)
    if not names:
        raise ConfigError(f"no metric group chosen; choose from {valid}")
    for name in names:
        if name not in METRIC_GROUPS:
            close = suggest(name, list(METRIC_GROUPS))
            hint = close if "did you mean" in close else ""
            raise ConfigError(f"unknown metric group '{name}'{hint}; choose from {valid}")
    return [g for g in METRIC_GROUPS if g in names]


def evaluate(run: Run | str | Path, split: str | None = None, importance_samples: int | None = None, *,
             batch_size: int | None = None, chunk_size: int | None = None, limit: int | None = None,
             seed: int = 0, write: bool = True, metrics: Sequence[str] | None = None,
             inception_weights: str | None = None, sampler: str = "prior", components: int = 10,
             target: str | None = None, out: str | Path | None = None,
             log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The figures of the chosen metric groups on one split of `run` (a loaded `Run` or a run
    directory, as `make_report` takes), as a dict; writes `eval_SPLIT.json`
    (or the file `out`; a folder gets eval_SPLIT.json inside), merged with the groups that file
    holds from earlier calls on the same weights and split.

    `metrics` names groups of METRIC_GROUPS: "likelihood" (ELBO, importance-sampled NLL in nats
    and bits/dim), "latent" (active units, KL per dimension, I(x; z), collapse warning),
    "fidelity" (reconstruction errors, SSIM) and "disentanglement" (MIG, FactorVAE score; data
    sets with factors only) and "quality" (sample quality and diversity; `inception_weights`, a
    local pytorch-fid weights file, adds Inception FID; `sampler` "gmm" draws the samples' codes
    from a Gaussian mixture of `components` fitted to the training codes) and "table" (table runs:
    quality score, ML efficacy, distance to the closest record and imputation error of synthetic
    rows; `target` names the ML-efficacy target column, see `vaekit.evaluate.table_group`) and
    "text" (text runs: perplexity, reconstruction token accuracy, distinct-n of samples, see
    `vaekit.evaluate.text_group`). None gives likelihood and latent, and table for a table run,
    text for a text run. A chosen group that does not apply to
    the run is skipped, with its reason under `skipped` (a ConfigError when none applies). Defaults come from the run's `eval` config (split 'test', K = 5000). `limit` evaluates a seeded random subset (quick
    checks: not a test-set figure).

    The returned dict holds this call's groups only; `measured` says, per group, when and on what
    it was measured. `log` receives a line as each group starts and ends (default: stderr; pass
    `log=lambda line: None` for silence), so that stdout can stay pure JSON.
    """
    log = log or _stderr
    if isinstance(run, (str, os.PathLike)):
        run = load_run(run)
    elif not isinstance(run, Run):
        raise InputError(f"evaluate expects a Run (vaekit.load_run(path)) or the path of a run directory, "
                         f"got {type(run).__name__}")
    if out is not None and not write:
        raise InputError("out= names where to write the figures, and write=False writes none; drop one of them")
    groups = metric_groups(metrics) if metrics is not None else list(default_metrics(run))
    skipped = {g: why for g in groups if g in NOT_APPLICABLE for why in [NOT_APPLICABLE[g](run)] if why}
    if skipped and len(skipped) == len(groups):
        raise ConfigError("no chosen metric group applies to this run: "
                          + "; ".join(f"{g}: {why}" for g, why in skipped.items()))
    if target is not None:
        if "table" not in groups or "table" in skipped:
            raise ConfigError("the target column is used by the table metric group only, on a table run; "
                              "add it (--metrics table) or leave out --target")
        choose_target(run, target)  # an unknown column fails now, with a suggestion
    if inception_weights is not None:
        if "quality" not in groups:
            raise ConfigError("Inception weights are used by the quality metric group only; add it (--metrics quality)")
        from vaekit.evaluate.inception import require_weights_file

        require_weights_file(inception_weights)  # before the slow groups run, not after
    if not isinstance(sampler, str):
        raise InputError(f"evaluate's sampler names a registered sampler ('prior' or 'gmm'), got {type(sampler).__name__}")
    components = check_int(components, "components (of the sampler)", min=1, max=MAX_COMPONENTS, error=ConfigError)
    if sampler != "prior":
        if "quality" not in groups:
            raise ConfigError(f"the sampler is used by the quality metric group only; add it (--metrics quality) "
                              f"or leave out --sampler {sampler}")
        from vaekit.sample.samplers import SAMPLERS  # the registry, with the built-in samplers in it

        SAMPLERS.get(sampler)  # an unknown name fails now, with a suggestion
    ec = run.config.eval
    split = split or ec.split
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    # The numbers, checked as the command line checks them (vaekit.checks), before any slow work.
    k = importance_samples if importance_samples is not None else ec.importance_samples
    k = check_int(k, "importance_samples", min=1, max=MAX_K, error=ConfigError)
    batch_size = check_int(ec.batch_size if batch_size is None else batch_size, "batch_size", min=1, error=ConfigError)
    chunk_size = check_int(ec.chunk_size if chunk_size is None else chunk_size, "chunk_size", min=0, error=ConfigError)
    seed = check_seed(seed, "seed", error=ConfigError)
    if limit is not None:
        limit = check_int(limit, "limit", min=1, error=ConfigError)
    data = run.dataset().split(split)
    if "disentanglement" in groups:
        require_factors(data, run.dataset().name)  # before the slow groups run, not after
    if limit is not None:
        # A seeded random subset, not a prefix: file order is not random (the first 1,000
        # binarized-MNIST test images are harder than the rest).
        data = limit_split(data, limit, np.random.default_rng(seed))
    ctx = EvalContext(run, split, data.x, data.y, getattr(data, "factors", None), k, batch_size, chunk_size, seed,
                      inception_weights=None if inception_weights is None else str(inception_weights),
                      sampler=sampler, components=components, target=target, limit=limit)
    path = _result_path(run, split, out) if write else None  # a bad --out fails before the slow groups
    t0 = time.perf_counter()
    result: dict[str, Any] = {"split": split, "num_examples": len(data.x)}
    for group, why in skipped.items():
        log(f"evaluate: {group} skipped: {why}")
    groups = [g for g in groups if g not in skipped]
    measured = {group: _measure(ctx, group, limit, result, log) for group in groups}
    result.update(num_dims=run.model.num_dims, metrics=groups, seconds=time.perf_counter() - t0, measured=measured,
                  weights_sha256=weights_digest(run.model))
    if skipped:
        result["skipped"] = skipped
    if path is not None:
        merged, kept = merge(read_result(path), result, list(METRIC_GROUPS))
        write_json(path, merged)
        log(f"evaluate: wrote {path}" + (f" (kept {', '.join(kept)} measured before on these weights)" if kept else ""))
    return result


def _measure(ctx: EvalContext, group: str, limit: int | None, result: dict[str, Any],
             log: Callable[[str], None]) -> dict[str, Any]:
    """Run one metric group into `result`, saying so on `log`; returns its `measured` record."""
    what = f"{len(ctx.x)} {ctx.split} examples" + (f", a seeded subset (limit={limit})" if limit is not None else "")
    likelihood = group == "likelihood" or (group == "text" and ctx.model.traits.bound)  # groups that use the NLL
    log(f"evaluate: {group} (K={ctx.importance_samples}, {what}) ..." if likelihood else f"evaluate: {group} ({what}) ...")
    start = time.perf_counter()
    figures = METRIC_GROUPS[group](ctx)
    seconds = time.perf_counter() - start
    log(f"evaluate: {group} done in {seconds:.1f} s")
    result.update(figures)
    return {"at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "num_examples": len(ctx.x), "limit": limit,
            "seed": ctx.seed, **({"importance_samples": ctx.importance_samples} if likelihood else {}),
            "seconds": round(seconds, 3), "figures": list(figures)}


def _result_path(run: Run, split: str, out: str | Path | None) -> Path:
    """Where the figures go: RUN/eval_SPLIT.json, the file `out`, or eval_SPLIT.json in the folder `out`."""
    if out is None:
        return run.output_dir(f"eval_{split}.json") / f"eval_{split}.json"
    path = Path(out)
    if path.is_dir():
        return path / f"eval_{split}.json"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create '{path.parent}' ({(e.strerror or 'failed').lower()}); "
                          "choose another --out") from None
    return path


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
