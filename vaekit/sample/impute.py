"""Imputation of missing entries and sampling given some entries, in model space (tensors in,
tensors out), for any family with a Gaussian posterior and a likelihood bound.

MIWAE, Mattei & Frellsen 2019, "MIWAE: Deep Generative Modelling and Imputation of Incomplete
Data Sets", https://arxiv.org/abs/1812.02633 (section 4).

The method. A row x splits into observed entries x_o (mask 1) and missing ones x_m (mask 0). The
encoder sees x with zeros in the missing entries (MIWAE's zero imputation) and proposes codes
z_1..z_K ~ q(z|x_o); their importance weights are the IWAE weights of the observed entries,

    log w_k = log p(x_o|z_k) + log p(z_k) - log q(z_k|x_o),    w~_k = softmax(log w)_k,

and {(z_k, w~_k)} approximates the posterior p(z|x_o), exactly as K grows, however poor q is.

- `impute_draws` (multiple imputation, sampling importance resampling): for each of M draws pick
  k ~ Categorical(w~) and draw x ~ p(x|z_k); the missing entries of that draw are one sample of
  p(x_m|x_o) (approximately, exactly as K grows).
- `impute_mean` (single imputation): E[x_m|x_o] ~ sum_k w~_k E[x_m|z_k], the likelihood's mean.
  `weighted_pass` gives the weighted codes' likelihoods to any such sum_k w~_k f(p(x|z_k)): the
  table rows' single imputation (`vaekit.sample.table_impute`) takes its expectations in the
  table's units through it.
- `conditional_draws` (rows given some entries, `--where column=value`): the same resampling, with
  the prior as the proposal: z_k ~ p(z), log w_k = log p(x_given|z_k). An encoder trained on
  complete rows is a poor proposal for a mostly empty row; the prior never fails that way (its
  weights just spread thin when the given entries are improbable: raise K then).

Observed (given) entries are copied from the input, bit for bit; only missing entries come from
the model. A row with nothing observed is imputed from the model's marginal p(x) (q of the all-zero
row is then only the proposal, which the weights correct). For a table (the mixed likelihood) a
column counts as observed only when its whole block is, so mask whole blocks: a partly masked block
is scored as missing but its observed entries are still copied.

The same generator state, arguments and `chunk` give the same result. Everything runs under
`torch.no_grad` with the model in eval mode (its mode is restored afterwards).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator, TypeVar

import torch

from vaekit.checks import MAX_IMAGES, MAX_K, check_int
from vaekit.contract import Batch, Family
from vaekit.errors import InputError

MAX_DRAWS = 1_000  # imputations per row in one call (multiple imputation uses 5 to 100)
ROWS_PER_PASS = 65_536  # decoded rows held at once (about K * chunk): bounds the memory of a pass
T = TypeVar("T")


# ----------------------------------------------------------------------------- checks


def check_family(model: object, fn: str) -> Family:
    """`model` if the importance weights above are defined for it; InputError naming the family if not."""
    if not isinstance(model, Family):
        raise InputError(f"{fn} expects a vaekit model (run.model, or vaekit.build_model(...)), got {type(model).__name__}")
    name = getattr(getattr(model, "config", None), "name", None) or type(model).__name__
    t = model.traits
    if t.hierarchical:
        raise InputError(f"{fn} does not support the hierarchical family '{name}': its weights need every latent layer; "
                         "use a single-layer family (vae, iwae, cvae)")
    if not t.gaussian_posterior:
        raise InputError(f"{fn} does not support the family '{name}': its point-mass posterior has no density for the "
                         "importance weights; use a family with a Gaussian posterior (vae, iwae)")
    if not t.bound:
        raise InputError(f"{fn} does not support the family '{name}': it has no likelihood bound to weigh codes by; "
                         "use a family with one (vae, iwae)")
    return model


def _device(model: Family) -> tuple[torch.device, torch.dtype]:
    p = next(model.parameters(), None)
    if p is None:
        p = next(model.buffers(), torch.zeros(()))
    return p.device, p.dtype if p.dtype.is_floating_point else torch.float32


def _rows(model: Family, x: object, mask: object, fn: str, name: str = "x") -> tuple[torch.Tensor, torch.Tensor]:
    """x (B, *data_shape) and its mask as a bool tensor, checked: floats, the model's shape, a mask of
    0/1 shaped like x, finite observed entries (missing ones may hold anything, NaN too)."""
    if not isinstance(x, torch.Tensor) or not x.dtype.is_floating_point:
        raise InputError(f"{fn} expects {name} as a floating-point torch.Tensor, got "
                         f"{x.dtype if isinstance(x, torch.Tensor) else type(x).__name__}")
    shape = tuple(model.data_shape)
    if x.ndim != 1 + len(shape) or tuple(x.shape[1:]) != shape or len(x) == 0:
        raise InputError(f"{fn} expects {name} of shape (N, {', '.join(map(str, shape))}) with N >= 1, got {tuple(x.shape)}")
    if mask is None:
        raise InputError(f"{fn} needs the mask of observed entries (1 observed, 0 missing), shaped like {name}; give one")
    if not isinstance(mask, torch.Tensor) or tuple(mask.shape) != tuple(x.shape):
        got = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise InputError(f"{fn} expects a mask tensor of {name}'s shape {tuple(x.shape)}, got {got}")
    if mask.dtype != torch.bool and not ((mask == 0) | (mask == 1)).all():
        raise InputError(f"{fn}: the mask holds values other than 0 and 1; mark observed entries 1 and missing ones 0")
    observed = mask.to(device=x.device, dtype=torch.bool)
    if not (torch.isfinite(x) | ~observed).all():
        raise InputError(f"{fn}: {name} holds NaN or infinite values in observed entries; mark them missing (mask 0)")
    return x, observed


def _counts(fn: str, num_samples: object, draws: object | None = None, cap: int = MAX_DRAWS,
            name: str = "draws") -> tuple[int, int]:
    k = check_int(num_samples, f"{fn}: num_samples", min=1, max=MAX_K)
    m = 1 if draws is None else check_int(draws, f"{fn}: {name}", min=1, max=cap)
    return k, m


def _labels(model: Family, y: torch.Tensor | None, n: int, fn: str, device: torch.device) -> torch.Tensor | None:
    if not model.traits.conditional:
        return None
    if y is None:
        raise InputError(f"{fn}: this conditional model needs the label of every row; give them as the batch's y")
    if not isinstance(y, torch.Tensor) or len(y) != n:
        raise InputError(f"{fn} expects {n} labels, one per row, got {tuple(y.shape) if isinstance(y, torch.Tensor) else y!r}")
    return y.to(device)


def _check_generator(generator: torch.Generator | None, device: torch.device, fn: str) -> None:
    if generator is not None and torch.device(generator.device).type != device.type:
        raise InputError(f"{fn}: the generator is on {generator.device} but the model on {device}; "
                         f"make it with torch.Generator(device='{device.type}')")


@contextmanager
def _evaluating(model: Family) -> Iterator[None]:
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was)


# ----------------------------------------------------------------------------- the weights


def _lead(y: torch.Tensor | None, k: int) -> torch.Tensor | None:
    """Labels (b, ...) repeated for k leading samples, (k, b, ...): they follow the codes."""
    return None if y is None else y.expand(k, *y.shape)


def _weighted_codes(model: Family, x0: torch.Tensor, mask: torch.Tensor, y: torch.Tensor | None, k: int,
                    generator: torch.Generator | None, fn: str):
    """K codes per row from q(z|x_o), their log-weights and p(x|z) at them: (K, b, *code), (K, b),
    and the likelihood with batch shape (K, b)."""
    q = model.encode(Batch(x0, y, mask))
    z = q.rsample(k, generator=generator)  # (K, b, L)
    px = model.decode(z, _lead(y, k))
    log_w = px.log_prob(x0, mask) + model.prior.log_prob(z) - q.log_prob(z)
    _check_weights(log_w, fn)
    return z, log_w, px


def _check_weights(log_w: torch.Tensor, fn: str) -> None:
    # A row whose every weight is -inf (or any NaN) has observed values the likelihood gives no
    # probability (a negative count, say): resampling it would be meaningless.
    bad = ~torch.isfinite(log_w).any(0) | torch.isnan(log_w).any(0)
    if bad.any():
        row = int(bad.nonzero()[0, 0])
        raise InputError(f"{fn}: the observed entries of row {row} have no probability under the model (a value "
                         "outside the likelihood's support); check that row's values")


def _resample(log_w: torch.Tensor, m: int, generator: torch.Generator | None) -> torch.Tensor:
    """m indices per row drawn from softmax(log_w) over its K samples: (K, b) -> (m, b)."""
    probs = torch.softmax(log_w.double(), 0).T  # (b, K); float64 so that large K keeps tiny weights
    return torch.multinomial(probs, m, replacement=True, generator=generator).T


def _pick(z: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """z (K, b, *code) at the indices (m, b): (m, b, *code)."""
    return z[idx, torch.arange(z.shape[1], device=z.device)[None, :]]


def _prepared(model: Family, batch: Batch, fn: str):
    if not isinstance(batch, Batch):
        raise InputError(f"{fn} expects a vaekit Batch(x, y, mask), got {type(batch).__name__}")
    x, observed = _rows(model, batch.x, batch.mask, fn)
    device, dtype = _device(model)
    obs = observed.to(device)
    x0 = torch.where(obs, x.to(device=device, dtype=dtype), torch.zeros((), device=device, dtype=dtype))
    return x, observed, x0, obs.to(dtype), _labels(model, batch.y, len(x), fn, device), device


# ----------------------------------------------------------------------------- the functions


def impute_draws(model: Family, batch: Batch, draws: int = 1, num_samples: int = 100,
                 generator: torch.Generator | None = None, chunk: int | None = None) -> torch.Tensor:
    """`draws` imputations of every row of `batch` (x, mask, and y for a conditional family):
    (draws, B, *data_shape), observed entries copied from x, missing ones drawn from p(x_m|x_o) by
    sampling importance resampling over `num_samples` codes per row. `chunk` rows are done per pass
    (by default as many as keep about 65,536 decoded rows in memory)."""
    fn = "impute_draws"
    model = check_family(model, fn)
    k, m = _counts(fn, num_samples, draws)
    x, observed, x0, mask, y, device = _prepared(model, batch, fn)
    _check_generator(generator, device, fn)
    step = _chunk(chunk, max(k, m), fn)
    parts = []
    with _evaluating(model):
        for s in range(0, len(x), step):
            rows = slice(s, s + step)
            yb = None if y is None else y[rows]
            z, log_w, _ = _weighted_codes(model, x0[rows], mask[rows], yb, k, generator, fn)
            zs = _pick(z, _resample(log_w, m, generator))  # (M, b, L)
            parts.append(model.decode(zs, _lead(yb, m)).sample(generator).to(x.device))
    out = torch.cat(parts, 1).to(device=x.device, dtype=x.dtype)  # (M, B, *shape)
    return torch.where(observed, x, out)


def impute_mean(model: Family, batch: Batch, num_samples: int = 100, generator: torch.Generator | None = None,
                chunk: int | None = None) -> torch.Tensor:
    """MIWAE's single imputation of every row of `batch`: (B, *data_shape), observed entries copied
    from x, missing ones sum_k w~_k E[x|z_k] over `num_samples` codes per row. For a categorical
    column that is the vector of imputed probabilities, not a one-hot (take its argmax for a label)."""
    fn = "impute_mean"

    def weighted_mean(px, w: torch.Tensor) -> torch.Tensor:
        mean = _mean(px, fn)  # (K, b, *shape)
        w = w.to(mean.dtype)
        return (w.reshape(*w.shape, *[1] * (mean.ndim - 2)) * mean).sum(0)

    parts = weighted_pass(model, batch, weighted_mean, num_samples, generator, chunk, fn)  # checks the batch
    x = batch.x
    out = torch.cat(parts).to(device=x.device, dtype=x.dtype)
    return torch.where(batch.mask.to(device=x.device, dtype=torch.bool), x, out)


def weighted_pass(model: Family, batch: Batch, reduce: Callable[[Any, torch.Tensor], T], num_samples: int = 100,
                  generator: torch.Generator | None = None, chunk: int | None = None,
                  fn: str = "weighted_pass") -> list[T]:
    """`reduce(px, w)` on each pass of `chunk` rows of `batch`, in row order: px is p(x|z_k) at the
    rows' `num_samples` codes z_k ~ q(z|x_o) (batch shape (K, b)), w (K, b) their normalised
    importance weights w~_k in float64. MIWAE's single imputation of any function of the
    likelihood's parameters, sum_k w~_k f(p(x|z_k)), is one such reduction. `chunk` rows are done
    per pass (by default as many as keep about 65,536 decoded rows in memory)."""
    model = check_family(model, fn)
    k, _ = _counts(fn, num_samples)
    x, _, x0, mask, y, device = _prepared(model, batch, fn)
    _check_generator(generator, device, fn)
    step = _chunk(chunk, k, fn)
    parts = []
    with _evaluating(model):
        for s in range(0, len(x), step):
            rows = slice(s, s + step)
            yb = None if y is None else y[rows]
            z, log_w, px = _weighted_codes(model, x0[rows], mask[rows], yb, k, generator, fn)
            parts.append(reduce(px, torch.softmax(log_w.double(), 0)))  # float64: large K keeps tiny weights
    return parts


def conditional_draws(model: Family, x_given: torch.Tensor, mask_given: torch.Tensor, n: int, num_samples: int = 10_000,
                      generator: torch.Generator | None = None, y: int | torch.Tensor | None = None,
                      chunk: int | None = None) -> torch.Tensor:
    """n rows drawn from p(x | the given entries): (n, *data_shape). `x_given` is one row
    (*data_shape) holding the given values where `mask_given` is 1 (anything elsewhere);
    `num_samples` prior codes are weighted by p(x_given|z) and resampled, then x ~ p(x|z) with the
    given entries copied in. `y` is the class of a conditional family (refused by others). With
    nothing given it samples the model's p(x)."""
    fn = "conditional_draws"
    model = check_family(model, fn)
    k, n = _counts(fn, num_samples, n, cap=MAX_IMAGES, name="n")
    if not isinstance(x_given, torch.Tensor) or not isinstance(mask_given, torch.Tensor):
        raise InputError(f"{fn} expects x_given and mask_given as torch.Tensors, one row each")
    x, observed = _rows(model, x_given[None], mask_given[None], fn, "x_given")
    device, dtype = _device(model)
    _check_generator(generator, device, fn)
    yk = _class(model, y, fn, device)
    obs = observed.to(device)
    x0 = torch.where(obs, x.to(device=device, dtype=dtype), torch.zeros((), device=device, dtype=dtype))  # (1, *shape)
    step = _chunk(chunk, 1, fn)
    with _evaluating(model):
        z = model.prior.sample(k, 1.0, generator)  # (K, L)
        log_w = torch.cat([model.decode(z[s:s + step], _rep(yk, len(z[s:s + step]))).log_prob(x0, obs.to(dtype))
                           for s in range(0, k, step)])  # (K,)
        _check_weights(log_w[:, None], fn)
        zs = z[_resample(log_w[:, None], n, generator)[:, 0]]  # (n, L)
        out = torch.cat([model.decode(zs[s:s + step], _rep(yk, len(zs[s:s + step]))).sample(generator).to(x.device)
                         for s in range(0, n, step)]).to(x.dtype)
    return torch.where(observed, x, out)


