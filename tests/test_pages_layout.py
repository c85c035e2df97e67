"""Layout rules every page keeps, checked on the Panel and Bokeh objects (the browser side is
tests/ui/test_pages_widths.py): sections and charts set side by side wrap onto their own line
before a chart is squeezed, the donut keeps its whole circle in its canvas, and the legend of the
per-feature alert history sits beside its plot with room for every entry."""

from __future__ import annotations

import holoviews as hv
import pandas as pd
import panel as pn
import pytest
from bokeh.models import DataRange1d, Legend

from app.config import Config
from app.pages.alerts import MAX_HISTORY_LINES, PLOT_HEIGHT, history_view, metric_history_plot
from app.pages.distribution_charts import DONUT_HEIGHT, DONUT_WIDTH, donut
from app.pages.drift import DriftMonitoring
from app.pages.features import FeatureStatistics
from app.pages.overview import Overview
from app.pages.performance import PerformanceMetrics
from tests.page_helpers import render
from tests.page_mlflow import mlflow_world


@pytest.fixture(scope="module")
def page_world(tmp_path_factory):
    return mlflow_world(tmp_path_factory.mktemp("layout"))


def assert_wraps(layout: pn.viewable.Viewable, *objects: pn.viewable.Viewable) -> None:
    """``objects`` share one row that wraps, each with a minimum width that keeps a chart readable
    (a Row that never wraps squeezed charts to ~40 px at a 1000 px window)."""
    rows = [
        row
        for row in layout.select(lambda o: isinstance(o, pn.layout.ListPanel))
        if all(any(obj is child for child in row.objects) for obj in objects)
    ]
    assert rows, "the objects are not in one row"
    row = rows[0]
    assert row.styles.get("flex-wrap") == "wrap"
    for obj in objects:
        minimum = int(str(obj.styles.get("min-width", "0")).removesuffix("px"))
        assert minimum >= 300, obj
        # Panel would widen the row to all the minimums together: the page would scroll sideways.
        assert obj.min_width is None
    assert row.min_width is None


def test_overview_sections_wrap(monitor):
    page = Overview(monitor=monitor)
    layout = render(page)
    classes, trend = (
        next(card for card in layout.select(pn.Card) if any(o is body for o in card.objects))
        for body in (page.classes_body, page.trend_body)
    )
    assert_wraps(layout, classes, trend)


def test_drift_sections_wrap(monitor):
    page = DriftMonitoring(monitor=monitor)
    layout = render(page)

    def card(body):
        return next(c for c in layout.select(pn.Card) if any(o is body for o in c.objects))

    assert_wraps(layout, card(page.psi_body), card(page.cardinality_body))
    assert_wraps(layout, card(page.prediction_body), card(page.kl_trend_body))


def test_feature_detail_charts_wrap(monitor):
    page = FeatureStatistics(monitor=monitor)
    layout = render(page)
    assert_wraps(layout, page.distribution_body, page.ecdf_body)


def test_production_class_shares_wrap(monitor):
    page = PerformanceMetrics(monitor=monitor)
    layout = render(page)
    chart = next(
        pane
        for pane in layout.select(pn.pane.HoloViews)
        if isinstance(pane.object, hv.Bars) and "class" in pane.object.dimensions("key", True)
    )
    row = next(r for r in layout.select(pn.Row) if any(o is chart for o in r.objects))
    assert_wraps(layout, *row.objects)
    assert len(row.objects) == 2  # the chart and the class-share table


def test_the_donut_stays_round_and_whole():
    figure = donut({"high": 0.45, "low": 0.25, "medium": 0.3})
    # A fixed frame (frame_width/frame_height) is laid out taller than its canvas in the served
    # page, which cut the donut off; a fixed size with a matched aspect keeps it whole and round.
    assert figure.frame_width is None and figure.frame_height is None
    assert (figure.width, figure.height) == (DONUT_WIDTH, DONUT_HEIGHT)
    assert figure.match_aspect
    assert isinstance(figure.x_range, DataRange1d) and isinstance(figure.y_range, DataRange1d)
    assert [type(r).__name__ for r in figure.right] == ["Legend"]  # beside the donut


def feature_history(features: int, checks: int = 6) -> tuple[pd.DataFrame, pd.Series]:
    times = pd.Series(pd.date_range("2026-01-01", periods=checks, freq="D", tz="UTC"))
    history = pd.DataFrame(
        {f"feature_{i}_psi": [0.04 * i * day for day in range(checks)] for i in range(features)}
    )
    history["total_alerts"] = 0
    history["start_time"] = times
    return history, times


def test_feature_psi_legend_is_beside_the_plot_with_every_entry():
    history, times = feature_history(MAX_HISTORY_LINES)
    level = Config().thresholds["psi"]
    figure = hv.render(metric_history_plot(history, times, "Feature PSI", "_psi", level))
    (legend,) = figure.select(type=Legend)
    assert legend in figure.right, "the legend covers the lines and the threshold levels"
    assert len(legend.items) == MAX_HISTORY_LINES
    rows = max(legend.glyph_height, legend.label_height) + legend.spacing
    needed = MAX_HISTORY_LINES * rows + 2 * legend.padding
    # Title and time axis take about 100 px of the plot; the frame beside the legend is the rest.
    assert figure.height - 100 >= needed

    objects = history_view(history, Config())
    panes = [p for p in pn.Column(*objects).select(pn.pane.HoloViews)]
    psi = next(
        p for p in panes if p.object.opts.get().kwargs.get("title") == "Feature PSI per check"
    )
    assert psi.height == figure.height  # the pane leaves the plot its height


def test_alert_history_plots_wrap():
    history, _ = feature_history(3)
    history["prediction_kl_drift"] = 0.01
    history["address_cardinality_ratio"] = 1.1
    layout = pn.Column(*history_view(history, Config()))
    plots = [
        p
        for p in layout.select(pn.pane.HoloViews)
        if "per check" in str(p.object.opts.get().kwargs.get("title"))
    ]
    assert len(plots) == 4  # alerts, feature PSI, prediction KL, cardinality ratio
    # Each chart sits above its caption; the PSI chart (a line and legend entry per feature)
    # has a row of its own, the others share one that wraps.
    charts = [
        column
        for column in layout.select(pn.Column)
        if column.objects and any(column.objects[0] is plot for plot in plots)
    ]
    titles = [c.objects[0].object.opts.get().kwargs.get("title") for c in charts]
    assert titles == [
        "Feature PSI per check",
        "Prediction drift (KL) per check",
        "Cardinality ratio per check",
    ]
    assert any(obj is charts[0] for obj in layout.objects), "PSI: a row of its own"
    assert_wraps(layout, *charts[1:])


def test_a_single_line_has_no_legend_and_the_usual_height():
    history, times = feature_history(1)
    plot = metric_history_plot(history, times, "Feature PSI", "_psi", Config().thresholds["psi"])
    figure = hv.render(plot)
    assert not [legend for legend in figure.select(type=Legend) if legend.items]
    assert figure.height == PLOT_HEIGHT
