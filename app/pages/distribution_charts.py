"""Charts of how values spread, reference beside production: the predicted classes' shares (bars
and donut), the features ranked by drift score in severity colours, and the shares a feature's
distribution is drawn from (its figures, redrawn in place for each feature, are
:mod:`app.pages.distribution_figures`). Each takes a Monitor's small aggregated result; the shared
frame (height, tools, threshold lines) is :mod:`app.pages.charts`."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (registers the Bokeh backend for .opts)
import pandas as pd
from bokeh.models import (
    ColumnDataSource,
)
from bokeh.plotting import figure
from bokeh.transform import cumsum

from app import theme
from app.config import Level
from app.pages.charts import BASE_OPTIONS, threshold_spans

DONUT_WIDTH, DONUT_HEIGHT = 380, 280
SIDES = ("reference", "production")
"""The order of the two sides in every legend, table and pair of bars: reference first."""
SIDE_COLORS = {"reference": theme.REFERENCE_COLOR, "production": theme.PRODUCTION_COLOR}


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


def histogram_shares(dist: Mapping[str, Any]) -> dict[str, list[float]] | None:
    """Each side's share of its rows per bin of a numerical feature (``dist['edges']``), sides
    without rows left out; None when there are no bins or no rows on either side."""
    if len(dist.get("edges") or []) < 2:
        return None
    shares = {}
    for side in SIDES:
        counts = list(dist.get(side) or [])
        total = sum(counts)
        if total:
            shares[side] = [c / total for c in counts]
    return shares or None


def cumulative_shares(dist: Mapping[str, Any]) -> dict[str, list[float]] | None:
    """Each side's share of its rows at or below each bin edge (the ECDF at the edges, from 0),
    sides without rows left out; None when there are no bins or no rows on either side."""
    if len(dist.get("edges") or []) < 2:
        return None
    found = {}
    for side in SIDES:
        counts = list(dist.get(side) or [])
        total = sum(counts)
        if not total:
            continue
        cumulative, running = [0.0], 0
        for count in counts:
            running += count
            cumulative.append(running / total)
        found[side] = cumulative
    return found or None


LABEL_CHARS = 24
"""Longest value label on a bar chart's axis; a longer value is cut with "…" (its hover is whole)."""


def short_label(value: str, size: int = LABEL_CHARS) -> str:
    """``value`` cut to ``size`` characters with an ellipsis, so an axis label leaves the bars room."""
    return value if len(value) <= size else value[: size - 1].rstrip() + "…"


def value_shares(
    dist: Mapping[str, Any], top: int = 15
) -> tuple[list[dict], list[str], str] | None:
    """Shares of the most frequent values on both sides, for horizontal grouped bars: one row per
    value and side (value, side, share, text), the values most frequent first, and the title;
    None when neither side has a value.

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
    rows = [
        {
            "value": value,
            "side": side,
            "share": shares[value][side],
            "text": theme.format_share(shares[value][side], digits),
        }
        for value in values
        for side in SIDES
        if side in shares[value]
    ]
    return rows, values, title


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
