"""The hand-written SVG charts: well-formed XML, one mark per datum, escaped text, no URLs."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest

from vaekit.report.svg import bar_chart, colour, line_chart, scatter, ticks


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # raises on anything that is not well-formed XML
    assert root.tag == "svg"
    assert "http" not in svg  # nothing to fetch: the page must open offline
    return root


def marks(root: ET.Element, tag: str, cls: str) -> list[ET.Element]:
    return [e for e in root.iter(tag) if e.get("class") == cls]


def texts(root: ET.Element) -> list[str]:
    return [e.text or "" for e in root.iter("text")]


def test_line_chart_draws_one_series_per_name_with_a_legend():
    series = {"train_elbo": [(1, -40.0), (2, -35.0), (3, -33.0)], "val_elbo": [(1, -41.0), (2, -37.0)],
              "one point": [(3, -30.0)]}
    root = parse(line_chart(series, title="ELBO", x_label="epoch", y_label="nats"))
    groups = marks(root, "g", "series")
    assert len(groups) == 3
    assert [len(g.findall("circle")) for g in groups] == [3, 2, 1]  # a dot per point: one epoch still shows
    assert [len(g.findall("polyline")) for g in groups] == [1, 1, 0]
    assert len(groups[0].find("polyline").get("points").split()) == 3
    assert {"ELBO", "epoch", "nats", "train_elbo", "val_elbo", "one point"} <= set(texts(root))
    assert len({g.get("stroke") for g in groups}) == 3  # a colour each


def test_line_chart_puts_larger_values_higher_and_whole_epochs_on_the_axis():
    root = parse(line_chart({"a": [(1, 0.0), (2, 10.0)]}, x_label="epoch"))
    (c0, c1) = marks(root, "g", "series")[0].findall("circle")
    assert float(c1.get("cy")) < float(c0.get("cy"))  # SVG's y grows downwards
    assert float(c1.get("cx")) > float(c0.get("cx"))
    x_ticks = [t for t in texts(root) if t in {"1", "1.2", "1.5", "2"}]
    assert x_ticks == ["1", "2"]  # epochs are whole numbers: no tick at 1.5


def test_line_chart_leaves_out_non_finite_points():
    root = parse(line_chart({"lr": [(1, 0.1), (2, math.nan), (3, math.inf), (4, 0.05)]}))
    assert len(marks(root, "g", "series")[0].findall("circle")) == 2


def test_text_is_escaped():
    name = 'kl <layer> & "x"'
    for svg in (line_chart({name: [(1, 1.0)]}, title=name), bar_chart([1.0], [name], title=name),
                scatter([(0, 0)], [0], label_names={0: name}, title=name)):
        root = parse(svg)
        assert name in texts(root)


def test_bar_chart_heights_are_proportional_to_the_values():
    root = parse(bar_chart([1.0, 2.0, 0.0, 4.0], ["z0", "z1", "z2", "z3"], title="KL"))
    bars = marks(root, "rect", "bar")
    assert len(bars) == 4
    heights = [float(b.get("height")) for b in bars]
    assert heights[2] == 0 and heights[1] == pytest.approx(2 * heights[0], rel=0.02)
    assert heights[3] == pytest.approx(4 * heights[0], rel=0.02)
    bottoms = {round(float(b.get("y")) + float(b.get("height")), 1) for b in bars}
    assert len(bottoms) == 1  # every bar stands on the zero line
    assert ["z0", "z1", "z2", "z3"] == [t for t in texts(root) if t.startswith("z")]
    assert [b.find("title").text for b in bars] == ["z0: 1", "z1: 2", "z2: 0", "z3: 4"]


def test_bar_chart_negative_values_hang_below_zero_and_nan_draws_nothing():
    root = parse(bar_chart([2.0, -1.0, math.nan]))
    up, down = marks(root, "rect", "bar")
    assert float(down.get("y")) == pytest.approx(float(up.get("y")) + float(up.get("height")), abs=0.2)
    with pytest.raises(ValueError, match="labels"):
        bar_chart([1.0, 2.0], ["only one"])


def test_scatter_colours_points_by_label_with_a_legend():
    points = [(0, 0), (1, 1), (2, 0.5), (3, 2), (4, 1)]
    root = parse(scatter(points, [7, 3, 7, 3, 9], label_names={3: "three"}, x_label="PC 1"))
    dots = marks(root, "circle", "point")
    assert len(dots) == 5
    fills = [d.get("fill") for d in dots]
    assert fills[0] == fills[2] and fills[1] == fills[3] and len(set(fills)) == 3
    legend = next(g for g in root.iter("g") if g.get("class") == "legend")
    assert [t.text for t in legend.iter("text")] == ["three", "7", "9"]  # sorted by label
    assert [r.get("fill") for r in legend.iter("rect")] == [fills[1], fills[0], fills[4]]


def test_scatter_without_labels_has_one_colour_and_no_legend():
    root = parse(scatter([(0, 1), (1, 0), (math.nan, 1)]))
    dots = marks(root, "circle", "point")
    assert len(dots) == 2 and len({d.get("fill") for d in dots}) == 1
    assert not [g for g in root.iter("g") if g.get("class") == "legend"]
    with pytest.raises(ValueError, match="labels"):
        scatter([(0, 1)], [0, 1])


def test_ticks_are_round_and_inside_the_range():
    assert ticks(0, 1) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert ticks(-37.2, -30.1) == [-36, -34, -32]
    assert ticks(1, 3, integer=True) == [1, 2, 3]
    assert ticks(1, 2, integer=True) == [1, 2]
    assert ticks(5, 5) == [5]


def test_colours_stay_distinct_past_the_palette():
    assert len({colour(i) for i in range(25)}) == 25
