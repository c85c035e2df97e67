"""A feature's distribution, reference beside production, as Bokeh figures a page builds once and
redraws in place for every feature chosen.

Choosing another feature only replaces the data of the figures' sources (and the axis labels,
factors and title): no new Bokeh model reaches the browser, so a switch costs milliseconds on the
server and one redraw in the browser, where building a HoloViews plot per choice took 0.3–1 s a
chart. The shares themselves come from :mod:`app.pages.distribution_charts`.

- :class:`DistributionFigure`: overlaid histograms of a numerical feature, or horizontal bars of
  the most frequent values of a categorical one (two figures, the one for the feature's kind shown);
- :class:`EcdfFigure`: the cumulative share of rows at each bin edge, per side (numerical).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import panel as pn
from bokeh.models import (
    ColumnDataSource,
    DataRange1d,
    FactorRange,
    HoverTool,
    Legend,
    LegendItem,
    NumeralTickFormatter,
    PrintfTickFormatter,
    Range1d,
)
from bokeh.plotting import figure
from panel.io.document import unlocked

from app.pages import cards
from app.pages.charts import HEIGHT
from app.pages.distribution_charts import (
    SIDE_COLORS,
    SIDES,
    cumulative_shares,
    histogram_shares,
    short_label,
    value_shares,
)

TOOLS = "save,reset"
BAR_HEIGHT = 0.8


def _figure(**params: Any) -> Any:
    """A figure with the frame every chart shares: full width, the common height, three tools;
    hidden (``cards.show``) until something is drawn in it."""
    plot = figure(
        height=HEIGHT,
        styles={"display": "none"},
        sizing_mode="stretch_width",
        tools=TOOLS,
        toolbar_location="right",
        min_border=10,
        **params,
    )
    plot.toolbar.logo = None
    return plot


def _pane(plot: Any) -> pn.pane.Bokeh:
    # Shown or hidden, and sized, by the figure's own properties: the pane passes the figure on
    # as its model, and the figure is changed in place (hidden by its style: ``cards.show``).
    return pn.pane.Bokeh(plot, sizing_mode="stretch_width")


def _legend(plot: Any, items: list[LegendItem], place: str, **params: Any) -> Legend:
    legend = Legend(items=items, **params)
    plot.add_layout(legend, place)
    return legend


class DistributionFigure:
    """Reference vs production shares of one feature: overlaid histograms (numerical) or
    grouped horizontal bars of its most frequent values (categorical, high cardinality)."""

    def __init__(self, top: int = 15) -> None:
        self.top = top
        # Numerical: one histogram (quads) per side, overlaid.
        self.histogram = _figure(x_range=DataRange1d(), y_range=DataRange1d(start=0))
        self._bins = {side: ColumnDataSource(_empty_bins()) for side in SIDES}
        self._hist_items = {}
        for side in SIDES:
            color = SIDE_COLORS[side]
            quads = self.histogram.quad(
                left="left",
                right="right",
                bottom=0,
                top="share",
                source=self._bins[side],
                fill_color=color,
                fill_alpha=0.45,
                line_color=color,
                muted_alpha=0.1,
            )
            self._hist_items[side] = LegendItem(label=side, renderers=[quads])
        self.histogram.add_tools(
            HoverTool(
                tooltips=[
                    ("Side", "@side"),
                    ("From", "@left{0,0.[00]}"),
                    ("To", "@right{0,0.[00]}"),
                    ("Share", "@share{0.0%}"),
                ]
            )
        )
        self.histogram.yaxis.axis_label = "Share of rows"
        self.histogram.yaxis.formatter = PrintfTickFormatter(format="%.2f")
        _legend(
            self.histogram,
            list(self._hist_items.values()),
            "center",
            location="top_right",
            click_policy="mute",
        )
        # Categorical: one bar per value and side; inside each value, reference above production.
        # Two levels from the start (value, side): the browser maps factors by their levels.
        self._factors = FactorRange(factors=[("", SIDES[0])], group_padding=1.4, factor_padding=0)
        self.bars = _figure(x_range=DataRange1d(start=0), y_range=self._factors)
        self._values = {side: ColumnDataSource(_empty_values()) for side in SIDES}
        bar_items = []
        for side in SIDES:
            bars = self.bars.hbar(
                y="factor",
                right="share",
                height=BAR_HEIGHT,
                source=self._values[side],
                fill_color=SIDE_COLORS[side],
                line_color=None,
            )
            bar_items.append(LegendItem(label=side, renderers=[bars]))
        self.bars.add_tools(
            HoverTool(tooltips=[("Value", "@value"), ("Side", "@side"), ("Share", "@text")])
        )
        axis = self.bars.yaxis[0]
        # The value (group) labels only: each bar's side is told by its colour and the legend.
        axis.update(
            major_label_text_font_size="1px",
            major_label_text_alpha=0,
            major_tick_line_alpha=0,
            separator_line_width=0,
            group_label_orientation=0,
            group_text_font_style="normal",
        )
        self.bars.xaxis.axis_label = "Share of all non-missing rows"
        self.bars.xaxis.formatter = NumeralTickFormatter(format="0.[000]%")
        self.bars.ygrid.grid_line_color = None
        # Above the bars, outside them: a legend inside the frame covers a bar at any width.
        _legend(
            self.bars,
            bar_items,
            "above",
            orientation="horizontal",
            border_line_alpha=0,
            background_fill_alpha=0,
            margin=0,
        )
        self.histogram_pane = _pane(self.histogram)
        self.bars_pane = _pane(self.bars)

    @property
    def panes(self) -> tuple[pn.pane.Bokeh, pn.pane.Bokeh]:
        """Both figures' panes (one shown at a time): a live page keeps both in its layout."""
        return self.histogram_pane, self.bars_pane

    def show(self, dist: Mapping[str, Any]) -> pn.pane.Bokeh | None:
        """Draw ``dist`` (a Monitor's distribution of one feature) in place; returns the pane that
        shows it (the other is hidden), or None (both hidden) when there is nothing to draw."""
        name = str(dist.get("feature", "value"))
        shown = None
        # Served, the figures are in the session's document: changed under its lock, and the
        # changes sent to the browser as one patch.
        with unlocked():
            if dist.get("kind") == "numerical":
                shown = self._show_histogram(dist, name)
            elif dist:
                shown = self._show_bars(dist, name)
            for pane in self.panes:
                cards.show(pane.object, pane is shown)
        return shown

    def _show_histogram(self, dist: Mapping[str, Any], name: str) -> pn.pane.Bokeh | None:
        shares = histogram_shares(dist)
        if not shares:
            return None
        edges = list(dist["edges"])
        for side in SIDES:
            values = shares.get(side)
            self._hist_items[side].visible = values is not None
            self._bins[side].data = (
                {
                    "left": edges[:-1],
                    "right": edges[1:],
                    "share": values,
                    "side": [side] * len(values),
                }
                if values is not None
                else _empty_bins()
            )
        self.histogram.xaxis.axis_label = name
        return self.histogram_pane

    def _show_bars(self, dist: Mapping[str, Any], name: str) -> pn.pane.Bokeh | None:
        found = value_shares(dist, self.top)
        if found is None:
            return None
        rows, values, title = found
        present = {(r["value"], r["side"]) for r in rows}
        # The first factor is drawn lowest: the most frequent value goes last (on top), and inside
        # a value production before the reference (the reference above, as in the legend).
        self._factors.factors = [
            (value, side)
            for value in reversed(values)
            for side in reversed(SIDES)
            if (value, side) in present
        ]
        by_side = {side: [r for r in rows if r["side"] == side] for side in SIDES}
        for side, side_rows in by_side.items():
            self._values[side].data = {
                "factor": [(r["value"], side) for r in side_rows],
                "value": [r["value"] for r in side_rows],
                "side": [side] * len(side_rows),
                "share": [r["share"] for r in side_rows],
                "text": [r["text"] for r in side_rows],
            }
        self.bars.yaxis[0].major_label_overrides = {
            v: short_label(v) for v in values if short_label(v) != v
        }
        self.bars.title.text = title
        self.bars.yaxis.axis_label = None
        self.bars.height = max(HEIGHT, 90 + 26 * len(values))
        return self.bars_pane


