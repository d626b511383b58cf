"""eval_SPLIT.json: the figures of one split, accumulated over `vaekit evaluate` calls.

Each call measures some metric groups. The file keeps the groups measured before, as long as they
measured the same weights on the same split: a quality-only call must not drop the NLL computed
an hour earlier. `measured` records, per group, when it was measured, on how many examples (and
which subset), with which K and how long it took, so the merged file says what each figure is.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vaekit.weights import unwrap
from vaekit.yamlio import loads_json

# Keys that describe the result as a whole rather than one group's figures.
FRAME = ("split", "num_examples", "num_dims", "metrics", "seconds", "measured", "weights_sha256", "skipped")


def weights_digest(model: nn.Module) -> str:
    """SHA-256 of the model's tensors (names, dtypes, shapes and bytes): the identity of the
    weights measured, which survives copying the run (unlike a file's modification time)."""
    h = hashlib.sha256()
    for name, t in unwrap(model).state_dict().items():
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def read_result(path: Path) -> dict[str, Any] | None:
    """The figures in `path`, or None when there is no such file or it is damaged (a file of
    figures is recomputed, never trusted half-read)."""
    try:
        obj = loads_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


def merge(old: dict[str, Any] | None, new: dict[str, Any], order: Sequence[str]) -> tuple[dict[str, Any], list[str]]:
    """`new` with the groups of `old` it did not measure, when `old` measured the same weights on
    the same split; `new` alone otherwise. Returns the merged figures and the groups kept from
    `old`. `order` is the order of the groups in the result."""
    measured_before = old.get("measured") if old else None
    if (not isinstance(measured_before, dict) or old.get("weights_sha256") != new["weights_sha256"]
            or old.get("split") != new["split"]):
        return new, []
    kept = [g for g, record in measured_before.items()
            if g not in new["measured"] and isinstance(record, dict) and isinstance(record.get("figures"), list)]
    if not kept:
        return new, []
    measured = {**{g: measured_before[g] for g in kept}, **new["measured"]}
    groups = sorted(measured, key=lambda g: order.index(g) if g in order else len(order))
    figures: dict[str, Any] = {}
    for g in groups:
        source = new if g in new["measured"] else old
        figures.update({k: source[k] for k in measured[g]["figures"] if k in source})
    # One count for the whole file only when every group measured the same examples.
    subsets = {(r.get("num_examples"), r.get("limit"), r.get("seed") if r.get("limit") is not None else None)
               for r in measured.values()}
    merged = {
        "split": new["split"],
        "num_examples": new["num_examples"] if len(subsets) == 1 else None,
        **figures,
        "num_dims": new["num_dims"],
        "metrics": groups,
        "seconds": sum(float(measured[g].get("seconds") or 0.0) for g in groups),
        "measured": {g: measured[g] for g in groups},
        "weights_sha256": new["weights_sha256"],
    }
    if "skipped" in new:  # this call's groups that did not apply to the run, with why
        merged["skipped"] = new["skipped"]
    return merged, kept
