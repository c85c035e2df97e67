"""The Overview page shows the report's numbers, follows the window and sets it from the timeline."""

from __future__ import annotations

import dataclasses
import html
from datetime import timedelta

import pandas as pd
import pytest

from app import theme
from app.alerts import format_value
from app.pages.base import data_report, history_over_time
from app.pages.charts import bucket_width
from app.pages.overview import Overview
from app.report_types import Alert
from app.window import Window
from tests.page_helpers import (
    XSS,
    drag_across,
    drop_production,
    monitor_on,
    render,
    renderer_frame,
    rows_in_last,
    shown_text,
    versions_world,
    window_band,
    xss_world,
)
from tests.worlds import make_world

LAST_WEEK = timedelta(days=7)


def test_kpis_equal_the_report(monitor):
    page = Overview(monitor=monitor)
    layout = render(page)
    report = data_report(monitor)

    predictions = page.kpis["predictions"]
    # The page opens on the monitoring window: the 7 days up to the newest row.
    week = rows_in_last(monitor.config, LAST_WEEK, "predictions")
    assert predictions.value == report["rows"]["predictions"] == week < 5000
    assert predictions.text == f"{week:,}"
    assert f"{week:,}" in shown_text(layout)
    assert predictions.caption.startswith("in the last 7d")

    alerts = report["alerts"]
    assert page.kpis["critical"].value == sum(a["severity"] == "critical" for a in alerts)
    assert page.kpis["warnings"].value == sum(a["severity"] == "warning" for a in alerts)
    assert page.kpis["dataset_drift"].value == report["dataset_drift"]["share"]
    psis = [f["psi"] for f in report["features"].values() if f["psi"] is not None]
    assert page.kpis["max_psi"].value == max(psis)
    assert page.kpis["max_psi"].text == theme.format_metric(max(psis))
    assert page.kpis["prediction_kl"].value == report["prediction_drift"]["kl"]


def test_accuracy_without_labels_or_confidence_says_what_to_log(monitor):
    page = Overview(monitor=monitor)
    layout = render(page)
    report = data_report(monitor)
    card = page.kpis["accuracy"]
    assert report["accuracy"]["realized"] is None
    assert report["estimated_performance"]["accuracy"] is None
    assert card.value is None and card.text == theme.NO_VALUE
    assert card.caption == "no labelled predictions in the last 7d and no estimate"
    reason = report["estimated_performance"]["reason"]
    assert "probability" in reason  # the report names the column to log
    assert f"to estimate it without labels: {reason}" in card.details
    assert html.escape(f"to estimate it without labels: {reason}") in shown_text(layout)
    assert card.severity is None
    assert "No training runs to show." in shown_text(layout)


@pytest.fixture(scope="module")
def versions(tmp_path_factory):
    """The small world with a confidence per prediction and labels three days late."""
    return versions_world(tmp_path_factory.mktemp("versions"))


def test_accuracy_is_the_estimate_beside_the_realized_accuracy_and_the_baseline(versions):
    monitor = monitor_on(versions)
    page = Overview(monitor=monitor)
    layout = render(page)
    report = data_report(monitor)
    estimate, accuracy = report["estimated_performance"], report["accuracy"]
    card = page.kpis["accuracy"]
    assert card.value == estimate["accuracy"]
    assert card.text == theme.format_share(estimate["accuracy"])
    assert card.caption == (
        "estimated (CBPE) in the last 7d, 95 % band "
        f"{theme.format_share(estimate['lower'])}–{theme.format_share(estimate['upper'])}"
    )
    realized, baseline = accuracy["realized"], accuracy["baseline"]
    assert 0 < accuracy["labelled_rows"] < report["rows"]["predictions"]  # labels come late
    assert card.details[0] == (
        f"realized {theme.format_share(realized)} on "
        f"{theme.format_count(accuracy['labelled_rows'])} labelled rows"
    )
    assert card.details[1] == (
        f"baseline {theme.format_share(baseline)} ({accuracy['baseline_source']})"
    )
    assert "labelled production rows before the window" in accuracy["baseline_source"]
    # Both accuracies are above the baseline in this world: said as such, and no alert.
    assert accuracy["drop"] < 0 and accuracy["estimated_drop"] < 0
    assert card.details[2] == (
        f"estimated {format_value('accuracy_drop', -accuracy['estimated_drop'])} above the "
        f"baseline, realized {format_value('accuracy_drop', -accuracy['drop'])} above"
    )
    assert not [a for a in report["alerts"] if a["metric"] == "accuracy_drop"]
    assert card.severity == "ok"
    text = shown_text(layout)
    assert html.escape(card.caption) in text
    for line in card.details:
        assert html.escape(line) in text


def test_accuracy_colour_is_the_reports_accuracy_alert(versions, monkeypatch):
    """The card takes its severity from the report's accuracy-drop alerts, whatever the numbers
    say, and names a silenced one."""
    from app.pages import overview

    monitor = monitor_on(versions)
    report = data_report(monitor)
    drop = {
        "severity": "critical",
        "metric": "accuracy_drop",
        "feature": "estimated_accuracy",
        "value": 0.12,
        "threshold": 0.10,
        "message": "estimated accuracy: 60.0%, 12.0 points below the baseline 72.0%",
    }
    silenced = {**drop, "feature": "accuracy", "silenced": {"until": "2031-05-01T12:00:00"}}
    changed = dataclasses.replace(
        report,
        alerts=[Alert.from_dict(drop), *report.alerts],
        silenced=[Alert.from_dict(silenced)],
    )
    monkeypatch.setattr(overview, "data_report", lambda _monitor: changed)
    page = Overview(monitor=monitor)
    render(page)
    card = page.kpis["accuracy"]
    assert card.severity == "critical"
    assert (
        card.value == report["estimated_performance"]["accuracy"]
    )  # the numbers stay the report's
    assert html.escape(drop["message"]) in card.pane.object  # its tooltip
    assert card.details[-1] == "accuracy drop alert silenced until 2031-05-01 12:00"