class EcdfFigure:
    """Cumulative share of rows at each bin edge, per side (numerical features), redrawn in place."""

    def __init__(self) -> None:
        self.plot = _figure(x_range=DataRange1d(), y_range=Range1d(0, 1.02))
        self._lines = {side: ColumnDataSource({"x": [], "F": [], "side": []}) for side in SIDES}
        items = []
        for side in SIDES:
            line = self.plot.line(
                x="x", y="F", source=self._lines[side], color=SIDE_COLORS[side], line_width=2.5
            )
            items.append(LegendItem(label=side, renderers=[line]))
        self._items = dict(zip(SIDES, items, strict=True))
        self._hover = HoverTool(tooltips=[], mode="mouse")
        self.plot.add_tools(self._hover)
        self.plot.yaxis.axis_label = "Cumulative share"
        _legend(self.plot, items, "center", location="bottom_right", click_policy="mute")
        self.pane = _pane(self.plot)

    def show(self, dist: Mapping[str, Any]) -> pn.pane.Bokeh | None:
        """Draw ``dist`` in place; the pane, or None (hidden) when the feature has no bins to
        accumulate."""
        found = cumulative_shares(dist)
        with unlocked():
            cards.show(self.plot, bool(found))
            if found:
                self._draw(dist, found)
        return self.pane if found else None

    def _draw(self, dist: Mapping[str, Any], found: dict[str, list[float]]) -> None:
        edges = list(dist["edges"])
        name = str(dist.get("feature", "value"))
        for side in SIDES:
            cumulative = found.get(side)
            self._items[side].visible = cumulative is not None
            self._lines[side].data = (
                {"x": edges, "F": cumulative, "side": [side] * len(edges)}
                if cumulative is not None
                else {"x": [], "F": [], "side": []}
            )
        self._hover.tooltips = [
            ("Side", "@side"),
            (name, "@x{0,0.[00]}"),
            ("Share at or below", "@F{0.0%}"),
        ]
        self.plot.xaxis.axis_label = name


def _empty_bins() -> dict[str, list]:
    return {"left": [], "right": [], "share": [], "side": []}


def _empty_values() -> dict[str, list]:
    return {"factor": [], "value": [], "side": [], "share": [], "text": []}
