"""The training loop, in one readable file.

Everything a step does is visible here: the beta and learning-rate schedules, bf16 autocast,
gradient clipping, the guard that skips non-finite or spiking steps (and stops when they
persist), the EMA update. Each epoch ends with the validation ELBO (and, for families not trained
on it, their own validation objective), early stopping, the best checkpoint and the training
state, all written atomically (the run directory's state lives in `vaekit.train.state`). The loop
knows nothing about the model beyond `model.loss(x, y, beta=..., free_bits=...)`; extend it with
callbacks.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

import torch
from tqdm import tqdm

from vaekit.version import __version__
from vaekit import run as rundir
from vaekit.config import Config, dump_config
from vaekit.data import Dataset, load_dataset
from vaekit.data import codec as codecs
from vaekit.errors import ConfigError, DataError, TrainingError, VaekitError
from vaekit.evaluate.elbo import elbo_stats, objective_stats
from vaekit.evaluate.latents import active_dims, few_active_warning, posterior_moments
from vaekit.models import build_model
from vaekit.sample import sample_grid, save_grid
from vaekit.sample.samplers import fitted_sampler, require_codes
from vaekit.train import checkpoint, messages, state
from vaekit.train.batches import batches, num_batches
from vaekit.train.ema import EMA
from vaekit.train.schedules import beta_at, lr_at, plateau_update
from vaekit.train.state import Counters


class StopTraining(Exception):
    """Raise from a callback to end training after this epoch, as a finished run."""


class Callback(Protocol):
    """Hooks the loop calls; implement any subset."""

    def on_epoch_end(self, record: dict[str, Any]) -> None: ...


def train(config: Config, out_dir: str | Path, *, dataset: Dataset | None = None, resume: bool = False,
          overwrite: bool = False, callbacks: Sequence[Any] = (), log: Callable[[str], None] | None = None) -> "rundir.Run":
    """Train `config` into the run directory `out_dir` and return the loaded best run.

    `resume=True` continues the run in `out_dir` from its last completed epoch; the result equals
    an uninterrupted run with the same seed. Without it, an existing run is never overwritten
    unless `overwrite=True`.
    """
    from vaekit.checks import check_path
    from vaekit.config import require_config
    from vaekit.errors import InputError

    config = require_config(config, "train")
    out_dir = check_path(out_dir, "train's out_dir")
    if dataset is not None and not isinstance(dataset, Dataset):
        raise InputError(f"train's dataset must be a vaekit.Dataset (vaekit.load_dataset(config.data)) or None, "
                         f"got {type(dataset).__name__}")
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    tc = config.train
    device = rundir.resolve_device(tc.device)
    out = state.prepare_dir(Path(out_dir), resume, overwrite)
    torch.manual_seed(tc.seed)
    data = dataset if dataset is not None else load_dataset(config.data)
    if data.is_image and tc.sample_sampler == "gmm" and (tc.sample_grid > 0 or tc.report):  # samples.png, report.html:
        require_codes(tc.sample_components, len(data.train))  # refuse now, not after training
    model = build_model(config.model, data.shape, data.num_classes).to(device)
    data = _with_codec(data, config, model, out, resume)  # standardised vectors, say: what the model sees
    for name in ("train", "val", "test"):
        where = f"the {name} split of data set '{data.name}'"
        if not bool(torch.isfinite(data.split(name).x).all()):  # also for data passed in directly
            raise DataError(f"{where} holds NaN or infinite values; clean or drop those examples")
        model.likelihood.validate(data.split(name).x, where)

    _check_objective(model, config.objective)
    select_by = tc.select_by if tc.select_by != "auto" else getattr(model, "select_by", "elbo")
    if hasattr(model, "on_train_start"):  # families that need facts about the data (its size, say)
        model.on_train_start(data)
    # Families with parameters trained on an objective of their own (a discriminator, a prior over
    # codes) name them; those get a second Adam and only `aux_loss` reaches them.
    aux_params = list(model.auxiliary_parameters()) if hasattr(model, "auxiliary_parameters") else []
    aux_ids = {id(p) for p in aux_params}
    params = [p for p in model.parameters() if p.requires_grad and id(p) not in aux_ids]
    optimizer = _adam(params, tc)
    aux_optimizer = _adam(aux_params, tc) if aux_params else None
    optimizers = [o for o in (optimizer, aux_optimizer) if o is not None]
    ema = EMA(model, tc.ema_decay) if tc.ema_decay > 0 else None
    gen = torch.Generator().manual_seed(tc.seed)
    counters = Counters()
    if resume:
        counters = state.restore(out, model, optimizers, ema, gen, data.shape)
        log(f"resuming {out} after epoch {counters.epoch}")
    else:
        # Only now, with the data and the model known to be good, does --overwrite remove the old run.
        for path in rundir.outputs(out):
            path.unlink(missing_ok=True)
        checkpoint.write_text(out / rundir.METRICS, "")
        checkpoint.write_text(out / rundir.CONFIG, dump_config(config))
        checkpoint.write_json(out / codecs.FILE, data.codec.to_dict())
    # A resumed run records its overrides (a longer train.epochs, say) with its first new state, so
    # a resume that fails before then leaves config.yaml describing the checkpoint that is there.
    config_pending = resume
    meta = {"vaekit_version": __version__, "model": config.model.name, "data_shape": json.dumps(list(data.shape)),
            "num_classes": json.dumps(data.num_classes), codecs.META_KEY: codecs.codec_metadata(data.codec)}

    loss_fn = torch.compile(model.loss) if tc.compile else model.loss
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=tc.precision == "bf16")
    steps_per_epoch = num_batches(len(data.train), tc.batch_size)
    total_steps = steps_per_epoch * tc.epochs
    beta_t = torch.zeros((), device=device)  # a tensor, so a compiled step is not re-traced as beta moves
    bad_in_row = 0
    stop_reason = "epochs"
    rate_unit = "img/s" if data.is_image else "ex/s"  # images, or rows of a table
    log(messages.figures_note(select_by, config.model.name))

    while counters.epoch < tc.epochs:
        epoch = counters.epoch + 1
        model.train()
        sums: dict[str, torch.Tensor] = {}
        seen, t0 = 0, time.perf_counter()
        bar = tqdm(total=steps_per_epoch, desc=messages.epoch_label(epoch, counters.epoch, counters.elapsed, tc),
                   leave=False, disable=not (tc.progress and sys.stderr.isatty()))
        for x, y in batches(data.train, tc.batch_size, gen, device, data.dynamic_binarize):
            lr = lr_at(counters.step, total_steps, tc, counters.plateau_scale)
            for opt in optimizers:
                for group in opt.param_groups:
                    group["lr"] = lr
                opt.zero_grad(set_to_none=True)
            beta_t.fill_(beta_at(counters.step, steps_per_epoch, config.objective))
            with autocast:
                result = loss_fn(x, y, beta=beta_t, free_bits=config.objective.free_bits)
            if aux_optimizer is None:
                result.loss.backward()
            else:  # each loss reaches its own parameters only
                result.loss.backward(inputs=params, retain_graph=True)
                result.aux_loss.backward(inputs=aux_params)
            # The guard: a non-finite loss skips the step. The gradient norm costs a pass over every
            # gradient, so it is taken only when clipping or spike-skipping needs it (and then it
            # must be finite too); weights spoilt by a NaN gradient behind a finite loss are still
            # caught at the epoch's end, where a non-finite validation ELBO stops training.
            finite = torch.isfinite(result.loss)
            if result.aux_loss is not None:
                finite = finite & torch.isfinite(result.aux_loss)
            if tc.grad_clip > 0 or tc.skip_grad_norm > 0:
                gnorm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
                if tc.grad_clip > 0:
                    torch.nn.utils.clip_grads_with_norm_(params, tc.grad_clip, gnorm)
                finite = finite & torch.isfinite(gnorm)
            ok = bool(finite)
            if ok and tc.skip_grad_norm > 0 and float(gnorm) > tc.skip_grad_norm:
                ok = False
            counters.step += 1
            if not ok:
                counters.skipped_steps += 1
                bad_in_row += 1
                if bad_in_row > tc.max_bad_steps:
                    raise TrainingError(
                        f"training stopped: {bad_in_row} non-finite or spiking steps in a row in epoch {epoch}; "
                        f"{messages.divergence_fixes(tc, data, model.likelihood.real_valued)}; {_kept(out)}"
                    )
                continue
            bad_in_row = 0
            for opt in optimizers:
                opt.step()
            if ema is not None:
                ema.update()
            n = x.shape[0]
            seen += n
            for k, v in result.metrics.items():
                sums[k] = sums.get(k, 0.0) + v.detach().float() * n
            bar.update(1)
            if counters.step % 20 == 0:
                bar.set_postfix({"loss": f"{float(result.loss.detach()):.2f}",
                                 rate_unit.replace("/", "_"): f"{seen / (time.perf_counter() - t0):.0f}"})
        bar.close()
        train_time = time.perf_counter() - t0
        counters.elapsed += train_time
        counters.epoch = epoch

        with ema.applied() if ema is not None else contextlib.nullcontext():
            val = elbo_stats(model, data.val.x, tc.eval_batch_size, y=data.val.y)
            if select_by == "objective":
                val["objective"] = objective_stats(model, data.val.x, tc.eval_batch_size, y=data.val.y,
                                                   beta=config.objective.beta)
            for key in ("elbo", "objective"):
                if not math.isfinite(val.get(key, 0.0)):  # diverged: keep the last good weights and state
                    raise TrainingError(
                        f"training stopped: the validation {key.replace('elbo', 'ELBO')} is {val[key]} after epoch {epoch}, the weights have "
                        f"diverged; {messages.divergence_fixes(tc, data, model.likelihood.real_valued)}; {_kept(out)}"
                    )
            score = {"elbo": val["elbo"], "objective": -val.get("objective", 0.0), "last": float(epoch)}[select_by]
            improved = score > counters.best_val
            if improved:
                counters.best_val, counters.best_epoch, counters.epochs_since_best = score, epoch, 0
                checkpoint.save_weights(model, out / rundir.WEIGHTS, meta)
            else:
                counters.epochs_since_best += 1
        lr_used = lr_at(counters.step - 1, total_steps, tc, counters.plateau_scale)  # before the plateau cut
        counters.plateau_scale = plateau_update(counters.plateau_scale, counters.epochs_since_best, tc)
        record = {
            "epoch": epoch, "step": counters.step,
            **{f"train_{k}": float(v) / max(1, seen) for k, v in sums.items()},
            **{f"val_{k}": v for k, v in val.items()},
            "lr": lr_used,
            "beta": float(beta_t), "skipped_steps": counters.skipped_steps,
            "images_per_sec": seen / max(train_time, 1e-9), "time": counters.elapsed,
        }
        state.append_metrics(out, record)
        state.save_state(out, model, optimizers, ema, gen, counters)
        if config_pending:
            checkpoint.write_text(out / rundir.CONFIG, dump_config(config))
            config_pending = False
        # Every figure printed reads the same way, higher is better: the objective (a loss) is negated.
        shown = f"val elbo {val['elbo']:.2f}" + (f"  val objective {-val['objective']:.2f}" if "objective" in val else "")
        label = messages.epoch_label(epoch, epoch, counters.elapsed, tc)
        log(f"{label}  train elbo {record.get('train_elbo', math.nan):.2f}  "
            f"{shown}{' (best)' if improved and select_by != 'last' else ''}  {record['images_per_sec']:.0f} {rate_unit}")
        try:
            for cb in callbacks:
                if hasattr(cb, "on_epoch_end"):
                    cb.on_epoch_end(record)
        except StopTraining:
            stop_reason = "callback"
            break
        if tc.patience and counters.epochs_since_best >= tc.patience:
            stop_reason = "early_stopping"
            break
        # Stop before an epoch that, as long as this one, would overrun the budget: a budget is a
        # ceiling, not a point to pass by up to an epoch.
        if tc.max_minutes and counters.elapsed + train_time > 60 * tc.max_minutes:
            stop_reason = "time_budget"
            break

    result_run = rundir.load_run(out, device=str(device), dataset=data)
    active, latent_dim = _active_on_val(result_run.model, data, config)
    summary = {"status": "complete", "stop_reason": stop_reason, **asdict(counters),
               "selected_by": select_by, "num_params": sum(p.numel() for p in model.parameters()), "data": data.name,
               "data_shape": list(data.shape), "val_active_units": len(active), "latent_dim": latent_dim}
    checkpoint.write_json(out / rundir.SUMMARY, summary)  # before the grid: a grid too large leaves a finished run
    if data.is_image and tc.sample_grid > 0:
        sampler = fitted_sampler(result_run.model, tc.sample_sampler, data.train.x, data.train.y, tc.sample_components)
        _sample_grid(result_run.model, tc.sample_grid, tc.seed, out / rundir.SAMPLES, sampler)
    kept = {"elbo": f"best val elbo {counters.best_val:.2f} at epoch {counters.best_epoch}",
            "objective": f"best val objective {counters.best_val:.2f} at epoch {counters.best_epoch}",
            "last": f"kept the last epoch, {counters.best_epoch}"}[select_by]
    log(f"done ({stop_reason}): {kept}; {len(active)} of {latent_dim} latent units active; run in {out}")
    warning = few_active_warning(active, latent_dim, math.prod(data.shape))
    if warning:
        log(f"warning: {warning}")
    if tc.report:
        _write_report(result_run, log)
    return result_run


def train_or_reuse(config: Config, out_dir: str | Path, *, log: Callable[[str], None] | None = None) -> tuple["rundir.Run", str]:
    """The run of `config` in `out_dir`, and how it came to be: 'reused' (a complete run of the
    same config), 'resumed' (an interrupted one), or 'trained' (afresh, replacing a run of another
    config and the weights of a run killed before its first training state)."""
    found = rundir.run_state(out_dir, config)
    if found == "complete":
        return rundir.load_run(out_dir, device=config.train.device), "reused"
    run = train(config, out_dir, resume=found == "interrupted", overwrite=found != "interrupted", log=log)
    return run, "resumed" if found == "interrupted" else "trained"


def _kept(out: Path) -> str:
    if (out / rundir.WEIGHTS).exists():
        return f"the last good checkpoint in {out} is kept"
    return "no epoch finished, so there is no checkpoint yet"


def _with_codec(data: Dataset, config: Config, model, out: Path, resume: bool) -> Dataset:
    """`data` through the run's codec: on resume the one the weights carry (they were trained
    under it; codec.json for runs from before), else one fitted on the training split as
    `data.standardize` says. Data passed in already
    through a codec (a run's `dataset()`) keep theirs."""
    if data.codec is not None:
        return data
    if resume:  # the weights' codec; a run from before codecs has none stored, and trained on the data as they are
        meta = state.weights_meta(out, data.shape)
        codec = codecs.run_codec(out, data.shape, meta, out / rundir.WEIGHTS)
        if codecs.META_KEY in meta and not (out / codecs.FILE).exists():
            checkpoint.write_json(out / codecs.FILE, codec.to_dict())  # the readable copy, deleted: written again
        return codec.apply(data)
    likelihood = model.likelihood
    on = codecs.standardizes(config.data.standardize, data, likelihood.real_valued, type(likelihood).__name__.lower())
    return codecs.fit_codec(data, on).apply(data)


def _active_on_val(model, data: Dataset, config: Config) -> tuple[list[int], int]:
    """The active latent dimensions of the kept weights on the validation split (one encoder pass)."""
    mu, _ = posterior_moments(model, data.val.x, config.train.eval_batch_size, data.val.y)
    return active_dims(mu, config.eval.active_units_threshold), int(mu.shape[1])


def _check_objective(model, objective) -> None:
    """Refuse objective settings the model family would silently ignore."""
    ignored = getattr(model, "ignores", frozenset())
    if objective.free_bits > 0 and "free_bits" in ignored:
        raise ConfigError(f"model '{model.config.name}' does not use objective.free_bits; remove it")
    if (objective.beta != 1.0 or objective.warmup_epochs > 0) and "beta" in ignored:
        raise ConfigError(f"model '{model.config.name}' does not use objective.beta or warmup_epochs; remove them")


def _write_report(run: "rundir.Run", log: Callable[[str], None]) -> None:
    """report.html, the first thing to open after training. The run is complete and saved by now,
    so a report that cannot be written is a warning with the command that retries it."""
    from vaekit.report import make_report

    try:
        log(f"report: {make_report(run)} (open it in a browser)")
    except VaekitError as e:
        log(f"warning: the report was not written ({e}); write it with: vaekit report {run.path}")


def _sample_grid(model, n: int, seed: int, path: Path, sampler=None) -> None:
    """samples.png, with codes from `sampler` (None: the prior); a conditional model gets one row
    per class."""
    images, nrow = sample_grid(model, n, seed, sampler)
    save_grid(images, path, nrow=nrow)


def _adam(params: list[torch.nn.Parameter], tc) -> torch.optim.Optimizer:
    """Adam, fused into one kernel per step where the platform supports it."""
    try:
        return torch.optim.Adam(params, lr=tc.lr, weight_decay=tc.weight_decay, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(params, lr=tc.lr, weight_decay=tc.weight_decay, foreach=True)
