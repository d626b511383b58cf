"""The layout of a table row in model space: contiguous column blocks, one `Block` per column,
and how many decoder outputs each block needs (the table in `vaekit.distributions.mixed`)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Sequence

from vaekit.errors import InputError, VaekitError
from vaekit.registry import suggest

KINDS = ("gaussian", "mode", "categorical", "bernoulli", "poisson")


@dataclass(frozen=True)
class Block:
    """One column of a table in model space: entries [start, start + width) of a row."""

    name: str
    kind: str
    start: int
    width: int
    modes: int = 0  # M of a "mode" block, whose width is 1 + M; 0 for every other kind

    @property
    def end(self) -> int:
        return self.start + self.width


def check_layout(layout: Sequence[Block | dict[str, Any]], features: int | None = None,
                 error: type[VaekitError] = InputError) -> tuple[Block, ...]:
    """The layout as Blocks (dicts such as a codec's JSON are accepted), checked: known kinds, the
    width each kind needs, unique names, listed in order with each block starting where the previous
    ends, and (when `features` is given) covering exactly [0, features)."""
    keys = [f.name for f in fields(Block)]
    blocks, end, names = [], 0, set()
    for i, raw in enumerate(layout):
        if isinstance(raw, dict):
            unknown = sorted(set(raw) - set(keys))
            if unknown:
                raise error(f"layout block {i} has unknown key '{unknown[0]}'{suggest(unknown[0], keys)}")
            try:
                raw = Block(**raw)
            except TypeError:
                raise error(f"layout block {i} needs the keys name, kind, start and width, got {sorted(raw)}") from None
        if not isinstance(raw, Block):
            raise error(f"layout block {i} must be a Block or a dict, got {type(raw).__name__}")
        b = raw
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (b.start, b.width, b.modes)):
            raise error(f"layout block '{b.name}' needs integer start, width and modes, "
                        f"got {b.start!r}, {b.width!r}, {b.modes!r}")
        if b.kind not in KINDS:
            raise error(f"layout block '{b.name}' has unknown kind '{b.kind}'{suggest(str(b.kind), list(KINDS))}")
        if b.name in names:
            raise error(f"layout has two blocks named '{b.name}'; give every column its own name")
        if b.start != end:
            raise error(f"layout block '{b.name}' starts at {b.start} but the previous block ends at {end}; "
                        "list blocks in order, each starting where the previous ends")
        _check_width(b, error)
        blocks.append(b)
        names.add(b.name)
        end = b.end
    if not blocks:
        raise error("the layout has no blocks; a table needs at least one column")
    if features is not None and end != features:
        raise error(f"the layout covers {end} entries but a row has {features}; the layout must describe every entry")
    return tuple(blocks)


def _check_width(b: Block, error: type[VaekitError]) -> None:
    if b.kind == "mode":
        if b.modes < 1 or b.width != 1 + b.modes:
            raise error(f"layout block '{b.name}' (mode) needs modes >= 1 and width 1 + modes (alpha and a one-hot), "
                        f"got modes={b.modes}, width={b.width}")
    elif b.modes != 0:
        raise error(f"layout block '{b.name}' ({b.kind}) has modes={b.modes}; only a mode block has modes")
    elif b.kind == "categorical" and b.width < 1:
        raise error(f"layout block '{b.name}' (categorical) needs width >= 1 (one entry per category), got {b.width}")
    elif b.kind != "categorical" and b.width != 1:
        raise error(f"layout block '{b.name}' ({b.kind}) needs width 1, got {b.width}")


def n_sigmas(b: Block) -> int:
    """How many log-sigmas block `b` has: one per continuous value it may hold."""
    return {"gaussian": 1, "mode": b.modes}.get(b.kind, 0)


def n_params(b: Block, decoder_sigma: bool) -> int:
    """How many numbers the decoder emits for block `b` (the table in `vaekit.distributions.mixed`)."""
    own = {"gaussian": 1, "mode": 2 * b.modes, "categorical": b.width}.get(b.kind, 1)
    return own + (n_sigmas(b) if decoder_sigma else 0)
