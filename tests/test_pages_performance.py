"""The Performance Metrics page: MLflow runs and registry, production predictions and accuracy,
and what it says when MLflow cannot be reached."""

from __future__ import annotations

import html
import threading
import time
from datetime import timedelta

import pandas as pd
import pytest

from app import theme
from app.mlflow_reader import MLflowUnavailable, store_location
from app.pages.base import accuracy_history, data_report, history_over_time
from app.pages.charts import bucket_width
from app.pages.mlflow_cache import MLflowCache
from app.pages.performance import PerformanceMetrics
from tests.conftest import make_world
from tests.mlflow_helpers import restore_mlflow_env  # noqa: F401 - an autouse fixture
from tests.page_helpers import (
    XSS,
    all_rows_on,
    drop_production,
    monitor_on,
    render,
    rows_in_last,
    shown_text,
    window_band,
    xss_world,
)
from tests.page_mlflow import N_RUNS, mlflow_world, run_metrics, unreachable


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return mlflow_world(tmp_path_factory.mktemp("performance"))


@pytest.fixture
def monitor(world):
    return monitor_on(world)


def test_latest_model_metrics_are_the_production_versions(monitor):
    page = PerformanceMetrics(monitor=monitor)
    layout = render(page)
    expected = run_metrics(2)  # version 1, aliased production, came from run 2
    for name in ("accuracy", "macro_f1", "weighted_f1", "roc_auc"):
        card = page.latest_cards[name]
        assert card.value == pytest.approx(expected[name])
        assert card.text == theme.format_metric(expected[name])
    assert "v1 (production) · run train-2" in page.latest_cards["accuracy"].caption
    assert "0.720" in shown_text(layout)


def test_every_training_run_is_in_the_table_and_the_trend(monitor):
    page = PerformanceMetrics(monitor=monitor)
    render(page)
    table = page.runs_body.objects[-1]
    frame = table.value
    assert len(frame) == N_RUNS
    assert list(frame["run_name"]) == [f"train-{i}" for i in reversed(range(N_RUNS))]
    assert frame["accuracy"].tolist() == pytest.approx(
        [run_metrics(i)["accuracy"] for i in reversed(range(N_RUNS))]
    )
    assert "max_depth (param)" in frame.columns

    chart = page.trend_body.objects[0].object
    metrics = set(chart.dframe()["metric"])
    assert {"Accuracy", "Macro F1", "Weighted F1"} <= metrics


def test_registry_versions_and_aliases(monitor):
    page = PerformanceMetrics(monitor=monitor)
    render(page)
    text = shown_text(page.registry_body)
    assert "production <b>v1</b>" in text and "staging <b>v2</b>" in text
    assert "<td>train-4</td>" in text
    assert text.index("<td>v2</td>") < text.index("<td>v1</td>")  # newest version first


def test_production_prediction_statistics_equal_the_report(monitor):
    page = PerformanceMetrics(monitor=monitor)
    layout = render(page)
    report = data_report(monitor)
    drift = report["prediction_drift"]
    cards = page.prediction_cards
    week = rows_in_last(monitor.config, timedelta(days=7), "predictions")
    assert cards["predictions"].value == report["rows"]["predictions"] == week < 5000
    assert cards["kl"].value == drift["kl"]
    assert cards["kl"].text == theme.format_metric(drift["kl"])
    assert cards["js"].value == drift["js"]
    top = max(drift["production"], key=drift["production"].get)
    assert cards["top_class"].text == top
    text = shown_text(layout)
    for cls, share in drift["production"].items():
        assert f"<td>{cls}</td>" in text
        assert theme.format_share(share) in text
    assert page.timeline_stream is not None


def test_production_accuracy_equals_the_monitor(monitor):
    page = PerformanceMetrics(monitor=monitor)
    render(page)
    # The labels cover the oldest 40% of the rows, none of the monitoring window: no cards, and
    # the chart still shows every labelled bucket with the window shaded after them.
    assert monitor.accuracy_over_time()["labelled"] == 0
    assert page.accuracy_cards == {}
    assert "No delayed labels for this time window yet." in shown_text(page.accuracy_body)
    history = accuracy_history(monitor)
    chart = page.accuracy_body.objects[-1].object
    points = chart.get(1).dframe()
    assert len(points) == sum(1 for b in history["buckets"] if b["labelled"]) > 0
    assert sum(points["labelled"]) == history["labelled"] == 2000
    band = window_band(chart)
    assert band == {"left": pd.Timestamp(monitor.start), "right": None}
    assert points["start"].max() < band["left"]

    monitor.all_rows()
    expected = monitor.accuracy_over_time()
    assert expected["labelled"] == 2000
    assert page.accuracy_cards["accuracy"].value == pytest.approx(expected["accuracy"])
    assert page.accuracy_cards["labelled"].value == expected["labelled"]
    assert window_band(page.accuracy_body.objects[-1].object) is None


