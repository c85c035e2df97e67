"""The Performance Metrics page: MLflow runs and registry, production predictions and accuracy,
and what it says when MLflow cannot be reached."""

from __future__ import annotations

import html
import threading
import time
from datetime import timedelta

import holoviews as hv
import pandas as pd
import pytest
from bokeh.models import BoxAnnotation, Label, Span

from app import theme
from app.mlflow_location import store_location
from app.mlflow_reader import MLflowUnavailable
from app.pages.base import accuracy_history, data_report, history_over_time
from app.pages.charts import MIN_BUCKET_ROWS, bucket_width
from app.pages.mlflow_cache import MLflowCache
from app.pages.performance import PerformanceMetrics, version_traffic_history
from app.pages.timelines import BASELINE_LINE, UNLABELLED_BAND
from tests.page_helpers import (
    XSS,
    all_rows_on,
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
from tests.page_mlflow import N_RUNS, mlflow_world, run_metrics, unreachable
from tests.worlds import make_world


@pytest.fixture(scope="module")
def page_world(tmp_path_factory):
    return mlflow_world(tmp_path_factory.mktemp("performance"))


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
    metrics = set(renderer_frame(chart, "points")["metric"])
    assert {"Accuracy", "Macro F1", "Weighted F1"} <= metrics


def test_registry_versions_and_aliases(monitor):
    page = PerformanceMetrics(monitor=monitor)
    render(page)
    text = shown_text(page.registry_body)
    assert "production <b>v1</b>" in text and "staging <b>v2</b>" in text
    assert ">train-4</td>" in text  # the source run
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
    assert page.timeline_plot is not None


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
def test_mlflow_unreachable_is_said_and_data_sections_still_work(page_world, credentials):
    config = unreachable(page_world, credentials)
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


def test_mlflow_reads_are_shared_by_sessions_and_failures_remembered(page_world):
    calls = []

    class SlowReader:
        location = store_location(page_world)

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
            target=lambda: results.append(MLflowCache.get(page_world, "training_runs", reader))
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
            MLflowCache.get(page_world, "registry", reader)
    assert calls == ["runs", "registry"]


def test_a_timeline_selection_sets_the_window(monitor):
    page = PerformanceMetrics(monitor=monitor)
    render(page)
    over_time = history_over_time(monitor)  # the timeline shows every row, whatever the window
    width = bucket_width(over_time["width"])
    starts = [b["start"] for b in over_time["buckets"]]
    drag_across(page.timeline_plot, starts[1] + width / 2, starts[3] + width / 2)
    assert (monitor.start, monitor.end) == (starts[1], starts[3] + width)
    expected = sum(p["rows"] for p in over_time["predictions"][1:4])
    assert page.prediction_cards["predictions"].value == expected
    chart = page.timeline_plot
    assert sum(renderer_frame(chart, "bars")["count"]) == 5000
    assert window_band(chart) == {"left": starts[1], "right": starts[3] + width}
    monitor.reset_window()


# -- estimated accuracy and model versions ------------------------------------------------------


@pytest.fixture(scope="module")
def versions(tmp_path_factory):
    """Versions "1" and "2" (the challenger: 30 % of the last ten days), a confidence per
    prediction, labels three days late, and MLflow's registry holding versions 1 and 2."""
    return versions_world(tmp_path_factory.mktemp("versions"), world=mlflow_world_without_labels)


def mlflow_world_without_labels(root):
    return mlflow_world(root, labels=False)


def chart_layers(chart) -> dict[str, object]:
    """The layers of the estimated-accuracy chart by their legend label (the hover points and
    the realized points have none: ``points`` and ``realized points``)."""
    layers = {}
    for layer in chart:
        label = str(layer.label) or (
            "points" if layer.vdims[0].name == "estimated" else "realized points"
        )
        layers[label] = layer
    return layers


def test_estimated_vs_realized_accuracy_equals_the_report(versions):
    monitor = monitor_on(versions)
    page = PerformanceMetrics(monitor=monitor)
    layout = render(page)
    report = data_report(monitor)
    estimate, accuracy = report["estimated_performance"], report["accuracy"]
    cards = page.estimated_cards
    assert cards["estimated"].value == estimate["accuracy"]
    assert cards["estimated"].text == theme.format_share(estimate["accuracy"])
    assert cards["estimated"].caption.startswith(
        f"95 % band {theme.format_share(estimate['lower'])}–{theme.format_share(estimate['upper'])}"
    )
    assert cards["realized"].value == accuracy["realized"] == estimate["realized"]
    assert cards["baseline"].value == accuracy["baseline"]
    assert cards["baseline"].caption == accuracy["baseline_source"]
    assert cards["calibration"].value == estimate["calibration_rows"]
    # No accuracy alert in this world: both cards are ok, as the report judged.
    assert not [a for a in report["alerts"] if a["metric"] == "accuracy_drop"]
    assert cards["estimated"].severity == cards["realized"].severity == "ok"

    chart = page.estimated_body.objects[-1].object
    layers = chart_layers(chart)
    buckets = [b for b in estimate["over_time"] if b["rows"] >= MIN_BUCKET_ROWS]
    assert len(buckets) < len(estimate["over_time"])  # the window's first bucket is a sliver
    points = layers["points"].dframe()
    assert list(points["estimated"]) == [b["accuracy"] for b in buckets]
    assert list(points["rows"]) == [b["rows"] for b in buckets]
    band = layers["95 % band"].dframe()
    assert list(band["lower"]) == [max(0.0, b["lower"]) for b in buckets]
    assert list(band["upper"]) == [min(1.0, b["upper"]) for b in buckets]
    labelled = [b for b in buckets if b["realized"] is not None]
    unlabelled = [b for b in buckets if b["realized"] is None]
    assert labelled and unlabelled  # labels arrive three days late
    assert list(layers["realized (labels)"].dframe()["realized"]) == [
        b["realized"] for b in labelled
    ]
    # The estimate is solid where labels exist and dashed after them, over a marked band.
    solid = layers["estimated (CBPE)"].dframe()
    dashed = layers["estimated, no labels yet"].dframe()
    assert len(solid) == len(labelled) and len(dashed) == len(unlabelled) + 1
    assert layers["estimated, no labels yet"].opts.get().kwargs["line_dash"] == "dashed"
    plot = hv.render(chart)
    (marked,) = plot.select({"type": BoxAnnotation, "name": UNLABELLED_BAND})
    assert pd.Timestamp(marked.left) == pd.Timestamp(unlabelled[0]["start"])
    assert pd.Timestamp(marked.right) == pd.Timestamp(unlabelled[-1]["end"])
    (note,) = plot.select({"type": Label, "name": UNLABELLED_BAND})
    assert note.text == "no labels yet: estimated"
    (baseline,) = plot.select({"type": Span, "name": BASELINE_LINE})
    assert baseline.location == accuracy["baseline"]
    assert baseline.line_dash == [6]  # Bokeh's "dashed"
    assert theme.format_share(estimate["accuracy"]) in shown_text(layout)


def test_without_confidences_the_estimate_says_what_to_log(tmp_path):
    monitor = monitor_on(versions_world(tmp_path, confidence=False))
    page = PerformanceMetrics(monitor=monitor)
    render(page)
    report = data_report(monitor)
    reason = report["estimated_performance"]["reason"]
    assert "probability" in reason
    text = shown_text(page.estimated_body)
    assert "No estimated accuracy for this time window." in text
    assert html.escape(reason[:1].upper() + reason[1:]) in text
    assert page.estimated_cards == {}
    # The rest of the page is unchanged: predictions, accuracy and the versions still show.
    assert page.prediction_cards["predictions"].value == report["rows"]["predictions"]
    assert page.versions_card.visible
    assert report["versions"]["2"]["estimated_accuracy"] is None
    assert f"<td>{report['ab_tests'][0]['verdict']}</td>" in shown_text(page.versions_body)


def test_model_versions_equal_the_report_beside_the_registry(versions):
    monitor = monitor_on(versions)
    page = PerformanceMetrics(monitor=monitor)
    render(page)
    report = data_report(monitor)
    assert page.versions_card.visible
    text = shown_text(page.versions_body)
    for name, entry in report["versions"].items():
        row = text[text.index(f">version {name}</span>") :].split("</tr>")[0]
        cells = [
            theme.format_count(entry["rows"]),
            theme.format_share(entry["share"]),
            theme.format_share(entry["accuracy"]),
            theme.format_count(entry["labelled"]),
            theme.format_share(entry["estimated_accuracy"]),
            theme.format_metric(entry["prediction_kl"]),
        ]
        assert "".join(f'<td class="dd-num">{c}</td>' for c in cells) in row
        # The registry's aliases and logged metrics for that version number: version 1 was
        # registered from run 2 and has the production alias, version 2 from run 4, staging.
        alias, run = {"1": ("production", 2), "2": ("staging", 4)}[name]
        metrics = run_metrics(run)
        assert f"<td>{alias}</td><td>{theme.format_metric(metrics['accuracy'])}</td>" in row
        # Every input's PSI against the other version's inputs, greyed when not significant.
        for feature, psi in entry["input_psi"].items():
            flag = f"{feature} <b>{theme.format_metric(psi['psi'])}</b>"
            assert flag in row
            greyed = "dd-flag dd-insignificant" in row.split(flag)[0].rsplit("<span", 1)[1]
            assert greyed == (not psi["significant"])
    (test,) = report["ab_tests"]
    assert test["verdict"].startswith("version 2 is more accurate than version 1 by")
    assert f"<td>{test['verdict']}</td>" in text
    assert f'<td class="dd-num">{test["pvalue"]:.2g}</td>' in text
    assert f"{test['lower'] * 100:.1f} to {test['upper'] * 100:.1f} points" in text


def test_the_traffic_chart_shows_every_row_and_sets_the_window(versions):
    monitor = monitor_on(versions)
    page = PerformanceMetrics(monitor=monitor)
    render(page)
    history = version_traffic_history(monitor)
    chart = page.traffic_plot
    frame = renderer_frame(chart, "bars")
    # Each version's rows per bucket of every production row, stacked to its share.
    for bucket in history["buckets"]:
        shown = frame[frame["x0"] == pd.Timestamp(bucket["start"])]
        counts = dict(zip(shown["class"], shown["count"], strict=True))
        served = {name: rows for name, rows in counts.items() if rows}
        assert served == {f"version {k}": v for k, v in bucket["rows"].items()}
        assert shown["y1"].max() == pytest.approx(1.0)
    assert sum(frame["count"]) == 5000
    assert window_band(chart) == {"left": pd.Timestamp(monitor.start), "right": None}
    # The window's share of each version is the report's.
    report = data_report(monitor)
    assert {k: v["rows"] for k, v in report["versions"].items()} == {
        k: sum(b["rows"].get(k, 0) for b in report["version_traffic"]["buckets"])
        for k in report["versions"]
    }

    width = bucket_width(history["width"])
    starts = [b["start"] for b in history["buckets"]]
    drag_across(page.traffic_plot, starts[-8] + width / 2, starts[-3] + width / 2)
    assert (monitor.start, monitor.end) == (starts[-8], starts[-3] + width)
    assert window_band(page.traffic_plot) == {
        "left": pd.Timestamp(starts[-8]),
        "right": pd.Timestamp(starts[-3] + width),
    }
    expected = data_report(monitor)["versions"]
    assert sum(v["rows"] for v in expected.values()) == sum(
        sum(b["rows"].values()) for b in history["buckets"][-8:-2]
    )
    assert f'<td class="dd-num">{theme.format_count(expected["2"]["rows"])}</td>' in shown_text(
        page.versions_body
    )


def test_without_versions_the_section_is_absent(tmp_path):
    monitor = monitor_on(versions_world(tmp_path, versions=False))
    page = PerformanceMetrics(monitor=monitor)
    render(page)
    report = data_report(monitor)
    assert report["versions"] == {} and report["ab_tests"] == []
    assert not page.versions_card.visible
    assert page.traffic_plot is None
    assert "The predictions name no model version." in shown_text(page.versions_body)
    # Everything else draws as before, the estimate included.
    assert page.estimated_cards["estimated"].value == report["estimated_performance"]["accuracy"]
    assert page.prediction_cards["kl"].value == report["prediction_drift"]["kl"]


def test_one_version_has_nothing_to_compare(tmp_path):
    monitor = monitor_on(versions_world(tmp_path, share_b=0.0))
    page = PerformanceMetrics(monitor=monitor)
    render(page)
    assert list(data_report(monitor)["versions"]) == ["1"]
    text = shown_text(page.versions_body)
    assert "One version served the time window: nothing to compare." in text
    assert page.versions_card.visible and page.traffic_plot is not None


def test_a_version_named_like_a_script_is_text(tmp_path):
    monitor = monitor_on(versions_world(tmp_path, challenger=XSS))
    page = PerformanceMetrics(monitor=monitor)
    render(page)
    report = data_report(monitor)
    (test,) = report["ab_tests"]
    assert XSS in test["verdict"]
    text = shown_text(page.versions_body)
    assert XSS not in text
    assert html.escape(test["verdict"]) in text
    assert html.escape(XSS) in text
    # Bokeh draws the legend as text.
    assert XSS in set(renderer_frame(page.traffic_plot, "bars")["class"])
