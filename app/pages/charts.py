"""HoloViews/Bokeh charts drawn from the Monitor's small aggregated results.

Every chart takes what a Monitor method returned (lists and dicts of a few hundred values at
most) and the severity levels of the config, so the colours and threshold lines match the
Alerts page. Hover texts are formatted with the theme helpers; Bokeh escapes them, so category
values from the data show as text.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (registers the Bokeh backend for .opts)
import pandas as pd
import panel as pn
from bokeh.models import (
    BoxAnnotation,
    ColumnDataSource,
    DatetimeAxis,
    DatetimeTickFormatter,
    Label,
    Legend,
    LegendItem,
    NoOverlap,
    NumeralTickFormatter,
    Span,
)
from bokeh.plotting import figure
from bokeh.transform import cumsum

from app import theme
from app.config import Level
from app.window import BUCKET_WIDTHS

# Canvas, not WebGL: every chart holds at most a few hundred glyphs, and a browser without a GPU
# (headless, many VMs and remote desktops) runs WebGL in a software rasteriser that costs about a
# tenth of a second per plot.
hv.plotting.bokeh.BokehRenderer.webgl = False

HEIGHT = 300
DONUT_WIDTH, DONUT_HEIGHT = 380, 280
MIN_BUCKET_ROWS = 30
"""Time buckets with fewer rows are drawn grey: a PSI or KL from a handful of rows is noise."""

_TOOLS = ["hover", "save", "reset"]
_BASE = {"responsive": True, "height": HEIGHT, "default_tools": [], "tools": _TOOLS}


TIME_TICKS = 5
"""Ticks a time axis aims for: short labels with room between them at any chart width."""


def time_formatter() -> DatetimeTickFormatter:
    """Tick labels of a time axis, one line each: the finest unit the ticks step by, with the day
    when they step by hours, and the year once under the first day tick. (Bokeh's contextual
    default writes the whole date under every hour tick, which collides on a narrow axis.)"""
    return DatetimeTickFormatter(
        seconds="%H:%M:%S",
        minsec="%H:%M:%S",
        minutes="%H:%M",
        hourmin="%b %d %H:%M",
        hours="%b %d %H:%M",
        days="%b %d",
        months="%b %Y",
        years="%Y",
        context=DatetimeTickFormatter(
            **dict.fromkeys(
                ("seconds", "minsec", "minutes", "hourmin", "hours", "months", "years"), ""
            ),
            days="%Y",
            context_which="start",
            hide_repeats=True,
        ),
        context_which="start",
    )


def readable_time_axes(plot: Any, _element: Any) -> None:
    """A plot hook: every datetime axis gets :func:`time_formatter`, fewer ticks, and drops a
    label that would still overlap its neighbour (``NoOverlap``), so labels never collide."""
    for axis in (*plot.state.xaxis, *plot.state.yaxis):
        if isinstance(axis, DatetimeAxis):
            axis.formatter = time_formatter()
            axis.major_label_policy = NoOverlap(min_distance=8)
            if hasattr(axis.ticker, "desired_num_ticks"):
                axis.ticker.desired_num_ticks = TIME_TICKS


def with_time_axes(chart: Any) -> Any:
    """``chart`` with :func:`readable_time_axes` added to its plot hooks (kept: its own hooks)."""
    hooks = list(chart.opts.get("plot").kwargs.get("hooks") or [])
    if readable_time_axes not in hooks:
        chart = chart.opts(hooks=[*hooks, readable_time_axes])
    return chart


def plot_pane(chart: Any, height: int | None = None) -> pn.pane.HoloViews:
    """A chart in a pane of its own: axes are not linked to other charts with the same dimension
    names (Panel links them by default, which would mix feature axes across sections); its time
    axes read without collisions."""
    if height is None:
        height = chart.opts.get("plot").kwargs.get("height", HEIGHT)
    return pn.pane.HoloViews(
        with_time_axes(chart), sizing_mode="stretch_width", height=height, linked_axes=False
    )


def bucket_width(name: str | None) -> timedelta:
    """The duration of one time bucket named by ``drift_over_time()['width']``."""
    return BUCKET_WIDTHS.get(name or "", timedelta(days=1))


def naive_utc(value: Any) -> datetime | None:
    """A timestamp (MLflow's are UTC-aware) as naive UTC for Bokeh's datetime axis; None if missing."""
    if value is None:
        return None
    stamp = pd.Timestamp(value)
    if pd.isna(stamp):
        return None
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp.to_pydatetime()


def threshold_spans(level: Level) -> Any:
    """A plot hook drawing the warning and critical levels as dashed lines in the severity colours.

    Bokeh ``Span`` annotations cost next to nothing to build, where each ``hv.HLine`` layer of an
    overlay costs tens of milliseconds per session; for charts whose y range is set explicitly
    (spans do not widen the range).
    """

    def add_spans(plot: Any, _element: Any) -> None:
        for value, severity in ((level.warning, "warning"), (level.critical, "critical")):
            plot.state.add_layout(
                Span(
                    location=value,
                    dimension="width",
                    line_color=theme.SEVERITY_COLORS[severity],
                    line_dash="dashed",
                    line_width=1.5,
                    name=f"threshold-{severity}",
                )
            )

    return add_spans


WINDOW_BAND = "time-window"
"""Name of the band that marks the selected time window on a timeline of the whole history."""


def window_band(start: datetime | None, end: datetime | None) -> Any:
    """A plot hook shading the time window [start, end) on a timeline of every production row;
    an open end reaches the edge of the plot. A Bokeh ``BoxAnnotation``: no overlay layer to
    build per session, and the timeline's own element stays the source of its range selection."""

    def add_band(plot: Any, _element: Any) -> None:
        band = {"left": start, "right": end}
        plot.state.add_layout(
            BoxAnnotation(
                **{side: value for side, value in band.items() if value is not None},
                fill_color=theme.ACCENT,
                fill_alpha=0.12,
                line_color=theme.ACCENT,
                line_alpha=0.6,
                line_dash="dashed",
                name=WINDOW_BAND,
            )
        )

    return add_band


def threshold_lines(level: Level, horizontal: bool = True) -> list[hv.Element]:
    """Dashed warning and critical lines in the severity colours."""
    line = hv.HLine if horizontal else hv.VLine
    return [
        line(level.warning).opts(
            color=theme.SEVERITY_COLORS["warning"], line_dash="dashed", line_width=1.5
        ),
        line(level.critical).opts(
            color=theme.SEVERITY_COLORS["critical"], line_dash="dashed", line_width=1.5
        ),
    ]


def severity_bars(
    rows: Sequence[Mapping[str, Any]],
    level: Level,
    value_label: str,
    text: Any = theme.format_metric,
    extra_hover: Sequence[tuple[str, str]] = (),
    floor: float = 0.0,
) -> hv.Bars:
    """One bar per feature (``rows``: feature, value, and extra columns) coloured by severity,
    with the warning and critical levels as dashed lines."""
    frame = pd.DataFrame(list(rows))
    frame["severity"] = [
        theme.severity(v, level.critical, level.warning) or "n/a" for v in frame["value"]
    ]
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
        **_BASE,
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
                    **_BASE,
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
        **{**_BASE, "height": max(HEIGHT, 90 + 26 * len(values))},
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
                **_BASE,
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
        **_BASE,
    )


