"""Charts of how values spread, reference beside production: a feature's distribution (bars or
ECDF), the predicted classes' shares (bars and donut), and the features ranked by drift score
in severity colours. Each takes a Monitor's small aggregated result; the shared frame (height,
tools, threshold lines) is :mod:`app.pages.charts`."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (registers the Bokeh backend for .opts)
import pandas as pd
from bokeh.models import (
    ColumnDataSource,
    NumeralTickFormatter,
)
from bokeh.plotting import figure
from bokeh.transform import cumsum

from app import theme
from app.config import Level
from app.pages.charts import BASE_OPTIONS, HEIGHT, threshold_spans

DONUT_WIDTH, DONUT_HEIGHT = 380, 280


def severity_bars(
    rows: Sequence[Mapping[str, Any]],
    level: Level,
    value_label: str,
    text: Any = theme.format_metric,
    extra_hover: Sequence[tuple[str, str]] = (),
    floor: float = 0.0,
) -> hv.Bars:
    """One bar per feature (``rows``: feature, value, the report's severity and extra columns)
    coloured by its severity, with the warning and critical levels as dashed lines."""
    frame = pd.DataFrame(list(rows))
    frame["severity"] = [s or "n/a" for s in frame["severity"]]
    frame["color"] = [theme.severity_color(s) for s in frame["severity"]]
    frame["text"] = [text(v) for v in frame["value"]]
    extra = [c for c in frame.columns if c not in ("feature", "value")]
    top = max([level.critical * 1.2, *[v * 1.08 for v in frame["value"] if theme.is_number(v)]])
    bars = hv.Bars(
        frame,
        hv.Dimension("feature", label="Feature"),
        [hv.Dimension("value", label=value_label), *extra],
    )
    bars = bars.opts(
        color="color",
        line_color=None,
        hover_tooltips=[
            ("Feature", "@feature"),
            (value_label, "@text"),
            ("Severity", "@severity"),
            *extra_hover,
        ],
        xrotation=30 if len(frame) > 6 else 0,
        ylim=(floor, top),
        show_legend=False,
        hooks=[threshold_spans(level)],
        **BASE_OPTIONS,
    )
    return bars


def distribution_chart(dist: Mapping[str, Any], top: int = 15) -> hv.Element | None:
    """Reference vs production shares of one feature: overlaid histograms or grouped bars."""
    name = str(dist.get("feature", "value"))
    if dist.get("kind") == "numerical":
        edges = list(dist.get("edges") or [])
        if len(edges) < 2:
            return None
        layers = []
        for side, color in SIDE_COLORS.items():
            counts = list(dist.get(side) or [])
            total = sum(counts)
            if not total:
                continue
            shares = [c / total for c in counts]
            hist = hv.Histogram(
                (edges, shares),
                kdims=[hv.Dimension("x", label=name)],
                vdims=[hv.Dimension("share", label="Share of rows")],
                label=side,
            )
            layers.append(
                hist.opts(
                    color=color,
                    fill_alpha=0.45,
                    line_color=color,
                    hover_tooltips=[
                        ("Side", side),
                        ("From", "@left{0,0.[00]}"),
                        ("To", "@right{0,0.[00]}"),
                        ("Share", "@share{0.0%}"),
                    ],
                    **BASE_OPTIONS,
                )
            )
        if not layers:
            return None
        return hv.Overlay(layers).opts(legend_position="top_right", yformatter="%.2f")
    return _value_bars(dist, name, top)


SIDES = ("reference", "production")
"""The order of the two sides in every legend, table and pair of bars: reference first."""
SIDE_COLORS = {"reference": theme.REFERENCE_COLOR, "production": theme.PRODUCTION_COLOR}
LABEL_CHARS = 24
"""Longest value label on a bar chart's axis; a longer value is cut with "…" (its hover is whole)."""


def short_label(value: str, size: int = LABEL_CHARS) -> str:
    """``value`` cut to ``size`` characters with an ellipsis, so an axis label leaves the bars room."""
    return value if len(value) <= size else value[: size - 1].rstrip() + "…"


def _value_axis(values: Sequence[str]) -> Any:
    """A plot hook for bars of values: each axis factor (a value) shown by its
    :func:`short_label` with no axis title (the chart's title names the feature), and the legend
    in one line in the order of :data:`SIDES`."""
    overrides = {v: short_label(v) for v in values if short_label(v) != v}

    def shorten(plot: Any, _element: Any) -> None:
        for axis in (*plot.state.xaxis, *plot.state.yaxis):
            if axis.__class__.__name__ == "CategoricalAxis":
                axis.major_label_overrides = overrides
                axis.axis_label = None
        for legend in plot.state.legend:
            legend.orientation = "horizontal"
        # Inside each value, reference above production as in the legend (the first factor of a
        # horizontal bar chart is drawn lowest).
        factors = list(getattr(plot.state.y_range, "factors", None) or [])
        if factors and all(isinstance(f, tuple) and len(f) == 2 for f in factors):
            groups = list(dict.fromkeys(f[0] for f in factors))
            present = set(factors)
            plot.state.y_range.factors = [
                (g, side) for g in groups for side in reversed(SIDES) if (g, side) in present
            ]

    return shorten


def _value_bars(dist: Mapping[str, Any], name: str, top: int) -> hv.Bars | None:
    """Shares of the most frequent values on both sides, as horizontal grouped bars.

    A share is of all the side's non-missing rows (``dist['present']``), not of the values the
    engine listed. When the engine counted every value it lists on both sides (``dist['values']``:
    the union of both sides' top lists of a high-cardinality feature) each value has both bars;
    otherwise a value outside one side's list has no bar there (unknown, not zero).
    """
    present = dict(dist.get("present") or {})
    both = [str(v) for v in dist.get("values") or []]
    sides = {}
    for side in SIDES:
        counts = {str(v): n for v, n in dict(dist.get(side) or {}).items()}
        shown = sum(counts.values())
        total = present.get(side)
        if not theme.is_number(total) or total < shown:
            total = shown
        # Complete: every value of the side is listed, or every value charted was counted on it.
        sides[side] = (counts, total, shown >= total or bool(both))
    if not any(total for _, total, _ in sides.values()):
        return None
    shares: dict[str, dict[str, float]] = {}
    for side, (counts, total, _) in sides.items():
        for value, count in counts.items():
            if total:
                shares.setdefault(value, {})[side] = count / total
    for known in shares.values():
        for side, (_, total, complete) in sides.items():
            if side not in known and complete and total:
                known[side] = 0.0
    listed = [len(counts) for counts, _, complete in sides.values() if not complete]
    rank = {
        side: {v: i for i, v in enumerate(sorted(counts, key=lambda v: (-counts[v], v)))}
        for side, (counts, _, _) in sides.items()
    }

    def order(value: str) -> tuple:
        most = -max(shares[value].values())
        if listed:
            # Only each side's most frequent values are known: take them in turn from both sides
            # (the sides' row counts differ, so ordering by share would show mostly one side).
            return (min(r.get(value, len(r)) for r in rank.values()), most, value)
        return (most, value)

    if both:
        # Every value of the union, however many: it is what the title promises.
        values = sorted((v for v in both if v in shares), key=order)
        each = dist.get("listed")
        title = (
            f"Top {each} values of either side"
            if theme.is_number(each)
            else "Most frequent values of either side"
        )
    else:
        values = sorted(shares, key=order)[:top]
        # Short enough to fit over a narrow chart; a value without a bar is outside that side's top.
        title = f"Top {max(listed)} values of each side" if listed else ""
    if not values:
        return None
    peak = max(max(shares[v].values()) for v in values)
    # Enough decimals that the shares of a high-cardinality feature (hundredths of a percent) read.
    digits = 1 if peak >= 0.01 else 2 if peak >= 0.001 else 3
    rows = []
    # Horizontal bars, most frequent value on top and, inside each value, reference above
    # production (the legend's order): long category names stay readable at any width.
    for value in reversed(values):
        for side in SIDES:
            if side in shares[value]:
                share = shares[value][side]
                text = theme.format_share(share, digits)
                rows.append({"value": value, "side": side, "share": share, "text": text})
    frame = pd.DataFrame(rows)
    bars = hv.Bars(
        frame,
        [hv.Dimension("value", label=name), hv.Dimension("side", label="Side", values=list(SIDES))],
        [hv.Dimension("share", label="Share of all non-missing rows"), "text"],
    )
    return bars.opts(
        cmap=SIDE_COLORS,
        multi_level=False,
        invert_axes=True,
        line_color=None,
        hover_tooltips=[("Value", "@value"), ("Side", "@side"), ("Share", "@text")],
        # Above the bars, outside them: a legend inside the frame covers a bar at any width.
        legend_position="top",
        legend_opts={"border_line_alpha": 0, "background_fill_alpha": 0, "margin": 0},
        title=title,
        xformatter=NumeralTickFormatter(format="0.[000]%"),
        xrotation=0,
        hooks=[_value_axis(values)],
        **{**BASE_OPTIONS, "height": max(HEIGHT, 90 + 26 * len(values))},
    )


def ecdf_chart(dist: Mapping[str, Any]) -> hv.Overlay | None:
    """Cumulative share of rows at each bin edge, per side (numerical features)."""
    edges = list(dist.get("edges") or [])
    if len(edges) < 2:
        return None
    name = str(dist.get("feature", "value"))
    layers = []
    for side, color in (
        ("reference", theme.REFERENCE_COLOR),
        ("production", theme.PRODUCTION_COLOR),
    ):
        counts = list(dist.get(side) or [])
        total = sum(counts)
        if not total:
            continue
        cumulative, running = [0.0], 0
        for count in counts:
            running += count
            cumulative.append(running / total)
        curve = hv.Curve(
            (edges, cumulative),
            hv.Dimension("x", label=name),
            hv.Dimension("F", label="Cumulative share"),
            label=side,
        )
        layers.append(
            curve.opts(
                color=color,
                line_width=2.5,
                hover_tooltips=[
                    ("Side", side),
                    (name, "@x{0,0.[00]}"),
                    ("Share at or below", "@F{0.0%}"),
                ],
                **BASE_OPTIONS,
            )
        )
    if not layers:
        return None
    return hv.Overlay(layers).opts(legend_position="bottom_right", ylim=(0, 1.02))


def class_share_bars(
    reference: Mapping[str, float] | None, production: Mapping[str, float] | None
) -> hv.Bars | None:
    """Reference vs production share of each predicted class, side by side."""
    reference, production = dict(reference or {}), dict(production or {})
    classes = sorted({*reference, *production}, key=str)
    if not classes:
        return None
    rows = [
        {
            "class": str(c),
            "side": side,
            "share": float(shares.get(c) or 0.0),
            "text": theme.format_share(shares.get(c)),
        }
        for c in classes
        for side, shares in (("reference", reference), ("production", production))
    ]
    # The sides in the order of every legend (HoloViews would sort them: production first).
    side = hv.Dimension("side", label="Side", values=list(SIDES))
    bars = hv.Bars(
        pd.DataFrame(rows),
        [hv.Dimension("class", label="Class"), side],
        [hv.Dimension("share", label="Share"), "text"],
    )
    return bars.opts(
        cmap=SIDE_COLORS,
        multi_level=False,
        line_color=None,
        hover_tooltips=[("Class", "@class"), ("Side", "@side"), ("Share", "@text")],
        xrotation=25 if max(len(str(c)) for c in classes) > 8 else 0,
        legend_position="right",
        yformatter="%.2f",
        **BASE_OPTIONS,
    )


def donut(shares: Mapping[str, float], reference: Mapping[str, float] | None = None) -> Any:
    """Production share of each predicted class as a donut (Bokeh: HoloViews has no pie)."""
    classes = sorted(shares, key=str)
    reference = reference or {}
    total = sum(float(shares[c] or 0.0) for c in classes) or 1.0
    source = ColumnDataSource(
        {
            "cls": [str(c) for c in classes],
            "angle": [2 * math.pi * float(shares[c] or 0.0) / total for c in classes],
            "share": [theme.format_share(shares[c]) for c in classes],
            "reference": [theme.format_share(reference.get(c)) for c in classes],
            "color": [
                theme.CATEGORY_COLORS[i % len(theme.CATEGORY_COLORS)] for i in range(len(classes))
            ],
        }
    )
    # A fixed size with a matched aspect keeps the donut round and whole whatever room the legend
    # (outside the frame, so long names never overlap) leaves it: Bokeh widens the range of the
    # longer side. (A fixed ``frame_width``/``frame_height`` lays the frame out taller than its
    # canvas in the served page, which cut the donut off at the bottom.)
    plot = figure(
        width=DONUT_WIDTH,
        height=DONUT_HEIGHT,
        match_aspect=True,
        toolbar_location=None,
        tools="hover",
        tooltips=[
            ("Class", "@cls"),
            ("Production share", "@share"),
            ("Reference share", "@reference"),
        ],
        min_border=8,
    )
    plot.annular_wedge(
        x=0,
        y=0,
        inner_radius=0.5,
        outer_radius=1.0,
        start_angle=cumsum("angle", include_zero=True),
        end_angle=cumsum("angle"),
        fill_color="color",
        line_color=None,
        legend_field="cls",
        source=source,
    )
    plot.axis.visible = False
    plot.grid.grid_line_color = None
    plot.outline_line_color = None
    legend = plot.legend[0]
    legend.border_line_color = None
    legend.background_fill_alpha = 0
    plot.add_layout(legend, "right")
    return plot
