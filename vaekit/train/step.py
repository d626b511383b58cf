"""One optimisation step: the family's terms through the one reduction, backward, the guard that
skips non-finite or spiking steps, and the optimizers' step.

The step knows nothing about the family beyond the contract (`vaekit.contract`): it calls the
model's `forward` (so DistributedDataParallel synchronises the gradients), reduces the terms with
`vaekit.objectives.reduce`, and steps the auxiliary parameters (a discriminator, a code prior)
with an optimizer of their own. The loss and the auxiliary loss go through one backward pass;
the contract says each reaches only its own parameters, which the first step checks.

Aggressive training (`vaekit.train.aggressive`) steps one part of the model at a time: a step of
`part="inference"` updates the family's `inference_parameters()` alone, one of
`part="generative"` every other parameter. Both parts stay in the one Adam: its state is kept per
parameter and it passes over parameters without a gradient, so dropping the other part's
gradients is exactly a separate optimizer per part (He et al. 2019), with one saved state. As in
their code, the whole loss is back-propagated and clipping and the guard see the whole gradient
before the other part's is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vaekit.config import ObjectiveConfig, TrainConfig
from vaekit.contract import Batch, Family
from vaekit.errors import ConfigError, TrainingError
from vaekit.objectives import Loss, Weights, reduce


@dataclass
class StepResult:
    """Whether the step was taken (every process agrees), and the batch's detached metrics."""

    ok: bool
    loss: torch.Tensor
    metrics: dict[str, torch.Tensor]


class Step:
    """The optimisation step of one training run: `step(batch, lr, weights) -> StepResult`.

    `net` is what forward passes go through: the model itself, or its DistributedDataParallel
    wrapper; `all_ok` combines the guard's decision across processes (identity in one process),
    so that every process skips the same steps and the weights never drift apart."""

    def __init__(self, model: Family, net: torch.nn.Module, tc: TrainConfig, objective: ObjectiveConfig,
                 all_ok=lambda ok: ok) -> None:
        self.model, self.net, self.tc = model, net, tc
        self.free_bits = objective.free_bits
        self.aux_params = list(model.auxiliary_parameters())
        aux_ids = {id(p) for p in self.aux_params}
        self.params = [p for p in model.parameters() if p.requires_grad and id(p) not in aux_ids]
        self.optimizer = adam(self.params, tc)
        self.aux_optimizer = adam(self.aux_params, tc) if self.aux_params else None
        self.optimizers = [o for o in (self.optimizer, self.aux_optimizer) if o is not None]
        self.all_ok = all_ok
        self.objective = torch.compile(self._objective) if tc.compile else self._objective
        self.autocast = torch.autocast(_device(model).type, dtype=torch.bfloat16, enabled=tc.precision == "bf16")
        self._checked = not self.aux_params  # the separation of the two losses, checked on the first step
        # part -> the parameters its steps leave alone; aggressive training adds its two parts.
        self.parts: dict[str, list[torch.nn.Parameter]] = {"all": []}
        if tc.aggressive:
            inference = split_inference(model, self.params)
            ids = {id(p) for p in inference}
            self.parts.update(inference=[p for p in self.params if id(p) not in ids], generative=inference)

    def _objective(self, batch: Batch, beta: torch.Tensor, capacity: torch.Tensor) -> Loss:
        # Through `net`, the DDP wrapper in a distributed run: its forward synchronises the gradients.
        return reduce(self.net(batch), Weights(beta, self.free_bits, capacity), self.model.traits.kl_target)

    def __call__(self, batch: Batch, lr: float, beta: torch.Tensor, capacity: torch.Tensor,
                 part: str = "all") -> StepResult:
        """One step on `batch`, updating the parameters of `part`: "all", or under aggressive
        training "inference" (the encoder alone) or "generative" (every other parameter)."""
        tc = self.tc
        dropped = self.parts[part]
        for opt in self.optimizers:
            for group in opt.param_groups:
                group["lr"] = lr
            opt.zero_grad(set_to_none=True)
        with self.autocast:
            result = self.objective(batch, beta, capacity)
        if not self._checked:
            self._check_separation(result)
        total = result.loss if result.aux_loss is None else result.loss + result.aux_loss
        total.backward()
        # The guard: a non-finite loss skips the step. The gradient norm costs a pass over every
        # gradient, so it is taken only when clipping or spike-skipping needs it (and then it
        # must be finite too); weights spoilt by a NaN gradient behind a finite loss are still
        # caught at the epoch's end, where a non-finite validation ELBO stops training.
        finite = torch.isfinite(total)
        gnorm = None
        if tc.grad_clip > 0 or tc.skip_grad_norm > 0:
            gnorm = torch.nn.utils.get_total_norm([p.grad for p in self.params if p.grad is not None])
            if tc.grad_clip > 0:
                torch.nn.utils.clip_grads_with_norm_(self.params, tc.grad_clip, gnorm)
            finite = finite & torch.isfinite(gnorm)
        ok = bool(finite)
        if ok and tc.skip_grad_norm > 0 and float(gnorm) > tc.skip_grad_norm:
            ok = False
        ok = self.all_ok(ok)
        for p in dropped:  # a one-part step: the other part's gradients go, and Adam passes over them
            p.grad = None
        if ok:
            for opt in self.optimizers:
                opt.step()
        return StepResult(ok, result.loss.detach(), result.metrics)

    def _check_separation(self, result: Loss) -> None:
        """Refuse a family whose loss reaches its auxiliary parameters or whose auxiliary loss
        reaches its main ones: one backward pass would then mix the two objectives."""
        self._checked = True
        name = type(self.model).__name__
        for what, loss, params, other in (("loss", result.loss, self.aux_params, "auxiliary"),
                                          ("auxiliary loss", result.aux_loss, self.params, "main")):
            if loss is None or not loss.requires_grad:
                continue
            grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
            if any(g is not None and bool((g != 0).any()) for g in grads):
                raise TrainingError(f"{name}'s {what} reaches its {other} parameters; the model contract wants each "
                                    f"trained on its own objective: detach them in forward (see vaekit.contract)")