def kl_trend(predictions: Sequence[Mapping[str, Any]], level: Level) -> hv.Scatter | None:
    """Prediction KL per time bucket against the thresholds (tiny buckets left out)."""
    rows = [
        {
            "start": naive_utc(p["start"]),
            "kl": p["kl"],
            "rows": p["rows"],
            "text": theme.format_metric(p["kl"]),
        }
        for p in predictions
        if theme.is_number(p.get("kl")) and p.get("rows", 0) >= MIN_BUCKET_ROWS
    ]
    if not rows:
        return None
    frame = pd.DataFrame(rows)
    top = max(level.critical * 1.2, frame["kl"].max() * 1.08)
    tooltips = [("Bucket", "@start{%F %H:%M}"), ("KL", "@text"), ("Rows", "@rows{0,0}")]
    start, kl = hv.Dimension("start", label="Time"), hv.Dimension("kl", label="Prediction KL")
    return hv.Scatter(frame, start, [kl, "rows", "text"]).opts(
        color=theme.ACCENT,
        size=6,
        hover_tooltips=tooltips,
        hover_formatters={"@start": "datetime"},
        hooks=[
            connecting_lines([(list(frame["start"]), list(frame["kl"]), theme.ACCENT, None)]),
            threshold_spans(level),
        ],
        ylim=(0, top),
        show_legend=False,
        **_BASE,
    )