# ----------------------------------------------------------------------------- helpers


def _chunk(chunk: int | None, per_row: int, fn: str) -> int:
    if chunk is None:
        return max(1, ROWS_PER_PASS // per_row)
    return check_int(chunk, f"{fn}: chunk", min=1)


def _mean(px, fn: str) -> torch.Tensor:
    try:
        return px.mean
    except NotImplementedError:
        raise InputError(f"{fn}: this model's likelihood ({type(px).__name__}) has no mean; use impute_draws") from None


def _class(model: Family, y: int | torch.Tensor | None, fn: str, device: torch.device) -> torch.Tensor | None:
    """The one class of a conditional family as a 0-d long tensor; None for the others."""
    if not model.traits.conditional:
        if y is not None:
            raise InputError(f"{fn}: this model is unconditional, so it takes no class y; leave y out")
        return None
    if y is None:
        raise InputError(f"{fn}: this conditional model needs the class y of the rows to draw; give one")
    if isinstance(y, torch.Tensor):
        if y.numel() != 1 or y.dtype.is_floating_point:
            raise InputError(f"{fn} expects one integer class y, got a tensor of shape {tuple(y.shape)} ({y.dtype})")
        y = int(y.item())
    return torch.tensor(check_int(y, f"{fn}: y", min=0), device=device)


def _rep(y: torch.Tensor | None, n: int) -> torch.Tensor | None:
    return None if y is None else y.expand(n)
