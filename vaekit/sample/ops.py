"""What a user does with a trained model: generate, reconstruct, interpolate, traverse, embed.

Every function checks its arguments where they enter, with the same checks as the command line
(`vaekit.checks`): a model that is not one (a `Run`: pass `run.model`), a count that is not a
positive integer or exceeds what the command line allows in one call, a temperature that is not a
positive finite number, data or codes of the wrong shape, type, on the meta device or with NaN
in them raise `InputError` (a `ValueError`) naming what was expected, before the model sees them.
Tensors on another device than the model's are moved to it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from vaekit.contract import PAD_ID, Batch, Family
from vaekit.checks import MAX_IMAGES, MAX_STEPS, MAX_TEMPERATURE, check_int, check_real, check_seed
from vaekit.errors import ConfigError, DataError, InputError


def _generator(model: nn.Module, seed: int | None) -> torch.Generator | None:
    if seed is None:
        return None
    return torch.Generator(device=_device(model)).manual_seed(check_seed(seed))


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _model(model: object, fn: str, method: str) -> nn.Module:
    """`model` if it is a model: an nn.Module with weights and the `method` that `fn` calls;
    otherwise InputError saying what to pass (a Run's `.model`, say)."""
    from vaekit.run import Run

    if isinstance(model, Run):
        raise InputError(f"{fn} expects a model, got a Run; pass its model: {fn}(run.model, ...)")
    if not isinstance(model, Family) or next(model.parameters(), None) is None:
        raise InputError(f"{fn} expects a vaekit model (run.model, or vaekit.build_model(...)), got {type(model).__name__}")
    return model


def _per_call(value: object, name: str, cap: int, fn: str, what: str) -> int:
    """A count of at least 1 and at most `cap` (what the command line allows) in one call."""
    value = check_int(value, name, min=1)
    if value > cap:
        raise InputError(f"{fn} makes at most {cap:,} {what} in one call (as the command line does), got {value:,}; "
                         f"make them in several calls")
    return value


def code_width(model: Family) -> int:
    """D, the width of the codes `encode` returns and `decode` takes (the family's `code_size`:
    `latent_dim` numbers, or for a VQ-VAE `latent_dim` code vectors of `code_dim` numbers each)."""
    return int(model.code_size)


def _shape(shape: Sequence[int | str]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


def _tensor(value: object, fn: str, what: str, name: str) -> torch.Tensor:
    """`value` as a non-empty tensor with finite values (the checks shared by data and codes)."""
    if not isinstance(value, torch.Tensor):
        raise InputError(f"{fn} expects {what} {name} as a torch.Tensor, got {type(value).__name__}; "
                         f"convert it with torch.as_tensor({name}, dtype=torch.float32)")
    if value.dtype.is_complex:
        raise InputError(f"{fn} expects real {what} {name}, got {value.dtype}")
    if value.device.type == "meta":  # shapes without values: nothing to compute with
        raise InputError(f"{fn}: {name} is on the meta device, which holds no values; pass a tensor with data "
                         f"(on the CPU or the model's device)")
    if value.layout != torch.strided:
        raise InputError(f"{fn} expects a dense tensor {name}, got layout {value.layout}; convert it with {name}.to_dense()")
    if value.ndim == 0 or len(value) == 0:
        raise InputError(f"{fn} expects at least one example in {name}, got shape {_shape(value.shape)}")
    if value.dtype.is_floating_point:
        bad = int((~torch.isfinite(value)).sum())
        if bad:
            raise InputError(f"{fn}: {name} holds {bad} NaN or infinite values; pass finite {what}")
    return value


def reads_tokens(model: nn.Module) -> bool:
    """Whether `model` reads token ids (a text model: its likelihood is `tokens`), so that its
    data are int64 ids (N, L) rather than numbers of the model's dtype."""
    likelihood = model._modules.get("likelihood")  # a submodule by that name, as Family does for its encoder
    return bool(likelihood is not None and likelihood.tokens)


def _token_data(model: nn.Module, x: torch.Tensor, fn: str, name: str) -> torch.Tensor:
    """Token ids x (N, L) for a text model, L at most the model's length, as int64; InputError
    for numbers, another shape, an id outside the vocabulary or a row without a token."""
    fix = "encode sentences with the run's codec: run.codec.encode(lines).ids"
    if x.dtype.is_floating_point or x.dtype == torch.bool:
        raise InputError(f"{fn} expects token ids {name} (an integer tensor) for this text model, got {x.dtype}; {fix}")
    longest = model.data_shape[0]
    if x.ndim != 2 or not 1 <= x.shape[1] <= longest:
        raise InputError(f"{fn} expects token ids {name} of shape (N, L) with L from 1 to {longest} (the run's "
                         f"max_length), got {_shape(x.shape)}; {fix}")
    try:
        model.likelihood.validate(x, f"{fn}'s {name}")
    except DataError as e:
        raise InputError(str(e)) from None
    empty = (x == PAD_ID).all(1).nonzero().flatten()
    if len(empty):
        raise InputError(f"{fn}: row {int(empty[0])} of {name} is all padding; every sentence has at least its <eos> "
                         f"({fix})")
    return x.long()


def _data(model: nn.Module, x: object, fn: str, name: str = "x") -> torch.Tensor:
    """Examples x (N, *data_shape) as floats of the model's dtype (on x's device: `encode` moves
    them in batches), or a text model's token ids (N, L) as int64; InputError naming the expected
    shape when they do not fit the model."""
    x = _tensor(x, fn, "data", name)
    if reads_tokens(model):
        return _token_data(model, x, fn, name)
    if not (x.dtype.is_floating_point or x.dtype == torch.bool):  # 0..255 pixels would pass as garbage
        raise InputError(f"{fn} expects floating-point data {name} (the values the model was trained on), got "
                         f"{x.dtype}; convert it, for example {name}.float() / 255 for 8-bit images")
    shape = model.data_shape
    if tuple(x.shape[1:]) != tuple(shape):
        hint = (f"; reshape it with {name}.reshape(-1, {', '.join(map(str, shape))})"
                if x.numel() % max(1, math.prod(shape)) == 0 else "")
        raise InputError(f"{fn} expects data {name} of shape {_shape(('N', *shape))}, got {_shape(x.shape)}{hint}")
    return x.to(dtype=next(model.parameters()).dtype)


def _codes(model: nn.Module, z: object, fn: str, name: str = "z") -> torch.Tensor:
    """Latent codes z (N, D) as floats on the model's device; integer codes are read as numbers."""
    z = _tensor(z, fn, "codes", name)
    width = code_width(model)
    if z.ndim != 2 or z.shape[1] != width:
        raise InputError(f"{fn} expects codes {name} of shape {_shape(('N', width))}, "
                         f"got {_shape(z.shape)}; they are what encode returns")
    param = next(model.parameters())
    return z.to(device=param.device, dtype=param.dtype)


def _labels(model: nn.Module, y: object, n: int, fn: str, name: str = "y") -> torch.Tensor | None:
    """Labels y (N,) as integers on the model's device, for a conditional model (others ignore y)."""
    if y is None or not model.traits.conditional:
        return None
    if not isinstance(y, torch.Tensor):
        raise InputError(f"{fn} expects labels {name} as a torch.Tensor, got {type(y).__name__}")
    if y.dtype.is_floating_point or y.dtype.is_complex or y.dtype == torch.bool:
        raise InputError(f"{fn} expects integer labels {name}, got {y.dtype}; convert them with {name}.long()")
    if y.device.type == "meta":
        raise InputError(f"{fn}: {name} is on the meta device, which holds no values; pass labels with data")
    if tuple(y.shape) != (n,):
        raise InputError(f"{fn} expects one label per example in {name}, shape ({n},), got {_shape(y.shape)}")
    return y.long().to(_device(model))


def class_labels(model: nn.Module, y: int | torch.Tensor | None, n: int, fn: str) -> torch.Tensor | None:
    """The classes of n examples to generate: one class `y` for all, or n labels, checked, on the
    model's device; ConfigError for a class asked of an unconditional model."""
    if y is not None and not model.traits.conditional:
        raise ConfigError("this model is unconditional, so it cannot generate a chosen class; "
                          "train a conditional one (model.name=cvae) or leave out --class")
    if y is not None and not isinstance(y, torch.Tensor):
        y = torch.full((n,), check_int(y, "class y", min=0), dtype=torch.long)
    return _labels(model, y, n, fn)


@torch.no_grad()
def sample(model: nn.Module, n: int, temperature: float = 1.0, seed: int | None = None,
           y: int | torch.Tensor | None = None, sampler=None) -> torch.Tensor:
    """n generated examples (the likelihood's mean) from the prior scaled by `temperature`;
    the same seed gives the same samples. `y`, a class or n labels, conditions a conditional
    model. `sampler`, a fitted sampler (vaekit.sample.GMMSampler), replaces the prior. At most
    MAX_IMAGES (100,000) samples per call."""
    model = _model(model, "sample", "sample")
    n = _per_call(n, "number of samples n", MAX_IMAGES, "sample", "samples")
    _check_sampler(sampler)
    temperature = check_real(temperature, "temperature", min_exclusive=0, max=MAX_TEMPERATURE)
    y = class_labels(model, y, n, "sample")
    generator = _generator(model, seed)
    if sampler is not None:
        return sampler.sample(n, temperature, generator, y=y).cpu()
    return model.sample(n, temperature, generator, y=y).cpu()


def _check_sampler(sampler: object) -> None:
    if isinstance(sampler, str):
        raise InputError(f"sample's sampler= takes a fitted sampler, not the name {sampler!r}; fit one with "
                         f"fitted_sampler(model, {sampler!r}, train_x) (from vaekit.sample import fitted_sampler)")
    if sampler is not None and not callable(getattr(sampler, "sample", None)):
        raise InputError(f"sample's sampler= takes a fitted sampler such as GMMSampler(model).fit(train_x) "
                         f"(from vaekit.sample import GMMSampler), got {type(sampler).__name__}")


@torch.no_grad()
def reconstruct(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """Reconstructions (the likelihood's mean at the posterior mean) of x (N, *data_shape)."""
    model = _model(model, "reconstruct", "reconstruct")
    x = _data(model, x, "reconstruct").to(_device(model))
    return model.reconstruct(Batch(x, _labels(model, y, len(x), "reconstruct"))).cpu()


@torch.no_grad()
def interpolate(model: nn.Module, xa: torch.Tensor, xb: torch.Tensor, steps: int = 8,
                ya: torch.Tensor | None = None, yb: torch.Tensor | None = None) -> torch.Tensor:
    """Decodings along the straight line between the posterior means of xa[i] and xb[i]:
    (P, steps, *shape) for P pairs; `steps` >= 2 counts both ends. A conditional model also moves
    its one-hot condition from ya[i] to yb[i] along the line. At most MAX_STEPS (100) steps, and
    MAX_IMAGES (100,000) decodings, pairs times steps, per call."""
    model = _model(model, "interpolate", "decode_code")
    steps = check_int(steps, "steps", min=2, max=MAX_STEPS)
    xa, xb = _data(model, xa, "interpolate", "xa"), _data(model, xb, "interpolate", "xb")
    if len(xa) != len(xb):
        raise InputError(f"interpolate pairs xa[i] with xb[i], so they need as many examples; got {len(xa)} and {len(xb)}")
    _per_call(len(xa) * steps, "pairs times steps", MAX_IMAGES, "interpolate", "decodings (pairs times steps)")
    device = _device(model)
    xa, xb = xa.to(device), xb.to(device)
    ya, yb = _labels(model, ya, len(xa), "interpolate", "ya"), _labels(model, yb, len(xb), "interpolate", "yb")
    if ya is None or yb is None:
        ya = yb = None
    za, zb = model.encode(Batch(xa, ya)).mu, model.encode(Batch(xb, yb)).mu  # (P, D)
    t = torch.linspace(0, 1, steps, device=device).view(1, steps, 1)
    z = za.unsqueeze(1) * (1 - t) + zb.unsqueeze(1) * t  # (P, steps, D)
    c = None
    if ya is not None:
        k = model.num_classes
        ca, cb = torch.nn.functional.one_hot(ya, k).float(), torch.nn.functional.one_hot(yb, k).float()
        c = ca.unsqueeze(1) * (1 - t) + cb.unsqueeze(1) * t  # (P, steps, K): the condition moves too
    return model.decode_code(z, c).mean.cpu()


@torch.no_grad()
def encode(model: nn.Module, x: torch.Tensor, batch_size: int = 500,
           y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior means and log-variances of x (N, *data_shape): (N, D) each."""
    from vaekit.sample.posterior import posterior_moments

    model = _model(model, "encode", "encode")
    x = _data(model, x, "encode")
    return posterior_moments(model, x, check_int(batch_size, "batch_size", min=1), _labels(model, y, len(x), "encode"))


@torch.no_grad()
def decode(model: nn.Module, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """The likelihood's mean at latent codes z (N, D) of the space `encode` returns (a hierarchical
    model's top layer)."""
    model = _model(model, "decode", "decode_code")
    z = _codes(model, z, "decode")
    return model.decode_code(z, _labels(model, y, len(z), "decode")).mean.cpu()


# ----------------------------------------------------------------------------- traversals


def gaussian_posterior(model: nn.Module) -> bool:
    """Whether `encode` gives a real Gaussian posterior, with standard deviations and per-dimension
    KLs that mean something (the VQ-VAE's is a point mass on its codes)."""
    return model.traits.gaussian_posterior


def _prior_moments(model: nn.Module, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation of each latent dimension under the prior, (D,) each: exact for
    N(0, I), else estimated from 10,000 seeded draws (mixture and VampPrior priors)."""
    from vaekit.distributions.priors import StandardNormal

    prior = model.prior
    if isinstance(prior, StandardNormal):
        return torch.zeros(prior.latent_dim, device=device), torch.ones(prior.latent_dim, device=device)
    z = prior.sample(10_000, 1.0, torch.Generator(device=device).manual_seed(0)).float()
    return z.mean(0), z.std(0)


@torch.no_grad()
def traverse(model: nn.Module, x: torch.Tensor, dim: int,
             values: Sequence[float] | torch.Tensor = (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0), *,
             units: str = "prior", y: torch.Tensor | None = None) -> torch.Tensor:
    """Latent traversals: (N, V, *shape) decodings for N examples and V values.

    Each x[i] is encoded to its posterior mean; latent dimension `dim` then takes each of
    `values` while the others stay at that mean, and the codes are decoded (the likelihood's
    mean). `units="prior"` reads the values in prior standard deviations around the prior's mean
    (for N(0, I): the coordinate itself); `units="posterior"` reads them in the example's own
    posterior standard deviation around its posterior mean. A hierarchical model is traversed in
    its top layer; a conditional one is encoded and decoded with the labels `y` (N,).
    """
    model = _model(model, "traverse", "decode_code")
    if units not in ("prior", "posterior"):
        raise InputError(f"units must be 'prior' or 'posterior', got {units!r}")
    if not gaussian_posterior(model):
        raise ConfigError(f"model '{model.config.name}' has no Gaussian posterior (its codes are a point mass), "
                          "so there are no standard deviations to traverse in")
    device = _device(model)
    try:
        v = torch.as_tensor(values, dtype=torch.float32, device=device).flatten()  # (V,)
    except (TypeError, ValueError, RuntimeError):
        raise InputError(f"traverse expects values as a sequence of numbers, got {type(values).__name__}") from None
    if len(v) == 0 or not bool(torch.isfinite(v).all()):
        raise InputError("traverse needs at least one value, and finite ones")
    x = _data(model, x, "traverse").to(device)
    _per_call(len(x) * len(v), "examples times values", MAX_IMAGES, "traverse", "decodings (examples times values)")
    y = _labels(model, y, len(x), "traverse")
    q = model.encode(Batch(x, y))
    n, d = q.mu.shape
    dim = check_int(dim, "dim")
    if not 0 <= dim < d:
        raise InputError(f"dim must lie in 0..{d - 1} (the latent dimensions), got {dim}")
    if units == "prior":
        mean, std = _prior_moments(model, device)
        column = (mean[dim] + v * std[dim]).expand(n, -1)  # (N, V)
    else:
        column = q.mu[:, dim : dim + 1] + v * q.std[:, dim : dim + 1]  # (N, V)
    z = q.mu.unsqueeze(1).repeat(1, len(v), 1)  # (N, V, D): every code starts at the posterior mean
    z[:, :, dim] = column
    ys = None if y is None else y.repeat_interleave(len(v))  # (N * V,): each example keeps its label
    out = model.decode_code(z.reshape(n * len(v), d), ys).mean
    return out.reshape(n, len(v), *out.shape[1:]).cpu()