def connecting_lines(series: Sequence[tuple[list, list, str, str | None]]) -> Any:
    """A plot hook joining points with lines: ``series`` of (xs, ys, colour, legend label).

    Plain Bokeh lines under the element's markers, instead of a ``hv.Curve`` layer per series
    (each a full HoloViews plot built for every session); labelled series get a legend entry.
    """

    def add_lines(plot: Any, _element: Any) -> None:
        figure = plot.state
        items = []
        for xs, ys, color, label in series:
            line = figure.line(xs, ys, line_color=color, line_width=2)
            figure.renderers.remove(line)
            figure.renderers.insert(0, line)  # under the markers
            if label is not None:
                items.append(LegendItem(label=label, renderers=[line]))
        if items:
            figure.add_layout(Legend(items=items, location="bottom_right"))

    return add_lines


def predictions_timeline(
    over_time: Mapping[str, Any], window: tuple[Any, Any] | None = None
) -> hv.Rectangles | None:
    """Rows per time bucket, stacked by predicted class (inputs when there are no predictions),
    with the time ``window`` (start, end; None at either end is open) shaded when given."""
    predictions = list(over_time.get("predictions") or [])
    if predictions:
        classes = sorted({str(c) for p in predictions for c in (p.get("counts") or {})})
        series = [
            (p["start"], {str(k): v for k, v in (p.get("counts") or {}).items()}, p["rows"])
            for p in predictions
        ]
    else:
        buckets = list(over_time.get("buckets") or [])
        classes = ["inputs"]
        series = [(b["start"], {"inputs": b["rows"]}, b["rows"]) for b in buckets]
    return stacked_timeline(series, classes, bucket_width(over_time.get("width")), window)


def version_traffic_timeline(
    traffic: Mapping[str, Any] | None,
    window: tuple[Any, Any] | None = None,
    names: Mapping[str, str] | None = None,
) -> hv.Rectangles | None:
    """Each model version's share of the rows of every time bucket, stacked to 100 %
    (``traffic``: the report's ``version_traffic``), with the time ``window`` shaded; ``names``
    are the legend's words for each version."""
    buckets = list((traffic or {}).get("buckets") or [])
    if not buckets:
        return None
    names = dict(names or {})
    series = [
        (
            b["start"],
            {names.get(str(k), str(k)): v for k, v in (b.get("rows") or {}).items()},
            sum((b.get("rows") or {}).values()),
        )
        for b in buckets
    ]
    versions = list(dict.fromkeys(names.get(str(k), str(k)) for b in buckets for k in b["rows"]))
    order = sorted(versions, key=lambda v: -sum(counts.get(v, 0) for _, counts, _ in series))
    return stacked_timeline(
        series,
        order,
        bucket_width(traffic.get("width")),
        window,
        label="Version",
        shares=True,
    )


