"""The Overview page shows the report's numbers, follows the window and sets it from the timeline."""

from __future__ import annotations

import html
from datetime import timedelta

import pytest

from app import theme
from app.engine import Engine
from app.monitor import Monitor
from app.pages.base import data_report
from app.pages.charts import bucket_width
from app.pages.overview import Overview
from tests.conftest import make_world
from tests.page_helpers import XSS, drop_production, monitor_on, render, shown_text, xss_world


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    config = make_world(tmp_path_factory.mktemp("world"))
    return config, Engine(config)


@pytest.fixture
def monitor(world):
    """A fresh Monitor (its own window) on the module's world and engine."""
    config, engine = world
    return Monitor(config, engine=engine)


def test_kpis_equal_the_report(monitor):
    page = Overview(monitor=monitor)
    layout = render(page)
    report = data_report(monitor)

    predictions = page.kpis["predictions"]
    assert predictions.value == report["rows"]["predictions"] == 5000
    assert predictions.text == "5,000"
    assert "5,000" in shown_text(layout)

    alerts = report["alerts"]
    assert page.kpis["critical"].value == sum(a["severity"] == "critical" for a in alerts)
    assert page.kpis["warnings"].value == sum(a["severity"] == "warning" for a in alerts)
    assert page.kpis["dataset_drift"].value == report["dataset_drift"]["share"]
    psis = [f["psi"] for f in report["features"].values() if f["psi"] is not None]
    assert page.kpis["max_psi"].value == max(psis)
    assert page.kpis["max_psi"].text == theme.format_metric(max(psis))
    assert page.kpis["prediction_kl"].value == report["prediction_drift"]["kl"]


def test_accuracy_without_labels_or_mlflow_says_so(monitor):
    page = Overview(monitor=monitor)
    layout = render(page)
    assert page.kpis["accuracy"].value is None
    assert "no labels and no training accuracy" in shown_text(layout)
    assert "No training runs to show." in shown_text(layout)


def test_setting_the_window_changes_the_kpis(monitor):
    page = Overview(monitor=monitor)
    render(page)
    before = page.kpis["predictions"].value
    first, _ = monitor.full_range()
    monitor.set_window(first, first + timedelta(days=7))

    report = data_report(monitor)
    after = page.kpis["predictions"].value
    assert after == report["rows"]["predictions"]
    assert 0 < after < before
    assert "selected window" in page.kpis["predictions"].caption
    assert "first row" not in page.window_text.object

    monitor.reset_window()
    assert page.kpis["predictions"].value == before
    assert page.reset_button.disabled


def test_a_timeline_selection_sets_the_window_to_whole_buckets(monitor):
    page = Overview(monitor=monitor)
    render(page)
    over_time = monitor.drift_over_time()
    width = bucket_width(over_time["width"])
    starts = [b["start"] for b in over_time["buckets"]]

    # Drag from the middle of the third bucket to the middle of the sixth.
    page.timeline_stream.event(boundsx=(starts[2] + width / 2, starts[5] + width / 2))

    assert (monitor.start, monitor.end) == (starts[2], starts[5] + width)
    expected = sum(p["rows"] for p in over_time["predictions"][2:6])
    assert page.kpis["predictions"].value == expected
    assert not page.reset_button.disabled


def test_no_production_data_is_an_explained_empty_state(tmp_path):
    config = make_world(tmp_path)
    drop_production(tmp_path)
    page = Overview(monitor=monitor_on(config))
    text = shown_text(render(page))
    assert "No production data yet." in text
    assert "data/production/inputs.parquet" in text
    assert page.kpis["predictions"].value is None


def test_a_class_named_like_a_script_is_text(tmp_path):
    page = Overview(monitor=monitor_on(xss_world(tmp_path)))
    layout = render(page)
    text = shown_text(layout)
    assert XSS not in text
    # The donut is a Bokeh plot: Bokeh renders legend and tooltips as text.
    donut = page.classes_body.objects[0].object
    assert XSS in donut.renderers[0].data_source.data["cls"]
    assert html.escape(XSS) not in donut.renderers[0].data_source.data["cls"]
