"""Charts over time: the prediction drift trend, the predicted classes and the model versions'
traffic per time bucket, the estimated against the realized accuracy, and the training runs'
metrics. Each takes a Monitor's small aggregated result; the shared frame (time axes, the
window band, snapping a selection to buckets) is :mod:`app.pages.charts`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (registers the Bokeh backend for .opts)
import pandas as pd
from bokeh.models import (
    BoxAnnotation,
    ColumnDataSource,
    DataRange1d,
    HoverTool,
    Label,
    Legend,
    LegendItem,
    NumeralTickFormatter,
    Range1d,
    Span,
)

from app import theme
from app.config import Level
from app.pages.charts import (
    BASE_OPTIONS,
    HEIGHT,
    MIN_BUCKET_ROWS,
    add_window_band,
    bucket_width,
    naive_utc,
    threshold_spans,
    time_figure,
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
        **BASE_OPTIONS,
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
    over_time: Mapping[str, Any], window: tuple[Any, Any] | None = None, selectable: bool = True
) -> Any:
    """Rows per time bucket, stacked by predicted class (inputs when there are no predictions),
    with the time ``window`` (start, end; None at either end is open) shaded when given: a
    :func:`stacked_timeline`."""
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
    return stacked_timeline(
        series, classes, bucket_width(over_time.get("width")), window, selectable=selectable
    )


def version_traffic_timeline(
    traffic: Mapping[str, Any] | None,
    window: tuple[Any, Any] | None = None,
    names: Mapping[str, str] | None = None,
    selectable: bool = True,
) -> Any:
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
        selectable=selectable,
    )


def stacked_timeline(
    series: Sequence[tuple[Any, Mapping[str, int], int]],
    classes: Sequence[str],
    width: timedelta,
    window: tuple[Any, Any] | None = None,
    label: str = "Class",
    shares: bool = False,
    selectable: bool = True,
) -> Any:
    """Time buckets as stacked bars: ``series`` of (bucket start, rows per class, rows), drawn
    as rows or (``shares``) as each class's share of its bucket, with the time ``window``
    (start, end; None at either end is open) shaded when given and, when ``selectable``, a drag
    that selects a time range (:func:`app.pages.charts.on_time_range_selected`).

    A plain Bokeh figure with one ``quad`` renderer (named ``bars``) coloured by class and a
    legend entry per class: it is built for every session that opens the page.
    """
    if not series:
        return None
    classes = list(classes) or ["rows"]
    colors = {
        cls: theme.CATEGORY_COLORS[i % len(theme.CATEGORY_COLORS)] for i, cls in enumerate(classes)
    }
    columns: dict[str, list] = {
        key: [] for key in ("x0", "y0", "x1", "y1", "class", "count", "share", "bucket", "color")
    }
    for i, cls in enumerate(classes):
        for start, counts, total in series:
            left = naive_utc(start)
            below = sum(counts.get(c, 0) for c in classes[:i])
            count = counts.get(cls, 0)
            scale = 1 / total if shares and total else 1
            row = (
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
            for key, value in zip(columns, row, strict=True):
                columns[key].append(value)
    y_range = Range1d(0, 1) if shares else DataRange1d(start=0)
    plot = time_figure(
        "Time", "Share of rows" if shares else "Rows", selectable=selectable, y_range=y_range
    )
    bars = plot.quad(
        left="x0",
        bottom="y0",
        right="x1",
        top="y1",
        source=ColumnDataSource(columns),
        fill_color="color",
        line_color="color",
        line_alpha=0.6,
        fill_alpha=0.85,
        nonselection_fill_alpha=0.85,
        nonselection_line_alpha=0.6,
        name="bars",
    )
    plot.select_one(HoverTool).update(
        renderers=[bars],
        tooltips=[
            ("Bucket", "@bucket"),
            (label, "@class"),
            ("Rows", "@count{0,0}"),
            ("Share", "@share"),
        ],
    )
    plot.yaxis.formatter = (
        NumeralTickFormatter(format="0%") if shares else NumeralTickFormatter(format="0,0")
    )
    if len(classes) > 1:
        items = [
            LegendItem(label=cls, renderers=[bars], index=len(series) * i)
            for i, cls in enumerate(classes)
        ]
        plot.add_layout(Legend(items=items, location="top_left"), "right")
    if window is not None:
        add_window_band(plot, *window)
    return plot


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


def performance_trend(runs: Sequence[Mapping[str, Any]]) -> Any:
    """Accuracy and F1 of each training run over time (``runs``: start, run, metric, value): a
    plain Bokeh figure, one line per metric under the runs' markers (``points``)."""
    frame = pd.DataFrame(list(runs))
    if frame.empty:
        return None
    frame["start"] = [naive_utc(v) for v in frame["start"]]
    frame["text"] = [theme.format_metric(v) for v in frame["value"]]
    frame = frame.sort_values("start", kind="stable")
    metrics = list(dict.fromkeys(frame["metric"]))
    colors = {
        m: theme.CATEGORY_COLORS[i % len(theme.CATEGORY_COLORS)] for i, m in enumerate(metrics)
    }
    frame["color"] = [colors[m] for m in frame["metric"]]
    low, high = float(frame["value"].min()), float(frame["value"].max())
    plot = time_figure(
        "Run start", "Score", y_range=Range1d(max(0.0, low - 0.05), min(1.0, high + 0.03))
    )
    items = []
    for metric, group in frame.groupby("metric", sort=False):
        line = plot.line(list(group["start"]), list(group["value"]), line_color=colors[metric])
        line.glyph.line_width = 2
        items.append(LegendItem(label=str(metric), renderers=[line]))
    columns = ["start", "value", "run", "metric", "text", "color"]
    points = plot.scatter(
        "start",
        "value",
        source=ColumnDataSource({c: list(frame[c]) for c in columns}),
        color="color",
        size=7,
        name="points",
    )
    plot.select_one(HoverTool).update(
        renderers=[points],
        tooltips=[
            ("Run", "@run"),
            ("Started", "@start{%F %H:%M}"),
            ("Metric", "@metric"),
            ("Value", "@text"),
        ],
        formatters={"@start": "datetime"},
    )
    plot.add_layout(Legend(items=items, location="bottom_right"))
    return plot