def stacked_timeline(
    series: Sequence[tuple[Any, Mapping[str, int], int]],
    classes: Sequence[str],
    width: timedelta,
    window: tuple[Any, Any] | None = None,
    label: str = "Class",
    shares: bool = False,
) -> hv.Rectangles | None:
    """Time buckets as stacked bars: ``series`` of (bucket start, rows per class, rows), drawn
    as rows or (``shares``) as each class's share of its bucket, with the time ``window``
    (start, end; None at either end is open) shaded when given and a range selection tool.

    One ``Rectangles`` element coloured by class, with its legend added by a hook: a layer per
    class would cost a full HoloViews plot each, for every session that opens the page.
    """
    if not series:
        return None
    classes = list(classes) or ["rows"]
    colors = {
        cls: theme.CATEGORY_COLORS[i % len(theme.CATEGORY_COLORS)] for i, cls in enumerate(classes)
    }
    rects = []
    for i, cls in enumerate(classes):
        for start, counts, total in series:
            left = naive_utc(start)
            below = sum(counts.get(c, 0) for c in classes[:i])
            count = counts.get(cls, 0)
            scale = 1 / total if shares and total else 1
            rects.append(
                (
                    left,
                    below * scale,
                    left + width,
                    (below + count) * scale,
                    cls,
                    count,
                    theme.format_share(count / total if total else None),
                    theme.format_timestamp(start),
                    colors[cls],
                )
            )
    chart = hv.Rectangles(
        rects,
        kdims=[
            hv.Dimension("x0", label="Time"),
            hv.Dimension("y0", label="Share of rows" if shares else "Rows"),
            "x1",
            "y1",
        ],
        vdims=["class", "count", "share", "bucket", "color"],
    )
    first = {cls: len(series) * i for i, cls in enumerate(classes)}
    return chart.opts(
        color="color",
        line_color="color",
        line_alpha=0.6,
        fill_alpha=0.85,
        nonselection_alpha=0.85,
        hover_tooltips=[
            ("Bucket", "@bucket"),
            (label, "@class"),
            ("Rows", "@count{0,0}"),
            ("Share", "@share"),
        ],
        responsive=True,
        height=HEIGHT,
        default_tools=[],
        tools=["hover", "xbox_select", "save", "reset"],
        active_tools=["xbox_select"],
        yformatter=NumeralTickFormatter(format="0%") if shares else "%d",
        **({"ylim": (0, 1)} if shares else {}),
        hooks=[
            *([_class_legend(first)] if len(classes) > 1 else []),
            *([window_band(*window)] if window is not None else []),
        ],
    )


UNLABELLED_BAND = "unlabelled-period"
"""Name of the band marking the buckets with no labels yet on the estimated-accuracy chart."""
BASELINE_LINE = "accuracy-baseline"
"""Name of the dashed line of the accuracy baseline on the estimated-accuracy chart."""


