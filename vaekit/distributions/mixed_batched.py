"""The mixed likelihood's log-probability (`vaekit.distributions.mixed`) as a few batched
operations per column kind instead of a dozen small ones per column.

Column by column, the likelihood of a 10-column table cost about 1,000 operator calls per training
step (a log-softmax, slices and zero-filled gradients per block), half of the step's time. Here a
`Plan`, built once per layout, gathers with one index per tensor:

- the decoder's outputs, with a 0 appended, into continuous means [and log-sigmas], logits,
  Bernoulli logits and Poisson log-rates;
- the row x, with a 0 appended, into continuous values (a mode block's alpha once per mode),
  one-hots, 0/1 values and counts.

Mode and categorical blocks are padded to a common width per group (widest first; a block joins a
group while padding at most doubles the group's entries), so one log-softmax serves a whole group:
a padded logit is biased so low that it adds exp(-huge) = 0 to the normaliser, and its one-hot
entry is 0, so every term equals the per-column one up to float rounding, gradients included (a
pad's gradient is exactly 0). The mode term keeps the per-column code's weighted sum
sum_k onehot_k (log p(k) + log N(alpha | mu_k, sigma_k)).

Features go first and the batch last, (features, *batch): each reduction (the log-softmax over a
group's width, the sum over a block's entries) then runs over whole contiguous batch rows, where
torch's CPU log_softmax over a short last dimension costs about 15 times more.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from vaekit.distributions.gaussian import LOG_2PI
from vaekit.distributions.mixed_layout import Block, n_params, n_sigmas


@dataclass(frozen=True)
class Plan:
    """Where each kind's numbers sit in the parameters and in a row, for one layout."""

    params: int  # P, the decoder outputs per row
    q_index: torch.Tensor  # (Q,) into [params | 0]
    q_sizes: tuple[int, ...]  # continuous means, [continuous log-sigmas,] logits, Bernoulli, Poisson
    sigma_index: torch.Tensor | None  # (C,) into [learned log-sigmas | 0]; None for decoder sigmas
    x_index: torch.Tensor  # (X,) into [x | 0]
    x_sizes: tuple[int, ...]  # continuous values, one-hots, Bernoulli, Poisson
    gaussians: int
    mode_groups: tuple[tuple[int, int], ...]  # (blocks, padded width), in q and x order
    categorical_groups: tuple[tuple[int, int], ...]
    columns: tuple[Block, ...]  # the blocks in the order of the terms
    column_entries: torch.Tensor  # (widest * columns,): entry k of each column (a narrower one's first)
    widest: int
    logit_pads: torch.Tensor | None  # (L,): 0, or at a padded logit one so low its softmax weight is 0; None: no pad


def _groups(blocks: Sequence[Block], width: Callable[[Block], int]) -> list[list[Block]]:
    """Blocks of one kind, widest first, in groups padded to their first block's width: a block
    joins the current group while the group's padded entries stay at most twice its true ones."""
    groups: list[list[Block]] = []
    for b in sorted(blocks, key=lambda b: -width(b)):
        g = groups[-1] if groups else None
        if g and width(g[0]) * (len(g) + 1) <= 2 * (sum(width(c) for c in g) + width(b)):
            g.append(b)
        else:
            groups.append([b])
    return groups


class _Indices:
    """The index lists of a plan while it is built."""

    def __init__(self) -> None:
        self.mu, self.ls, self.xc, self.logits, self.onehot = [], [], [], [], []


PAD = -1  # a padded logit in _Indices.logits: the appended 0, biased very low


def build_plan(blocks: Sequence[Block], decoder_sigma: bool, device: torch.device | None = None,
               dtype: torch.dtype = torch.float32) -> Plan:
    """The plan of a (checked) layout, with decoder log-sigmas or learned ones."""
    blocks = tuple(blocks)
    offsets, sigmas, at, s = {}, {}, 0, 0
    for b in blocks:
        offsets[b.name], sigmas[b.name] = at, s
        at, s = at + n_params(b, decoder_sigma), s + n_sigmas(b)
    zero, x_zero = at, blocks[-1].end  # where the appended zeros sit

    def sigma(b: Block, k: int) -> int:  # b's k-th log-sigma, after its own parameters or learned; a pad reads a 0
        if k >= max(b.modes, 1):
            return zero if decoder_sigma else s
        return offsets[b.name] + n_params(b, False) + k if decoder_sigma else sigmas[b.name] + k

    kinds = {k: [b for b in blocks if b.kind == k] for k in ("gaussian", "bernoulli", "poisson")}
    modes = _groups([b for b in blocks if b.kind == "mode"], lambda b: b.modes)
    cats = _groups([b for b in blocks if b.kind == "categorical"], lambda b: b.width)
    ix = _Indices()
    for b in kinds["gaussian"]:
        ix.mu.append(offsets[b.name])
        ix.ls.append(sigma(b, 0))
        ix.xc.append(b.start)
    for group in modes:  # entry k of the group's i-th block at k * len(group) + i: (width, blocks)
        for k, b in ((k, b) for k in range(group[0].modes) for b in group):
            o, m, real = offsets[b.name], b.modes, k < b.modes
            ix.mu.append(o + m + k if real else zero)
            ix.ls.append(sigma(b, k))
            ix.xc.append(b.start)  # alpha, once per mode
            ix.logits.append(o + k if real else PAD)
            ix.onehot.append(b.start + 1 + k if real else x_zero)
    for group in cats:
        for k, b in ((k, b) for k in range(group[0].width) for b in group):
            ix.logits.append(offsets[b.name] + k if k < b.width else PAD)
            ix.onehot.append(b.start + k if k < b.width else x_zero)
    tail = kinds["bernoulli"] + kinds["poisson"]
    logits = [zero if i == PAD else i for i in ix.logits]
    q_sizes = (len(ix.mu),) + ((len(ix.ls),) if decoder_sigma else ()) + (len(logits), len(kinds["bernoulli"]),
                                                                         len(kinds["poisson"]))
    columns = tuple(kinds["gaussian"]) + tuple(b for g in modes + cats for b in g) + tuple(tail)
    widest = max(b.width for b in blocks)

    def index(values: list[int]) -> torch.Tensor:
        return torch.tensor(values, dtype=torch.long, device=device)
    return Plan(
        at, index(ix.mu + (ix.ls if decoder_sigma else []) + logits + [offsets[b.name] for b in tail]), q_sizes,
        None if decoder_sigma else index(ix.ls), index(ix.xc + ix.onehot + [b.start for b in tail]),
        (len(ix.xc), len(ix.onehot), len(kinds["bernoulli"]), len(kinds["poisson"])), len(kinds["gaussian"]),
        tuple((len(g), g[0].modes) for g in modes), tuple((len(g), g[0].width) for g in cats), columns,
        index([b.start + k if k < b.width else b.start for k in range(widest) for b in columns]), widest,
        torch.tensor([torch.finfo(dtype).min / 4 if i == PAD else 0.0 for i in ix.logits], dtype=dtype, device=device)
        if PAD in ix.logits else None)