def test_accuracy_without_confidence_is_the_realized_accuracy(tmp_path):
    monitor = monitor_on(versions_world(tmp_path, confidence=False))
    page = Overview(monitor=monitor)
    render(page)
    report = data_report(monitor)
    card = page.kpis["accuracy"]
    assert card.value == report["accuracy"]["realized"] is not None
    assert card.text == theme.format_share(report["accuracy"]["realized"])
    assert card.caption == (
        f"realized in the last 7d, {theme.format_count(report['accuracy']['labelled_rows'])} "
        "labelled rows"
    )
    assert card.details[0] == f"no estimate: {report['estimated_performance']['reason']}"


def test_setting_the_window_changes_the_kpis(monitor):
    page = Overview(monitor=monitor)
    render(page)
    before = page.kpis["predictions"].value
    first, _ = monitor.full_range()
    monitor.set_window(first, first + timedelta(days=3))

    report = data_report(monitor)
    after = page.kpis["predictions"].value
    assert after == report["rows"]["predictions"]
    assert 0 < after < before
    assert "selected window" in page.kpis["predictions"].caption
    assert "first row" not in page.window_text.object

    monitor.reset_window()
    assert page.kpis["predictions"].value == before
    assert page.reset_button.disabled


def test_header_buttons_widen_to_all_rows_and_reset_to_the_monitoring_window(monitor):
    page = Overview(monitor=monitor)
    render(page)
    default = (monitor.start, monitor.end)
    week = page.kpis["predictions"].value
    assert "Last 7d" in page.window_text.object
    assert page.reset_button.disabled and not page.all_rows_button.disabled

    page.all_rows_button.clicks += 1
    assert (monitor.start, monitor.end) == (None, None)
    assert page.kpis["predictions"].value == 5000 > week
    assert page.kpis["predictions"].caption.startswith("all production rows")
    assert "All production rows" in page.window_text.object
    assert page.all_rows_button.disabled and not page.reset_button.disabled

    page.reset_button.clicks += 1
    assert (monitor.start, monitor.end) == default
    assert page.kpis["predictions"].value == week
    assert page.kpis["predictions"].caption.startswith("in the last 7d")
    assert page.reset_button.disabled and not page.all_rows_button.disabled


def test_the_timeline_shows_every_row_with_the_window_shaded(monitor):
    page = Overview(monitor=monitor)
    render(page)
    history = monitor.engine.drift_over_time(Window())
    assert monitor.window != Window()  # the monitoring window, narrower than the history

    chart = page.timeline_body.objects[0].object
    shown = sorted(set(renderer_frame(chart, "bars")["x0"]))
    assert shown == sorted({pd.Timestamp(p["start"]) for p in history["predictions"]})
    assert sum(renderer_frame(chart, "bars")["count"]) == 5000
    assert shown[0] < pd.Timestamp(monitor.start)
    assert window_band(chart) == {"left": pd.Timestamp(monitor.start), "right": None}

    # A chosen window is shaded on the same history; every row is not shaded at all.
    first, _ = monitor.full_range()
    monitor.set_window(first + timedelta(days=2), first + timedelta(days=5))
    chart = page.timeline_body.objects[0].object
    assert sorted(set(renderer_frame(chart, "bars")["x0"])) == shown
    assert window_band(chart) == {
        "left": pd.Timestamp(first + timedelta(days=2)),
        "right": pd.Timestamp(first + timedelta(days=5)),
    }
    monitor.all_rows()
    assert window_band(page.timeline_body.objects[0].object) is None


def test_a_timeline_selection_sets_the_window_to_whole_buckets(monitor):
    page = Overview(monitor=monitor)
    render(page)
    over_time = history_over_time(monitor)
    width = bucket_width(over_time["width"])
    starts = [b["start"] for b in over_time["buckets"]]

    # Drag from the middle of the third bucket to the middle of the sixth.
    drag_across(page.timeline_plot, starts[2] + width / 2, starts[5] + width / 2)

    assert (monitor.start, monitor.end) == (starts[2], starts[5] + width)
    expected = sum(p["rows"] for p in over_time["predictions"][2:6])
    assert page.kpis["predictions"].value == expected
    assert not page.reset_button.disabled
    # The timeline still shows every row, the selection shaded on it.
    chart = page.timeline_body.objects[0].object
    assert sum(renderer_frame(chart, "bars")["count"]) == 5000
    assert window_band(chart) == {"left": starts[2], "right": starts[5] + width}


def test_accuracy_drop_alerts_are_counted_and_named(monitor, monkeypatch):
    """An accuracy drop (no feature behind it) counts like the drift alerts, named in words."""
    from app.pages import overview

    drops = [
        {
            "severity": "warning",
            "metric": "accuracy_drop",
            "feature": feature,
            "value": 0.07,
            "threshold": 0.05,
            "message": f"{feature}: 73.0%, its drop below the baseline 80.0%",
        }
        for feature in ("accuracy", "estimated_accuracy")
    ]
    report = data_report(monitor)
    warnings = [a for a in report["alerts"] if a["severity"] == "warning"]
    changed = dataclasses.replace(report, alerts=[*map(Alert.from_dict, drops), *report.alerts])
    monkeypatch.setattr(overview, "data_report", lambda _monitor: changed)
    page = Overview(monitor=monitor)
    render(page)
    card = page.kpis["warnings"]
    assert card.value == len(warnings) + 2
    assert card.caption.startswith("accuracy drop, estimated accuracy drop")


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
