"""The frame every chart shares: its height and tools, readable time axes, threshold lines in
the severity colours, the band shading the time window, and snapping a selection to time buckets.

The charts themselves are :mod:`app.pages.timelines` (over time) and
:mod:`app.pages.distribution_charts` (how values spread). Every chart takes what a Monitor method
returned (lists and dicts of a few hundred values at most) and the severity levels of the config,
so the colours and threshold lines match the Alerts page. Hover texts are formatted with the
theme helpers; Bokeh escapes them, so category values from the data show as text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (registers the Bokeh backend for .opts)
import pandas as pd
import panel as pn
from bokeh.events import SelectionGeometry
from bokeh.models import (
    BoxAnnotation,
    BoxSelectTool,
    DatetimeAxis,
    DatetimeTickFormatter,
    NoOverlap,
    Span,
)
from bokeh.plotting import figure

from app import theme
from app.config import Level
from app.window import BUCKET_WIDTHS

# Canvas, not WebGL: every chart holds at most a few hundred glyphs, and a browser without a GPU
# (headless, many VMs and remote desktops) runs WebGL in a software rasteriser that costs about a
# tenth of a second per plot.
hv.plotting.bokeh.BokehRenderer.webgl = False

HEIGHT = 300
MIN_BUCKET_ROWS = 30
"""Time buckets with fewer rows are drawn grey: a PSI or KL from a handful of rows is noise."""

_TOOLS = ["hover", "save", "reset"]
BASE_OPTIONS = {"responsive": True, "height": HEIGHT, "default_tools": [], "tools": _TOOLS}
"""Options every HoloViews chart starts from: the full width, the common height, three tools."""
"""Options every HoloViews chart starts from: the full width, the common height, three tools."""


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


def readable_time_axis(axis: DatetimeAxis) -> None:
    """A datetime axis gets :func:`time_formatter`, fewer ticks, and drops a label that would
    still overlap its neighbour (``NoOverlap``), so labels never collide."""
    axis.formatter = time_formatter()
    axis.major_label_policy = NoOverlap(min_distance=8)
    if hasattr(axis.ticker, "desired_num_ticks"):
        axis.ticker.desired_num_ticks = TIME_TICKS


def readable_time_axes(plot: Any, _element: Any) -> None:
    """A plot hook: every datetime axis of a HoloViews chart is a :func:`readable_time_axis`."""
    for axis in (*plot.state.xaxis, *plot.state.yaxis):
        if isinstance(axis, DatetimeAxis):
            readable_time_axis(axis)


def time_figure(x_label: str, y_label: str, *, selectable: bool = False, **params: Any) -> Any:
    """A plain Bokeh figure over time with the frame every chart shares (full width, the common
    height, hover/save/reset, a readable time axis); with ``selectable`` a drag across it selects
    a time range (see :func:`on_time_range_selected`).

    A page's charts are built for every session that opens it: a plain figure costs a fraction
    of a HoloViews plot of the same glyphs (its options, ranges and hooks resolved per session).
    """
    plot = figure(
        x_axis_type="datetime",
        height=HEIGHT,
        sizing_mode="stretch_width",
        tools=_TOOLS,
        toolbar_location="right",
        min_border=10,
        x_axis_label=x_label,
        y_axis_label=y_label,
        **params,
    )
    plot.toolbar.logo = None
    if selectable:
        select = BoxSelectTool(dimensions="width")
        plot.add_tools(select)
        plot.toolbar.active_drag = select
    readable_time_axis(plot.xaxis[0])
    return plot


def on_time_range_selected(plot: Any, callback: Any) -> None:
    """Call ``callback(start, end)`` (naive UTC datetimes) when a drag across ``plot`` (a
    :func:`time_figure` made ``selectable``) ends."""

    def selected(event: SelectionGeometry) -> None:
        geometry = event.geometry or {}
        if not event.final or geometry.get("type") != "rect":
            return
        ends = [_from_epoch_ms(geometry.get(key)) for key in ("x0", "x1")]
        if None not in ends:
            callback(*ends)

    plot.on_event(SelectionGeometry, selected)


def _from_epoch_ms(value: Any) -> datetime | None:
    """A datetime axis coordinate (milliseconds since the epoch) as a naive UTC datetime."""
    if not isinstance(value, int | float) or value != value:
        return None
    return datetime(1970, 1, 1) + timedelta(milliseconds=value)


def figure_pane(plot: Any) -> pn.pane.Bokeh:
    """A plain Bokeh figure in a pane of the common height, the full width."""
    return pn.pane.Bokeh(plot, sizing_mode="stretch_width", height=plot.height or HEIGHT)


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
        add_window_band(plot.state, start, end)

    return add_band


def add_window_band(plot: Any, start: datetime | None, end: datetime | None) -> None:
    """Shade the time window [start, end) on Bokeh figure ``plot`` (see :func:`window_band`)."""
    band = {"left": naive_utc(start), "right": naive_utc(end)}
    plot.add_layout(
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


def without_selection(chart: hv.Element) -> hv.Element:
    """``chart`` without its time-range selection tool: in a static export no server answers it."""
    return chart.opts(tools=["hover", "save", "reset"], active_tools=[], clone=True)


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
