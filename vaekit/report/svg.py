"""Small SVG charts, written by hand: a line chart, a bar chart and a scatter plot.

Each function returns one `<svg>` element as a string, ready to be placed inline in an HTML page
(it carries no `xmlns`: the HTML parser puts `<svg>` in the SVG namespace itself, and the page
stays free of URLs). Every text is escaped. The marks carry a class (`series`, `bar`, `point`),
so that a test can count them, and a `<title>`, so that a browser shows the value on hover.
Non-finite values are left out rather than drawn.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

# Tableau's ten colours: distinct, and readable for the common kinds of colour blindness.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
           "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")

# Margins around the plotting area, in pixels: room for tick labels, axis labels and the title.
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 28, 44
FONT = 'font-family="sans-serif" font-size="11"'


def colour(i: int) -> str:
    """The i-th colour: the palette, then evenly spaced hues once it runs out."""
    if i < len(PALETTE):
        return PALETTE[i]
    return f"hsl({(i * 137.508) % 360:.0f}, 60%, 45%)"  # the golden angle keeps neighbours apart


def fmt(v: float) -> str:
    """A short label for a number: 3 significant digits, no trailing zeros."""
    return f"{v:.3g}"


def ticks(lo: float, hi: float, n: int = 5, integer: bool = False) -> list[float]:
    """About n round numbers (1, 2 or 5 times a power of ten apart) within [lo, hi]; whole
    numbers only where `integer` (epochs)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / max(1, n)
    if integer:
        raw = max(raw, 1.0)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    digits = max(0, -math.floor(math.log10(step)))  # rounding to the step's digits: no 0.6000000000000001
    first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
    return [round(k * step, digits) for k in range(first, last + 1)]


