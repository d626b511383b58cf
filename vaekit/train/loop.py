"""The epoch loop: the run's setup, its epochs of steps, validation, selection, checkpoints,
callbacks and the end-of-training outputs.

The trainer has three parts, each in its own file: one optimisation step (`vaekit.train.step`:
the family's terms through the one reduction, backward, the guard that skips non-finite or
spiking steps, the optimizers), this epoch loop, and the distributed layer
(`vaekit.train.distributed`), a no-op in one process. Each epoch ends with the validation ELBO
(and, for families not trained on it, their own validation objective), early stopping, the best
checkpoint and the training state, all written atomically by the first process alone (the run
directory's state lives in `vaekit.train.state`). The loop knows nothing about the model beyond
the contract (`vaekit.contract`); extend it with callbacks.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from tqdm import tqdm

from vaekit.version import __version__
from vaekit import run as rundir
from vaekit.config import Config, dump_config
from vaekit.data import Dataset
from vaekit.data import codec as codecs
from vaekit.errors import ConfigError, DataError, TrainingError, VaekitError
from vaekit.evaluate.elbo import elbo_stats, objective_stats
from vaekit.evaluate.latents import active_dims, few_active_warning, posterior_moments
from vaekit.models import build_model
from vaekit.sample import sample_grid, save_grid
from vaekit.sample.samplers import fitted_sampler, require_codes
from vaekit import files, weights
from vaekit.train import callbacks as hooks, messages, state, trackers
from vaekit.train.callbacks import Callback, TrainInfo  # noqa: F401 (part of this module's API)
from vaekit.train.aggressive import Aggressive
from vaekit.train.batches import batches, num_batches
from vaekit.train.distributed import Distributed
from vaekit.train.ema import EMA
from vaekit.train.schedules import beta_at, capacity_at, check_beta_schedule, lr_at, plateau_update
from vaekit.train.state import Counters
from vaekit.train.prepare import for_data, run_data
from vaekit.train.step import Step


class StopTraining(Exception):
    """Raise from a callback to end training after this epoch, as a finished run."""


@dataclass
class Session:
    """One training session of a run: what the epochs share."""

    config: Config
    out: Path
    data: Dataset
    model: Any  # the family (vaekit.contract.Family), unwrapped
    step: Step
    ema: EMA | None
    gen: torch.Generator
    counters: Counters
    dist: Distributed
    log: Callable[[str], None]
    meta: dict[str, str]
    select_by: str
    steps_per_epoch: int = 0
    aggressive: Aggressive | None = None  # train.aggressive: He et al.'s inner loop and its phase
    bad_in_row: int = 0
    config_pending: bool = False  # a resumed run records its overrides with its first new state


def train(config: Config, out_dir: str | Path, *, dataset: Dataset | None = None, resume: bool = False,
          overwrite: bool = False, callbacks: Sequence[Any] = (), log: Callable[[str], None] | None = None) -> "rundir.Run | None":
    """Train `config` into the run directory `out_dir` and return the loaded best run.

    `resume=True` continues the run in `out_dir` from its last completed epoch; the result equals
    an uninterrupted run with the same seed. Without it, an existing run is never overwritten
    unless `overwrite=True`. Launched by torchrun (`torchrun --nproc_per_node=N -m vaekit train
    ...`), it trains with DistributedDataParallel: `train.batch_size` is then the global batch,
    split evenly over the processes, and the first process alone writes the run directory and
    returns the run (the others return None).
    """
    from vaekit.checks import check_path
    from vaekit.config import require_config
    from vaekit.errors import InputError

    config = require_config(config, "train")
    out_dir = check_path(out_dir, "train's out_dir")
    if dataset is not None and not isinstance(dataset, Dataset):
        raise InputError(f"train's dataset must be a vaekit.Dataset (vaekit.load_dataset(config.data)) or None, "
                         f"got {type(dataset).__name__}")
    dist = Distributed.from_env(rundir.resolve_device(config.train.device))
    out = Path(out_dir)
    try:
        with dist.guard(out, resumable=lambda: (out / rundir.STATE).exists()):
            return _train(config, out, dataset, resume, overwrite, callbacks, log, dist)
    finally:
        dist.close()


def _train(config: Config, out: Path, dataset: Dataset | None, resume: bool, overwrite: bool,
           callbacks: Sequence[Any], log: Callable[[str], None] | None, dist: Distributed) -> "rundir.Run | None":
    callbacks = [*trackers.from_config(config.train), *callbacks]  # a missing package fails here, first
    s = _setup(config, out, dataset, resume, overwrite, log, dist)
    tc = config.train
    records = tuple(r for _, r in rundir.read_metrics(out / rundir.METRICS)) if resume and dist.is_main else ()
    info = TrainInfo(s.config, out, s.counters.epoch, records, dist.is_main)
    started: list[Any] = []
    try:
        hooks.start(callbacks, info, started)
        stop_reason = "epochs"
        s.log(messages.figures_note(s.select_by, config.model.name))
        while s.counters.epoch < tc.epochs:
            record, improved, train_time = _epoch(s)
            _log_epoch(s, record, improved)
            stop_reason = _stop_reason(s, callbacks, record, train_time)
            if stop_reason is not None:
                break
        result = _finish(s, stop_reason or "epochs") if dist.is_main else None
    except BaseException as e:
        hooks.end(started, replace(info, error=e), s.log)
        raise
    hooks.end(started, replace(info, summary=result.summary() if result is not None else None), s.log)
    # The first process writes the end-of-training files while the others wait, so that every
    # process leaves the group together (a process that tears its side down early can abort a
    # peer's exit in gloo's threads).
    dist.barrier()
    return result


def _setup(config: Config, out: Path, dataset: Dataset | None, resume: bool, overwrite: bool,
           log: Callable[[str], None] | None, dist: Distributed) -> Session:
    """Everything before the first epoch: the run directory, data, model, codec, optimizers and
    the state of a resumed run; bad input fails here, before any work."""
    tc = config.train
    device = dist.device
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    if not dist.is_main:
        log = lambda msg: None  # noqa: E731  (one voice: the first process's)
    out = state.prepare_dir(out, resume, overwrite, write_probe=dist.is_main)
    torch.manual_seed(tc.seed)
    data = run_data(config, out, resume, dataset)
    config = for_data(config, data)  # a table's columns become the mixed likelihood's layout
    text = data.codec is not None and data.codec.modality == "text"
    if (data.is_image or text) and tc.sample_sampler == "gmm" and (tc.sample_grid > 0 or tc.report):  # samples, report:
        require_codes(tc.sample_components, len(data.train))  # refuse now, not after training
    model = build_model(config.model, data.shape, data.num_classes).to(device)
    data = _with_codec(data, config, model, out, resume, dist.is_main)  # standardised vectors, say: what the model sees
    _check_data(data, model)
    _check_objective(model, config.objective)
    if dist.enabled:
        _check_shares(dist, tc.batch_size, len(data.train))
    steps_per_epoch = num_batches(len(data.train), tc.batch_size)
    check_beta_schedule(config.objective, steps_per_epoch * tc.epochs)
    select_by = tc.select_by if tc.select_by != "auto" else model.traits.select_by
    model.on_train_start({"train_size": len(data.train)})  # facts a family may need (beta-TCVAE: the data size)
    step = Step(model, dist.wrap(model), tc, config.objective, all_ok=dist.all_ok)
    ema = EMA(model, tc.ema_decay) if tc.ema_decay > 0 else None
    gen = torch.Generator().manual_seed(tc.seed)
    counters = Counters()
    if resume:
        counters = state.restore(out, model, step.optimizers, ema, gen, data.shape, truncate=dist.is_main)
        log(f"resuming {out} after epoch {counters.epoch}")
    elif dist.is_main:
        # Only now, with the data and the model known to be good, does --overwrite remove the old run.
        for path in rundir.outputs(out):
            path.unlink(missing_ok=True)
        files.write_text(out / rundir.METRICS, "")
        files.write_text(out / rundir.CONFIG, dump_config(config))
        files.write_json(out / codecs.FILE, data.codec.to_dict())
    dist.barrier()
    meta = {"vaekit_version": __version__, "model": config.model.name, "data_shape": json.dumps(list(data.shape)),
            "num_classes": json.dumps(data.num_classes), codecs.META_KEY: codecs.codec_metadata(data.codec)}
    return Session(config, out, data, model, step, ema, gen, counters, dist, log, meta, select_by,
                   steps_per_epoch=steps_per_epoch, config_pending=resume,
                   aggressive=Aggressive(step, data, tc, dist, gen) if tc.aggressive else None)


def _epoch(s: Session) -> tuple[dict[str, Any], bool, float]:
    """One epoch of steps, then validation, selection and the epoch's checkpoint; returns the
    metrics record, whether this epoch is the best so far and its training seconds."""
    tc, c, dist = s.config.train, s.counters, s.dist
    epoch = c.epoch + 1
    total_steps = s.steps_per_epoch * tc.epochs
    aggressive = s.aggressive is not None and not c.aggressive_ended  # this epoch trains the encoder aggressively
    s.model.train()
    if dist.enabled:
        # Each process draws its own noise (posterior draws, prior samples), from a stream that
        # depends on the seed, the epoch and the rank only, so a resumed run draws it again; one
        # process keeps the generator state saved with the training state.
        torch.manual_seed((tc.seed * 1_000_003 + epoch * 1_009 + dist.rank) % 2**63)
    sums: dict[str, torch.Tensor] = {}
    seen, t0 = 0, time.perf_counter()
    beta_t = torch.zeros((), device=dist.device)  # tensors, so a compiled step is not re-traced as they move
    capacity_t = torch.zeros((), device=dist.device)
    bar = tqdm(total=s.steps_per_epoch, desc=messages.epoch_label(epoch, c.epoch, c.elapsed, tc), leave=False,
               disable=not (tc.progress and dist.is_main and sys.stderr.isatty()))
    for batch in batches(s.data.train, tc.batch_size, s.gen, dist.device, s.data.dynamic_binarize,
                         rank=dist.rank, world_size=dist.world_size):
        beta_t.fill_(beta_at(c.step, s.steps_per_epoch, s.config.objective, total_steps))
        capacity_t.fill_(capacity_at(c.step, s.model.traits.kl_target))
        lr = lr_at(c.step, total_steps, tc, c.plateau_scale)
        if aggressive:  # the inference network alone first, then the rest of the model
            c.skipped_steps += s.aggressive.encoder_steps(batch, lr, beta_t, capacity_t)
        result = s.step(batch, lr, beta_t, capacity_t, part="generative" if aggressive else "all")
        c.step += 1
        if not result.ok:
            c.skipped_steps += 1
            s.bad_in_row += 1
            if s.bad_in_row > tc.max_bad_steps:
                raise TrainingError(
                    f"training stopped: {s.bad_in_row} non-finite or spiking steps in a row in epoch {epoch}; "
                    f"{messages.divergence_fixes(tc, s.data, s.model.likelihood.real_valued)}; {_kept(s.out)}")
            continue
        s.bad_in_row = 0
        if s.ema is not None:
            s.ema.update()
        n = len(batch)
        seen += n
        for k, v in result.metrics.items():
            sums[k] = sums.get(k, 0.0) + v.detach().float() * n
        bar.update(1)
        if c.step % 20 == 0:
            bar.set_postfix({"loss": f"{float(result.loss):.2f}", "ex_s": f"{seen / (time.perf_counter() - t0):.0f}"})
    bar.close()
    train_time = time.perf_counter() - t0
    totals = dist.reduce_sums({**sums, "_seen": float(seen)})  # every process's examples
    seen = int(totals.pop("_seen"))
    train_time = dist.broadcast(train_time)  # the first process's clock decides the time budget
    c.elapsed += train_time
    c.epoch = epoch
    val, improved = _validate(s, epoch)
    phase = s.aggressive.end_epoch(s.model, c, aggressive) if s.aggressive is not None else {}
    lr_used = lr_at(c.step - 1, total_steps, tc, c.plateau_scale)  # before the plateau cut
    c.plateau_scale = plateau_update(c.plateau_scale, c.epochs_since_best, tc)
    record = {
        "epoch": epoch, "step": c.step,
        **{f"train_{k}": float(v) / max(1, seen) for k, v in totals.items()},
        **{f"val_{k}": v for k, v in val.items()}, **phase,
        "lr": lr_used, "beta": float(beta_t), "skipped_steps": c.skipped_steps,
        "images_per_sec": seen / max(train_time, 1e-9), "time": c.elapsed,
    }
    if dist.is_main:
        state.append_metrics(s.out, record)
        state.save_state(s.out, s.model, s.step.optimizers, s.ema, s.gen, c)
        if s.config_pending:
            files.write_text(s.out / rundir.CONFIG, dump_config(s.config))
    s.config_pending = False
    dist.barrier()  # no process runs ahead of the epoch's checkpoint
    return record, improved, train_time


def _validate(s: Session, epoch: int) -> tuple[dict[str, float], bool]:
    """The validation figures (on the first process, shared with the others), the divergence
    check, and the best checkpoint when this epoch improves the selection score."""
    tc, c = s.config.train, s.counters
    val: dict[str, float] | None = None
    if s.dist.is_main:
        with s.ema.applied() if s.ema is not None else contextlib.nullcontext():
            val = elbo_stats(s.model, s.data.val.x, tc.eval_batch_size, y=s.data.val.y)
            if s.select_by == "objective":
                val["objective"] = objective_stats(s.model, s.data.val.x, tc.eval_batch_size, y=s.data.val.y,
                                                   beta=s.config.objective.beta)
    val = s.dist.broadcast(val)
    for key in ("elbo", "objective"):
        if not math.isfinite(val.get(key, 0.0)):  # diverged: keep the last good weights and state
            raise TrainingError(
                f"training stopped: the validation {key.replace('elbo', 'ELBO')} is {val[key]} after epoch {epoch}, the weights have "
                f"diverged; {messages.divergence_fixes(tc, s.data, s.model.likelihood.real_valued)}; {_kept(s.out)}")
    score = {"elbo": val["elbo"], "objective": -val.get("objective", 0.0), "last": float(epoch)}[s.select_by]
    improved = score > c.best_val
    if improved:
        c.best_val, c.best_epoch, c.epochs_since_best = score, epoch, 0
        if s.dist.is_main:
            with s.ema.applied() if s.ema is not None else contextlib.nullcontext():
                weights.save_weights(s.model, s.out / rundir.WEIGHTS, s.meta)
    else:
        c.epochs_since_best += 1
    return val, improved


def _log_epoch(s: Session, record: dict[str, Any], improved: bool) -> None:
    # Every figure printed reads the same way, higher is better: the objective (a loss) is negated.
    val = {k[4:]: v for k, v in record.items() if k.startswith("val_")}
    shown = f"val elbo {val['elbo']:.2f}" + (f"  val objective {-val['objective']:.2f}" if "objective" in val else "")
    shown += " (best)" if improved and s.select_by != "last" else ""
    if "mi" in val:  # train.aggressive
        shown += f"  val I(x;z) {val['mi']:.2f}" + (" (aggressive)" if record["aggressive"] else "")
    label = messages.epoch_label(record["epoch"], record["epoch"], s.counters.elapsed, s.config.train)
    unit = "img/s" if s.data.is_image else "ex/s"  # images, or rows of a table
    s.log(f"{label}  train elbo {record.get('train_elbo', math.nan):.2f}  {shown}  {record['images_per_sec']:.0f} {unit}")
    if record.get("aggressive") and s.counters.aggressive_ended:
        s.log("the validation I(x;z) fell: aggressive training of the inference network ends here")


def _stop_reason(s: Session, callbacks: Sequence[Any], record: dict[str, Any], train_time: float) -> str | None:
    """Why training ends after this epoch, or None; every process reaches the same answer."""
    stopped = False
    try:
        for cb in callbacks:
            if hasattr(cb, "on_epoch_end"):
                cb.on_epoch_end(record)
    except StopTraining:
        stopped = True
    if not s.dist.all_ok(not stopped):  # a callback of any process stops them all
        return "callback"
    tc, c = s.config.train, s.counters
    if tc.patience and c.epochs_since_best >= tc.patience:
        return "early_stopping"
    # Stop before an epoch that, as long as this one, would overrun the budget: a budget is a
    # ceiling, not a point to pass by up to an epoch.
    if tc.max_minutes and c.elapsed + train_time > 60 * tc.max_minutes:
        return "time_budget"
    return None


def _finish(s: Session, stop_reason: str) -> "rundir.Run":
    """The end of training (first process): the loaded best run, summary.json, samples.png, the
    report and the closing lines."""
    tc, c = s.config.train, s.counters
    result_run = rundir.load_run(s.out, device=str(s.dist.device), dataset=s.data)
    active, latent_dim = _active_on_val(result_run.model, s.data, s.config)
    summary = {"status": "complete", "stop_reason": stop_reason, **asdict(c),
               "selected_by": s.select_by, "num_params": sum(p.numel() for p in s.model.parameters()),
               "data": s.data.name, "data_shape": list(s.data.shape), "val_active_units": len(active),
               "latent_dim": latent_dim, "processes": s.dist.world_size}
    files.write_json(s.out / rundir.SUMMARY, summary)  # before the grid: a grid too large leaves a finished run
    if s.data.is_image and tc.sample_grid > 0:
        sampler = fitted_sampler(result_run.model, tc.sample_sampler, s.data.train.x, s.data.train.y, tc.sample_components)
        images, nrow = sample_grid(result_run.model, tc.sample_grid, tc.seed, sampler)
        save_grid(images, s.out / rundir.SAMPLES, nrow=nrow)
    elif s.data.codec is not None and s.data.codec.modality == "text" and tc.sample_grid > 0:  # sentences, not a grid
        _write_sentences(result_run, s.data, tc)
    kept = {"elbo": f"best val elbo {c.best_val:.2f} at epoch {c.best_epoch}",
            "objective": f"best val objective {c.best_val:.2f} at epoch {c.best_epoch}",
            "last": f"kept the last epoch, {c.best_epoch}"}[s.select_by]
    units = f"{len(active)} of {latent_dim} latent units active" if latent_dim else "no latent code"
    s.log(f"done ({stop_reason}): {kept}; {units}; run in {s.out}")
    warning = few_active_warning(active, latent_dim, math.prod(s.data.shape)) if latent_dim else None
    if warning:
        s.log(f"warning: {warning}")
    if tc.report:
        _write_report(result_run, s.log)
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


def _with_codec(data: Dataset, config: Config, model, out: Path, resume: bool, writer: bool = True) -> Dataset:
    """`data` through the run's codec: on resume the one the weights carry (they were trained
    under it; codec.json for runs from before), else one fitted on the training split as
    `data.standardize` says. Data passed in already
    through a codec (a run's `dataset()`) keep theirs."""
    if data.codec is not None:
        return data
    if resume:  # the weights' codec; a run from before codecs has none stored, and trained on the data as they are
        meta = state.weights_meta(out, data.shape)
        codec = codecs.run_codec(out, data.shape, meta, out / rundir.WEIGHTS)
        if writer and codecs.META_KEY in meta and not (out / codecs.FILE).exists():
            files.write_json(out / codecs.FILE, codec.to_dict())  # the readable copy, deleted: written again
        return codec.apply(data)
    likelihood = model.likelihood
    on = codecs.standardizes(config.data.standardize, data, likelihood.real_valued, type(likelihood).__name__.lower())
    return codecs.fit_codec(data, on).apply(data)


def _active_on_val(model, data: Dataset, config: Config) -> tuple[list[int], int]:
    """The active latent dimensions of the kept weights on the validation split (one encoder pass);
    none of none for a family without a latent (a language model)."""
    if not model.traits.latent:
        return [], 0
    mu, _ = posterior_moments(model, data.val.x, config.train.eval_batch_size, data.val.y)
    return active_dims(mu, config.eval.active_units_threshold), int(mu.shape[1])


def _check_shares(dist: Distributed, batch_size: int, n_train: int) -> None:
    """A distributed run's global batch splits evenly over the processes, and every batch is whole."""
    dist.split_batch(batch_size)  # ConfigError naming train.batch_size and the number of processes
    if n_train < batch_size:
        raise ConfigError(f"the training split has {n_train} examples, fewer than train.batch_size {batch_size} (the "
                          f"global batch of {dist.world_size} processes); lower train.batch_size")


def _check_data(data: Dataset, model) -> None:
    """Refuse data the likelihood cannot model, or holding NaN (data passed in directly too)."""
    for name in ("train", "val", "test"):
        where = f"the {name} split of data set '{data.name}'"
        if not bool(torch.isfinite(data.split(name).x).all()):
            raise DataError(f"{where} holds NaN or infinite values; clean or drop those examples")
        model.likelihood.validate(data.split(name).x, where, data.split(name).mask)


def _check_objective(model, objective) -> None:
    """Refuse objective settings the model family would silently ignore."""
    ignored = model.traits.ignores
    if objective.free_bits > 0 and "free_bits" in ignored:
        raise ConfigError(f"model '{model.config.name}' does not use objective.free_bits; remove it")
    if (objective.beta != 1.0 or objective.warmup_epochs > 0 or objective.cycles > 0) and "beta" in ignored:
        raise ConfigError(f"model '{model.config.name}' does not use objective.beta, warmup_epochs or cycles; remove them")


def _write_sentences(run: "rundir.Run", data: Dataset, tc) -> None:
    """samples.txt: train.sample_grid sentences, greedy decodes of codes from train.sample_sampler."""
    from vaekit.sample.text import SAMPLES_TEXT, sample_text, text_block, write_sentences

    sampler = fitted_sampler(run.model, tc.sample_sampler, data.train.x, data.train.y, tc.sample_components)
    write_sentences(run.path / SAMPLES_TEXT, text_block(sample_text(run, tc.sample_grid, seed=tc.seed, sampler=sampler)))


def _write_report(run: "rundir.Run", log: Callable[[str], None]) -> None:
    """report.html, the first thing to open after training. The run is complete and saved by now,
    so a report that cannot be written is a warning with the command that retries it."""
    from vaekit.report import make_report

    try:
        log(f"report: {make_report(run)} (open it in a browser)")
    except VaekitError as e:
        log(f"warning: the report was not written ({e}); write it with: vaekit report {run.path}")