def split_inference(model: Family, params: list[torch.nn.Parameter]) -> list[torch.nn.Parameter]:
    """The family's inference network among the trained `params`, checked fit for aggressive
    training: a Gaussian posterior (its I(x;z) decides when the phase ends), no auxiliary
    optimizer, and both parts non-empty. ConfigError otherwise."""
    name = model.config.name
    if not model.traits.latent:
        raise ConfigError(f"train.aggressive trains an inference network, and model '{name}' has no latent code; "
                          f"remove train.aggressive")
    if not model.traits.gaussian_posterior:
        raise ConfigError(f"train.aggressive trains the inference network of a Gaussian posterior; model '{name}' "
                          f"has a deterministic encoder; remove train.aggressive")
    if model.auxiliary_parameters():
        raise ConfigError(f"model '{name}' trains auxiliary parameters with an optimizer of their own, which "
                          f"train.aggressive does not combine with; remove train.aggressive")
    trained = {id(p) for p in params}
    inference = [p for p in model.inference_parameters() if id(p) in trained]
    if not inference or len(inference) == len(params):
        what = "declares no inference network" if not inference else "has no parameters outside its inference network"
        raise ConfigError(f"model '{name}' {what} (Family.inference_parameters), so train.aggressive cannot step "
                          f"the encoder and the decoder apart; remove train.aggressive")
    return inference


def adam(params: list[torch.nn.Parameter], tc: TrainConfig) -> torch.optim.Optimizer:
    """Adam, fused into one kernel per step where the platform supports it."""
    try:
        return torch.optim.Adam(params, lr=tc.lr, weight_decay=tc.weight_decay, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(params, lr=tc.lr, weight_decay=tc.weight_decay, foreach=True)


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


__all__ = ["Step", "StepResult", "adam", "split_inference"]