def estimated_accuracy_chart(
    over_time: Sequence[Mapping[str, Any]],
    width: str | None,
    baseline: float | None = None,
    baseline_label: str = "baseline",
) -> hv.Overlay | None:
    """Estimated accuracy (CBPE) per time bucket with its 95 % band shaded, the realized accuracy
    where labels exist, the trailing buckets without labels marked "no labels yet: estimated"
    (the estimate drawn dashed there) and the ``baseline`` as a dashed line.

    ``over_time``: the report's ``estimated_performance.over_time``; buckets with fewer than
    ``MIN_BUCKET_ROWS`` rows are left out (a band over a handful of rows spans everything).
    """
    step = bucket_width(width)
    rows = [
        {
            "time": naive_utc(b["start"]) + step / 2,
            "start": naive_utc(b["start"]),
            "end": naive_utc(b["start"]) + step,
            "estimated": float(b["accuracy"]),
            "lower": max(0.0, float(b["lower"])),
            "upper": min(1.0, float(b["upper"])),
            "realized": float(b["realized"]) if theme.is_number(b.get("realized")) else None,
            "rows": int(b.get("rows") or 0),
            "bucket": theme.format_timestamp(b["start"]),
            "text": theme.format_share(b["accuracy"]),
            "band": f"{theme.format_share(b['lower'])}–{theme.format_share(b['upper'])}",
            "realized_text": theme.format_share(b.get("realized"))
            if theme.is_number(b.get("realized"))
            else "no labels yet",
        }
        for b in over_time
        if theme.is_number(b.get("accuracy"))
        and theme.is_number(b.get("lower"))
        and theme.is_number(b.get("upper"))
        and (b.get("rows") or 0) >= MIN_BUCKET_ROWS
    ]
    if not rows:
        return None
    frame = pd.DataFrame(rows)
    labelled = [i for i, r in enumerate(rows) if r["realized"] is not None]
    # The recent buckets after the last labelled one: their accuracy is known only by estimate.
    last = labelled[-1] if labelled else -1
    time = hv.Dimension("time", label="Time")
    value = hv.Dimension("estimated", label="Accuracy")
    base = {"responsive": True, "height": HEIGHT, "default_tools": [], "show_grid": True}
    hover = ["bucket", "text", "band", "realized_text", "rows"]
    band = hv.Area(
        frame, time, [hv.Dimension("lower", label="Accuracy"), "upper"], label="95 % band"
    )
    layers: list[hv.Element] = [
        band.opts(color=theme.ACCENT, alpha=0.18, line_alpha=0, tools=["save", "reset"], **base)
    ]
    estimate = {"color": theme.ACCENT, "line_width": 2, **base}
    if last >= 0:
        layers.append(
            hv.Curve(frame.iloc[: last + 1], time, value, label="estimated (CBPE)").opts(**estimate)
        )
    if last < len(rows) - 1:
        layers.append(
            hv.Curve(
                frame.iloc[max(last, 0) :], time, value, label="estimated, no labels yet"
            ).opts(line_dash="dashed", **estimate)
        )
    layers.append(
        hv.Scatter(frame, time, [value, *hover]).opts(
            color=theme.ACCENT,
            size=5,
            tools=["hover", "save", "reset"],
            hover_tooltips=[
                ("Bucket", "@bucket"),
                ("Estimated", "@text"),
                ("95 % band", "@band"),
                ("Realized", "@realized_text"),
                ("Rows", "@rows{0,0}"),
            ],
            **base,
        )
    )
    if labelled:
        realized = frame.iloc[labelled]
        real = hv.Dimension("realized", label="Accuracy")
        layers.append(
            hv.Curve(realized, time, real, label="realized (labels)").opts(
                color=theme.PRODUCTION_COLOR, line_width=2, **base
            )
        )
        layers.append(
            hv.Scatter(realized, time, real).opts(color=theme.PRODUCTION_COLOR, size=6, **base)
        )
    values = [
        *frame["lower"],
        *frame["upper"],
        *(r["realized"] for r in rows if r["realized"] is not None),
    ]
    if theme.is_number(baseline):
        values.append(float(baseline))
    low, high = max(0.0, min(values) - 0.03), min(1.0, max(values) + 0.03)
    hooks = []
    if last < len(rows) - 1:
        hooks.append(_unlabelled_band(rows[last + 1]["start"], rows[-1]["end"]))
    if theme.is_number(baseline):
        hooks.append(_baseline_line(float(baseline), baseline_label))
    return hv.Overlay(layers).opts(
        ylim=(low, high),
        yformatter=NumeralTickFormatter(format="0%"),
        legend_position="right",
        hooks=hooks,
    )


def _unlabelled_band(start: datetime, end: datetime) -> Any:
    """A plot hook shading [start, end), labelled "no labels yet: estimated"."""

    def add_band(plot: Any, _element: Any) -> None:
        plot.state.add_layout(
            BoxAnnotation(
                left=start,
                right=end,
                fill_color=theme.MISSING_COLOR,
                fill_alpha=0.15,
                line_alpha=0,
                name=UNLABELLED_BAND,
            )
        )
        plot.state.add_layout(
            Label(
                x=start,
                y=8,
                y_units="screen",
                x_offset=4,
                text="no labels yet: estimated",
                text_font_size="9pt",
                text_color=theme.MISSING_COLOR,
                name=UNLABELLED_BAND,
            )
        )

    return add_band