def _span(values: Sequence[float]) -> tuple[float, float]:
    """The range of the finite values, widened where it is a single point so that it has a size."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return 0.0, 1.0
    lo, hi = min(finite), max(finite)
    if hi == lo:
        pad = abs(lo) * 0.1 or 1.0
        return lo - pad, hi + pad
    pad = 0.04 * (hi - lo)  # marks on the extremes stay clear of the frame
    return lo - pad, hi + pad


class _Frame:
    """The mapping from data to pixels of one chart, and its axes."""

    def __init__(self, width: int, height: int, xr: tuple[float, float], yr: tuple[float, float],
                 integer_x: bool = False) -> None:
        self.width, self.height, self.integer_x = width, height, integer_x
        self.x0, self.x1 = LEFT, width - RIGHT
        self.y0, self.y1 = height - BOTTOM, TOP  # y grows downwards in SVG
        self.xr, self.yr = xr, yr

    def px(self, x: float) -> float:
        lo, hi = self.xr
        return self.x0 + (x - lo) / (hi - lo) * (self.x1 - self.x0)

    def py(self, y: float) -> float:
        lo, hi = self.yr
        return self.y0 + (y - lo) / (hi - lo) * (self.y1 - self.y0)

    def axes(self, x_label: str, y_label: str, x_ticks: bool = True) -> list[str]:
        w, h = self.x1 - self.x0, self.y0 - self.y1
        parts = [f'<rect x="{self.x0}" y="{self.y1}" width="{w}" height="{h}" fill="none" stroke="#999"/>']
        for v in ticks(*self.yr):
            y = self.py(v)
            parts.append(f'<line x1="{self.x0 - 4}" y1="{y:.1f}" x2="{self.x1}" y2="{y:.1f}" stroke="#e4e4e4"/>')
            parts.append(f'<text x="{self.x0 - 6}" y="{y + 4:.1f}" text-anchor="end" {FONT}>{fmt(v)}</text>')
        if x_ticks:
            for v in ticks(*self.xr, integer=self.integer_x):
                x = self.px(v)
                parts.append(f'<line x1="{x:.1f}" y1="{self.y0}" x2="{x:.1f}" y2="{self.y0 + 4}" stroke="#999"/>')
                parts.append(f'<text x="{x:.1f}" y="{self.y0 + 16}" text-anchor="middle" {FONT}>{fmt(v)}</text>')
        if x_label:
            parts.append(f'<text x="{(self.x0 + self.x1) / 2:.1f}" y="{self.height - 8}" text-anchor="middle" '
                         f'{FONT}>{escape(x_label)}</text>')
        if y_label:
            cy = (self.y0 + self.y1) / 2
            parts.append(f'<text x="14" y="{cy:.1f}" text-anchor="middle" transform="rotate(-90 14 {cy:.1f})" '
                         f'{FONT}>{escape(y_label)}</text>')
        return parts


def _svg(width: int, height: int, title: str, parts: list[str]) -> str:
    head = f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img"'
    head += f' aria-label="{escape(title)}">' if title else ">"
    caption = f'<text x="{LEFT}" y="16" font-family="sans-serif" font-size="13" font-weight="bold">{escape(title)}</text>'
    return "\n".join([head, caption if title else "", *parts, "</svg>"])


def _legend(names: Sequence[str], x: float, y: float) -> list[str]:
    """A column of colour swatches with their names, top-left at (x, y)."""
    parts = ['<g class="legend">']
    for i, name in enumerate(names):
        yy = y + 14 * i
        parts.append(f'<rect x="{x:.1f}" y="{yy:.1f}" width="10" height="10" fill="{colour(i)}"/>')
        parts.append(f'<text x="{x + 14:.1f}" y="{yy + 9:.1f}" {FONT}>{escape(name)}</text>')
    parts.append("</g>")
    return parts


def line_chart(series: Mapping[str, Sequence[tuple[float, float]]], *, title: str = "", x_label: str = "",
               y_label: str = "", width: int = 460, height: int = 280) -> str:
    """One line per named series of (x, y) points, with axes, ticks and a legend.

    Each series is a `<g class="series">` holding a polyline, and a dot per point where there are
    few points (a single epoch is one point, which a line alone would not show).
    """
    clean = {name: [(float(x), float(y)) for x, y in pts if math.isfinite(x) and math.isfinite(y)]
             for name, pts in series.items()}
    legend_width = 12 + 7 * max((len(n) for n in clean), default=0)
    xs = [x for p in clean.values() for x, _ in p]
    frame = _Frame(width - legend_width, height, _span(xs), _span([y for p in clean.values() for _, y in p]),
                   integer_x=bool(xs) and all(x == int(x) for x in xs))
    parts = frame.axes(x_label, y_label)
    for i, (name, pts) in enumerate(clean.items()):
        c = colour(i)
        parts.append(f'<g class="series" stroke="{c}" fill="{c}"><title>{escape(name)}</title>')
        if len(pts) > 1:
            coords = " ".join(f"{frame.px(x):.1f},{frame.py(y):.1f}" for x, y in pts)
            parts.append(f'<polyline points="{coords}" fill="none" stroke-width="1.5"/>')
        if len(pts) <= 40:
            parts.extend(f'<circle cx="{frame.px(x):.1f}" cy="{frame.py(y):.1f}" r="2.5"/>' for x, y in pts)
        parts.append("</g>")
    parts += _legend(list(clean), frame.x1 + 10, TOP)
    return _svg(width, height, title, parts)


def bar_chart(values: Sequence[float], labels: Sequence[str] | None = None, *, title: str = "", x_label: str = "",
              y_label: str = "", width: int = 460, height: int = 260) -> str:
    """One `<rect class="bar">` per value, from zero, labelled below by `labels` (default 0, 1, ...)."""
    labels = [str(i) for i in range(len(values))] if labels is None else [str(s) for s in labels]
    if len(labels) != len(values):
        raise ValueError(f"{len(values)} values but {len(labels)} labels")
    finite = [float(v) for v in values if math.isfinite(v)]
    lo, hi = min([0.0, *finite]), max([0.0, *finite])
    pad = 0.04 * (hi - lo) if hi > lo else 1.0  # headroom above the tallest bar; zero stays on the frame
    yr = (lo - pad if lo < 0 else 0.0, hi + pad if hi > 0 or lo == hi else 0.0)
    frame = _Frame(width, height, (0.0, float(max(1, len(values)))), yr)
    parts = frame.axes(x_label, y_label, x_ticks=False)
    slot = (frame.x1 - frame.x0) / max(1, len(values))
    every = max(1, math.ceil(len(values) / 40))  # labels no closer than about 10 pixels
    zero = frame.py(0.0)
    for i, (v, name) in enumerate(zip(values, labels)):
        x = frame.x0 + i * slot + 0.1 * slot
        if math.isfinite(v):
            top = frame.py(float(v))
            parts.append(f'<rect class="bar" x="{x:.1f}" y="{min(top, zero):.1f}" width="{0.8 * slot:.1f}" '
                         f'height="{abs(zero - top):.1f}" fill="{PALETTE[0]}"><title>{escape(name)}: {fmt(float(v))}</title></rect>')
        if i % every == 0:
            parts.append(f'<text x="{x + 0.4 * slot:.1f}" y="{frame.y0 + 14}" text-anchor="middle" {FONT}>{escape(name)}</text>')
    return _svg(width, height, title, parts)


def scatter(points: Sequence[Sequence[float]], labels: Sequence[int] | None = None, *, title: str = "",
            label_names: Mapping[int, str] | None = None, x_label: str = "", y_label: str = "",
            width: int = 520, height: int = 440, radius: float = 2.5) -> str:
    """One `<circle class="point">` per (x, y) point, coloured by its label, with a legend of the
    labels; without labels every point has the first colour and there is no legend."""
    pts = [(float(p[0]), float(p[1])) for p in points]
    if labels is not None and len(labels) != len(pts):
        raise ValueError(f"{len(pts)} points but {len(labels)} labels")
    kinds = sorted({int(v) for v in labels}) if labels is not None else []
    index = {k: i for i, k in enumerate(kinds)}
    names = [(label_names or {}).get(k, str(k)) for k in kinds]
    legend_width = 20 + 7 * max((len(n) for n in names), default=0) if kinds else 0
    frame = _Frame(width - legend_width, height, _span([x for x, _ in pts]), _span([y for _, y in pts]))
    parts = frame.axes(x_label, y_label)
    for j, (x, y) in enumerate(pts):
        if not (math.isfinite(x) and math.isfinite(y)):
            continue
        c = colour(index[int(labels[j])]) if labels is not None else PALETTE[0]
        parts.append(f'<circle class="point" cx="{frame.px(x):.1f}" cy="{frame.py(y):.1f}" r="{radius}" '
                     f'fill="{c}" fill-opacity="0.75"/>')
    if kinds:
        parts += _legend(names, frame.x1 + 10, TOP)
    return _svg(width, height, title, parts)


def overlaid_bars(series: Mapping[str, Sequence[float]], labels: Sequence[str], *, title: str = "",
                  x_label: str = "", y_label: str = "", width: int = 300, height: int = 200) -> str:
    """Bars of several named series over the same slots, drawn on top of one another, half
    transparent (a histogram of real rows over one of synthetic rows): one `<rect class="bar">`
    per finite value, in a `<g class="series">` per series, with a legend of the series."""
    labels = [str(s) for s in labels]
    for name, values in series.items():
        if len(values) != len(labels):
            raise ValueError(f"series {name!r} has {len(values)} values but there are {len(labels)} labels")
    finite = [float(v) for values in series.values() for v in values if math.isfinite(v)]
    hi = max([0.0, *finite])
    frame = _Frame(width, height, (0.0, float(max(1, len(labels)))), (0.0, hi * 1.04 if hi > 0 else 1.0))
    parts = frame.axes(x_label, y_label, x_ticks=False)
    slot = (frame.x1 - frame.x0) / max(1, len(labels))
    zero = frame.py(0.0)
    for i, (name, values) in enumerate(series.items()):
        parts.append(f'<g class="series" fill="{colour(i)}" fill-opacity="0.55">')
        for j, v in enumerate(values):
            if math.isfinite(v):
                top = frame.py(float(v))
                parts.append(f'<rect class="bar" x="{frame.x0 + j * slot + 0.05 * slot:.1f}" y="{top:.1f}" '
                             f'width="{0.9 * slot:.1f}" height="{zero - top:.1f}"><title>{escape(name)}, '
                             f'{escape(labels[j])}: {fmt(float(v))}</title></rect>')
        parts.append("</g>")
    every = max(1, math.ceil(len(labels) * 56 / max(1, frame.x1 - frame.x0)))  # labels about 56 pixels apart
    for j in range(0, len(labels), every):
        text = labels[j] if len(labels[j]) <= 8 else labels[j][:7] + "…"
        parts.append(f'<text x="{frame.x0 + (j + 0.5) * slot:.1f}" y="{frame.y0 + 14}" text-anchor="middle" '
                     f'{FONT}>{escape(text)}</text>')
    parts += _legend(list(series), frame.x1 - 80, TOP + 4)
    return _svg(width, height, title, parts)


def heat_map(matrix: Sequence[Sequence[float]], names: Sequence[str], *, title: str = "", low: float = 0.0,
             high: float = 1.0, cell: int = 26) -> str:
    """A square grid of `<rect class="cell">`, one per finite entry of the (n, n) `matrix`, shaded
    from white at `low` to dark red at `high` (values beyond are clipped), rows and columns labelled
    by `names`; a non-finite entry (undefined, or the diagonal) is left blank."""
    n = len(names)
    if len(matrix) != n or any(len(row) != n for row in matrix):
        raise ValueError(f"the matrix must be {n} x {n}, one row and column per name")
    short = [s if len(s) <= 14 else s[:13] + "…" for s in map(str, names)]
    margin = 12 + 7 * max((len(s) for s in short), default=0)  # room for the row labels
    x0, y0 = margin, TOP + margin
    width, height = x0 + n * cell + RIGHT + 60, y0 + n * cell + 16
    parts = []
    for i in range(n):
        parts.append(f'<text x="{x0 - 4}" y="{y0 + (i + 0.5) * cell + 4:.1f}" text-anchor="end" {FONT}>'
                     f'{escape(short[i])}</text>')
        cx, cy = x0 + (i + 0.5) * cell, y0 - 4
        parts.append(f'<text x="{cx:.1f}" y="{cy}" transform="rotate(-60 {cx:.1f} {cy})" {FONT}>{escape(short[i])}</text>')
        for j in range(n):
            v = float(matrix[i][j])
            if not math.isfinite(v):
                continue
            t = min(1.0, max(0.0, (v - low) / (high - low))) if high > low else 0.0
            rgb = (round(255 - 100 * t), round(255 - 230 * t), round(255 - 237 * t))  # white -> dark red
            parts.append(f'<rect class="cell" x="{x0 + j * cell}" y="{y0 + i * cell}" width="{cell}" height="{cell}" '
                         f'fill="rgb{rgb}" stroke="#fff"><title>{escape(str(names[i]))} / {escape(str(names[j]))}: '
                         f'{fmt(v)}</title></rect>')
    # The scale: low and high with their colours, to the right of the grid.
    sx = x0 + n * cell + 10
    parts.append(f'<rect x="{sx}" y="{y0}" width="10" height="10" fill="rgb(255, 255, 255)" stroke="#999"/>'
                 f'<text x="{sx + 14}" y="{y0 + 9}" {FONT}>{fmt(low)}</text>')
    parts.append(f'<rect x="{sx}" y="{y0 + 16}" width="10" height="10" fill="rgb(155, 25, 18)"/>'
                 f'<text x="{sx + 14}" y="{y0 + 25}" {FONT}>{fmt(high)}</text>')
    return _svg(width, height, title, parts)