def test_the_window_changes_the_production_sections(monitor):
    page = PerformanceMetrics(monitor=monitor)
    render(page)
    first, _ = monitor.full_range()
    starts = [b["start"] for b in monitor.drift_over_time()["buckets"]]
    monitor.set_window(first, starts[3])
    report = data_report(monitor)
    assert 0 < page.prediction_cards["predictions"].value == report["rows"]["predictions"] < 5000
    assert page.prediction_cards["kl"].value == report["prediction_drift"]["kl"]


def test_without_labels_accuracy_says_what_is_missing(tmp_path):
    page = PerformanceMetrics(monitor=monitor_on(make_world(tmp_path)))
    text = shown_text(render(page))
    assert "No delayed labels yet." in text
    assert "labels.parquet" in text
    assert page.accuracy_cards == {}


@pytest.mark.parametrize("credentials", ["", "alice:s3cret@"])
def test_mlflow_unreachable_is_said_and_data_sections_still_work(world, credentials):
    config = unreachable(world, credentials)
    monitor = all_rows_on(config)  # where the labels are
    page = PerformanceMetrics(monitor=monitor)
    layout = render(page)
    uri = config.mlflow.tracking_uri.replace(credentials, "***@" if credentials else "")
    for body in (page.latest_body, page.trend_body, page.runs_body, page.registry_body):
        text = shown_text(body)
        assert f"MLflow unreachable at {uri}" in text
    text = shown_text(layout)
    assert "s3cret" not in text
    report = data_report(monitor)
    assert page.prediction_cards["predictions"].value == report["rows"]["predictions"]
    assert page.prediction_cards["kl"].value == report["prediction_drift"]["kl"]
    assert page.accuracy_cards["labelled"].value == monitor.accuracy_over_time()["labelled"]


def test_no_production_data_is_an_explained_empty_state(tmp_path):
    config = make_world(tmp_path)
    drop_production(tmp_path)
    page = PerformanceMetrics(monitor=monitor_on(config))
    text = shown_text(render(page))
    assert "No production data yet." in text
    assert "data/production/inputs.parquet" in text


def test_a_class_named_like_a_script_is_text(tmp_path):
    page = PerformanceMetrics(monitor=monitor_on(xss_world(tmp_path)))
    text = shown_text(render(page))
    assert XSS not in text
    assert html.escape(XSS) in text  # in the class-share table


def test_mlflow_reads_are_shared_by_sessions_and_failures_remembered(world):
    calls = []

    class SlowReader:
        location = store_location(world)

        def training_runs(self):
            calls.append("runs")
            time.sleep(0.3)
            return "the runs"

        def registry(self):
            calls.append("registry")
            raise MLflowUnavailable("MLflow unreachable at http://example: connection refused")

    reader = SlowReader()
    results = []
    sessions = [
        threading.Thread(
            target=lambda: results.append(MLflowCache.get(world, "training_runs", reader))
        )
        for _ in range(8)
    ]
    for session in sessions:
        session.start()
    for session in sessions:
        session.join()
    assert results == ["the runs"] * 8 and calls == ["runs"]

    for _ in range(3):
        with pytest.raises(MLflowUnavailable, match="MLflow unreachable at http://example"):
            MLflowCache.get(world, "registry", reader)
    assert calls == ["runs", "registry"]


def test_a_timeline_selection_sets_the_window(monitor):
    page = PerformanceMetrics(monitor=monitor)
    render(page)
    over_time = history_over_time(monitor)  # the timeline shows every row, whatever the window
    width = bucket_width(over_time["width"])
    starts = [b["start"] for b in over_time["buckets"]]
    page.timeline_stream.event(boundsx=(starts[1] + width / 2, starts[3] + width / 2))
    assert (monitor.start, monitor.end) == (starts[1], starts[3] + width)
    expected = sum(p["rows"] for p in over_time["predictions"][1:4])
    assert page.prediction_cards["predictions"].value == expected
    chart = page.timeline_stream.source
    assert sum(chart.dframe()["count"]) == 5000
    assert window_band(chart) == {"left": starts[1], "right": starts[3] + width}
    monitor.reset_window()