@lru_cache(maxsize=32)
def cached_plan(blocks: tuple[Block, ...], decoder_sigma: bool, device: torch.device, dtype: torch.dtype) -> Plan:
    """`build_plan`, kept for the next distribution over the same layout, device and dtype."""
    return build_plan(blocks, decoder_sigma, device, dtype)


def _normal(x: torch.Tensor, mu: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
    return -0.5 * (((x - mu) * torch.exp(-log_sigma)) ** 2 + LOG_2PI) - log_sigma


def _features_first(t: torch.Tensor, index: torch.Tensor, dims: int) -> torch.Tensor:
    """[t | 0][..., index] as (len(index), 1, ..., *lead), with `dims` batch dimensions, for t
    (*lead, F); one copy moves the features first, the gather then copies whole rows."""
    # cat, not F.pad: pad copies the transposed view element by element (about 4 times slower
    # at a batch of 500 here), cat takes the blocked transpose copy.
    t = torch.cat([t.movedim(-1, 0), t.new_zeros(1, *t.shape[:-1])])  # (F + 1, *lead)
    out = t.index_select(0, index)
    return out.reshape(out.shape[0], *[1] * (dims - out.dim() + 1), *out.shape[1:])


def column_log_probs(plan: Plan, params: torch.Tensor, log_sigma: torch.Tensor | None, floor: float,
                     x: torch.Tensor) -> torch.Tensor:
    """log p(x_column) for every column, (columns, *batch) in `plan.columns` order: params
    (*batch, P) as the decoder emits them, learned `log_sigma` (S,) or None, every log-sigma
    clamped to at least `floor`; x (*batch, D) broadcasts against params, with no NaN."""
    dims = max(params.dim(), x.dim()) - 1
    q = list(_features_first(params, plan.q_index, dims).split(plan.q_sizes, 0))
    xc, onehot, xb, xp = _features_first(x, plan.x_index, dims).split(plan.x_sizes, 0)
    mu = q.pop(0)
    if plan.sigma_index is None:
        ls = q.pop(0).clamp(min=floor)  # (C, *batch): decoder log-sigmas, padding 0
    else:
        ls = F.pad(log_sigma.clamp(min=floor), (0, 1)).index_select(0, plan.sigma_index)
        ls = ls.reshape(-1, *[1] * dims)  # (C, 1, ...)
    logits, lb, lr = q
    if plan.logit_pads is not None:
        logits = logits + plan.logit_pads.reshape(-1, *[1] * dims)  # padded logits: exp(-huge) = 0
    terms = []
    if mu.shape[0]:
        normal = _normal(xc, mu, ls).split([plan.gaussians, *(n * w for n, w in plan.mode_groups)], 0)
        if plan.gaussians:
            terms.append(normal[0])
    groups = plan.mode_groups + plan.categorical_groups
    sizes = [n * w for n, w in groups]
    for i, (lg, oh, (n, w)) in enumerate(zip(logits.split(sizes, 0), onehot.split(sizes, 0), groups)):
        log_p = F.log_softmax(lg.unflatten(0, (w, n)), 0)  # (w, n, *batch)
        if i < len(plan.mode_groups):  # the one-hot picks log p(m) + log N(alpha | mu_m, sigma_m)
            log_p = log_p + normal[1 + i].unflatten(0, (w, n))
        terms.append((oh.unflatten(0, (w, n)) * log_p).sum(0))  # (n, *batch)
    if lb.shape[0]:
        terms.append(xb * lb - F.softplus(lb))
    if lr.shape[0]:
        terms.append(xp * lr - torch.exp(lr) - torch.lgamma(xp + 1.0))
    return torch.cat(terms, 0) if len(terms) > 1 else terms[0]


def observed_columns(plan: Plan, observed_entry: torch.Tensor, dims: int) -> torch.Tensor:
    """(columns, 1, ..., *batch) with `dims` batch dimensions, in `plan.columns` order: whether
    every entry of the column is observed, for observed_entry (*batch, D)."""
    picked = _features_first(observed_entry, plan.column_entries, dims)  # (widest * columns, ...); no pad read
    return picked.unflatten(0, (plan.widest, len(plan.columns))).all(0)