def _baseline_line(value: float, label: str) -> Any:
    """A plot hook drawing the accuracy baseline as a dashed horizontal line with its label."""

    def add_line(plot: Any, _element: Any) -> None:
        plot.state.add_layout(
            Span(
                location=value,
                dimension="width",
                line_color=theme.REFERENCE_COLOR,
                line_dash="dashed",
                line_width=1.5,
                name=BASELINE_LINE,
            )
        )
        plot.state.add_layout(
            Label(
                x=6,
                x_units="screen",
                y=value,
                y_offset=3,
                text=f"{label} {theme.format_share(value)}",
                text_font_size="9pt",
                text_color=theme.REFERENCE_COLOR,
                name=BASELINE_LINE,
            )
        )

    return add_line


def without_selection(chart: hv.Element) -> hv.Element:
    """``chart`` without its time-range selection tool: in a static export no server answers it."""
    return chart.opts(tools=["hover", "save", "reset"], active_tools=[], clone=True)


def _class_legend(first: Mapping[str, int]) -> Any:
    """A plot hook adding a legend on the right: one entry per class, drawn like its first glyph."""

    def add_legend(plot: Any, _element: Any) -> None:
        renderer = plot.handles["glyph_renderer"]
        items = [
            LegendItem(label=cls, renderers=[renderer], index=index) for cls, index in first.items()
        ]
        plot.state.add_layout(Legend(items=items, location="top_left"), "right")

    return add_legend


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


def performance_trend(runs: Sequence[Mapping[str, Any]]) -> hv.Scatter | None:
    """Accuracy and F1 of each training run over time (``runs``: start, run, metric, value)."""
    frame = pd.DataFrame(list(runs))
    if frame.empty:
        return None
    frame["text"] = [theme.format_metric(v) for v in frame["value"]]
    frame = frame.sort_values("start", kind="stable")
    metrics = list(dict.fromkeys(frame["metric"]))
    colors = {
        m: theme.CATEGORY_COLORS[i % len(theme.CATEGORY_COLORS)] for i, m in enumerate(metrics)
    }
    frame["color"] = [colors[m] for m in frame["metric"]]
    lines = [
        (list(group["start"]), list(group["value"]), colors[metric], str(metric))
        for metric, group in frame.groupby("metric", sort=False)
    ]
    tooltips = [
        ("Run", "@run"),
        ("Started", "@start{%F %H:%M}"),
        ("Metric", "@metric"),
        ("Value", "@text"),
    ]
    start, value = hv.Dimension("start", label="Run start"), hv.Dimension("value", label="Score")
    low = float(frame["value"].min())
    return hv.Scatter(frame, start, [value, "run", "metric", "text", "color"]).opts(
        color="color",
        size=7,
        hover_tooltips=tooltips,
        hover_formatters={"@start": "datetime"},
        hooks=[connecting_lines(lines)],
        ylim=(max(0.0, low - 0.05), min(1.0, float(frame["value"].max()) + 0.03)),
        show_legend=False,
        **_BASE,
    )


def snap_to_buckets(
    x0: Any, x1: Any, buckets: Sequence[Mapping[str, Any]], width: timedelta
) -> tuple[datetime, datetime] | None:
    """The whole buckets a selection from ``x0`` to ``x1`` touches, as a [start, end) window."""
    left, right = naive_utc(x0), naive_utc(x1)
    if left is None or right is None:
        return None
    if left > right:
        left, right = right, left
    starts = [naive_utc(b["start"]) for b in buckets]
    touched = [s for s in starts if s is not None and s + width > left and s < right]
    if not touched:
        return None
    return min(touched), max(touched) + width
