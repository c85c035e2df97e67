"""The Alerts page: alerts and warnings from the report, recommendations, system status and the
alert history from MLflow (or why there is none)."""

from __future__ import annotations

import html
from dataclasses import replace
from datetime import datetime, timedelta

import pandas as pd
import panel as pn
import pytest

from app import theme
from app.config import Silence
from app.pages.alerts import (
    METRIC_LABELS,
    Alerts,
    alerts_table,
    format_alert_value,
    recommendations_view,
    status_view,
)
from app.pages.base import data_report
from app.report_types import Alert, Status
from tests.mlflow_helpers import fresh_store
from tests.page_helpers import XSS, monitor_on, render, shown_text
from tests.page_mlflow import N_CHECKS, check_metrics, mlflow_world, unreachable
from tests.worlds import make_world, write


@pytest.fixture(scope="module")
def page_world(tmp_path_factory):
    return mlflow_world(tmp_path_factory.mktemp("alerts"), labels=False)


def test_alert_cards_and_tables_equal_the_report(monitor):
    page = Alerts(monitor=monitor)
    layout = render(page)
    report = data_report(monitor)
    alerts = report["alerts"]
    critical = [a for a in alerts if a["severity"] == "critical"]
    warnings = [a for a in alerts if a["severity"] == "warning"]
    assert critical, "the small world has critical drift (new district, address flood)"
    assert page.summary_cards["critical"].value == len(critical)
    assert page.summary_cards["warning"].value == len(warnings)
    assert page.summary_cards["retraining"].value == report["retraining_recommended"]
    assert page.summary_cards["dataset_drift"].value == report["dataset_drift"]["share"]
    text = shown_text(page.alerts_body)
    for alert in alerts:
        assert html.escape(alert["message"]) in text
        assert format_alert_value(alert["metric"], alert["value"]) in text
    # Severity colours are the theme's, the same as the drift charts'.
    assert theme.SEVERITY_COLORS["critical"] in text
    _, critical_label, critical_table, warning_label, warning_table = page.alerts_body.objects
    assert "Active alerts (critical)" in critical_label.object
    assert "Warnings" in warning_label.object
    for alert in critical:
        assert html.escape(alert["message"]) in critical_table.object
    for alert in warnings:
        assert html.escape(alert["message"]) in warning_table.object
    assert text in shown_text(layout)


def test_alert_messages_show_values_as_the_table_does(monitor):
    """A share is a percentage in the message as in the table (not ``0.04297`` beside ``4.3%``)."""
    alerts = data_report(monitor)["alerts"]
    shares = [a for a in alerts if a["metric"] in ("unseen_share", "missing_share_increase")]
    assert shares, "the small world has a new district: an unseen-category alert"
    table = alerts_table(data_report(monitor).alerts).object
    for alert in shares + alerts:
        value = format_alert_value(alert["metric"], alert["value"])
        threshold = format_alert_value(alert["metric"], alert["threshold"])
        assert f" is {value} (" in alert["message"]
        assert f"at or over {threshold})" in alert["message"]
        assert f">{html.escape(value)}</td>" in table
    assert all(format_alert_value(a["metric"], a["value"]).endswith("%") for a in shares)


def test_recommendations_include_retraining_when_recommended(monitor):
    page = Alerts(monitor=monitor)
    render(page)
    report = data_report(monitor)
    assert report["retraining_recommended"]
    text = shown_text(page.advice_body)
    assert "Retraining recommended" in text
    for alert in report["alerts"]:
        assert html.escape(alert["recommendation"]) in text


def test_no_alerts_says_nothing_to_do():
    text = shown_text(recommendations_view([], False))
    assert "Nothing to do" in text and "Retraining" not in text


def test_system_status_lists_every_component(monitor):
    page = Alerts(monitor=monitor)
    render(page)
    status = monitor.report()["status"]
    text = shown_text(page.status_body)
    components = {s["component"] for s in status}
    assert {
        "reference",
        "inputs",
        "predictions",
        "labels",
        "mlflow",
        "last monitor run",
    } <= components
    for entry in status:
        if entry["component"] == "mlflow":  # its message carries the latency of that check
            assert "reachable at sqlite:" in text
        else:
            assert html.escape(entry["message"]) in text
    failed = sum(1 for s in status if not s["ok"])
    assert f'<div class="value">{failed}</div>' in text


def test_alert_history_from_mlflow(monitor):
    page = Alerts(monitor=monitor)
    render(page)
    objects = page.history_body.objects
    assert f"{N_CHECKS} checks logged to &#x27;monitoring&#x27;" in shown_text(page.history_body)
    counts = objects[1].object  # alerts per check, critical and warning stacked
    labels = {str(layer.label) for layer in counts}
    assert labels == {"critical", "warning"}
    history = {str(layer.label): list(layer.dimension_values(1)) for layer in counts}
    critical = [check_metrics(day)["critical_alerts"] for day in range(N_CHECKS)]
    assert history["critical"] == pytest.approx(critical)
    # Key drift metrics with the thresholds as lines: feature PSI on a row of its own (one line
    # per feature, its legend beside them), then the others; each chart above its caption.
    charts = [objects[2], *objects[3].objects]
    titles = [chart.objects[0].object.opts.get().kwargs.get("title") for chart in charts]
    assert titles == [
        "Feature PSI per check",
        "Prediction drift (KL) per check",
        "Cardinality ratio per check",
        "New-value share per check",
    ]
    shares = charts[3].objects[0].object  # the address flood, in percent
    assert list(shares.dimension_values(1)) == pytest.approx(
        [check_metrics(day)["address_new_value_share"] for day in range(N_CHECKS)]
    )
    text = shown_text(page.history_body)
    assert (
        "check-3" in text and theme.format_metric(check_metrics(3)["prediction_kl_drift"]) in text
    )


def test_no_history_is_an_explained_empty_state(tmp_path):
    config = make_world(tmp_path)
    fresh_store(tmp_path / "mlflow.db")  # the config's store: empty, no monitoring experiment
    page = Alerts(monitor=monitor_on(config))
    render(page)
    text = shown_text(page.history_body)
    assert "No alert history yet: no experiment &#x27;monitoring&#x27;" in text
    assert "driftdeck monitor" in text


def test_mlflow_unreachable_history_says_so_and_alerts_still_show(page_world):
    config = unreachable(page_world)
    monitor = monitor_on(config)
    page = Alerts(monitor=monitor)
    render(page)
    history = shown_text(page.history_body)
    assert f"MLflow unreachable at {config.mlflow.tracking_uri}" in history
    status = shown_text(page.status_body)
    assert "MLflow unreachable at" in status and ">failed<" in status
    report = data_report(monitor)
    assert page.summary_cards["critical"].value == sum(
        a["severity"] == "critical" for a in report["alerts"]
    )


def test_an_accuracy_drop_shows_like_the_drift_alerts(tmp_path):
    """Labels for every prediction, half of the last week's wrong: the accuracy of the monitoring
    window is far below the production version's MLflow accuracy, and the alert shows with its
    metric in words on the Alerts page and counts on the Overview."""
    from app.pages.overview import Overview

    config = mlflow_world(tmp_path, labels=False)
    predictions = pd.read_parquet(tmp_path / "data/production/predictions.parquet")
    labels = predictions.rename(columns={"prediction": "target"})
    recent = labels["timestamp"] >= labels["timestamp"].max() - timedelta(days=7)
    wrong = recent & (labels.index % 2 == 0)
    labels.loc[wrong, "target"] = labels.loc[wrong, "target"].map(
        {"low": "high", "medium": "low", "high": "medium"}
    )
    write(tmp_path / "data/production/labels.parquet", labels)

    monitor = monitor_on(config)
    report = data_report(monitor)
    (alert,) = [a for a in report["alerts"] if a["metric"] == "accuracy_drop"]
    assert alert["severity"] == "critical" and alert["feature"] == "accuracy"
    assert report["accuracy"]["realized"] == pytest.approx(0.5, abs=0.01)

    page = Alerts(monitor=monitor)
    render(page)
    _, _, critical_table, _, _ = page.alerts_body.objects
    assert "<td>Accuracy drop</td>" in critical_table.object
    assert format_alert_value("accuracy_drop", alert["value"]) in critical_table.object
    assert html.escape(alert["message"]) in critical_table.object
    assert page.summary_cards["critical"].value == sum(
        a["severity"] == "critical" for a in report["alerts"]
    )

    overview = Overview(monitor=monitor)
    render(overview)
    assert overview.kpis["critical"].value == page.summary_cards["critical"].value
    assert html.escape(alert["message"]) in overview.kpis["critical"].pane.object  # its tooltip


def test_values_from_the_data_are_escaped():
    alert = {
        "severity": "critical",
        "metric": "psi",
        "feature": XSS,
        "value": 0.5,
        "threshold": 0.25,
        "message": f"PSI of '{XSS}' is 0.5",
        "recommendation": f"check {XSS}",
    }
    status = pn.Column(*status_view([Status(component=XSS, ok=False, message=XSS)]))
    for text in (
        alerts_table([Alert.from_dict(alert)]).object,
        recommendations_view([Alert.from_dict(alert)], False).object,
        shown_text(status),
    ):
        assert XSS not in text
        assert html.escape(XSS) in text


def test_silenced_alerts_are_listed_apart_and_not_counted(page_world):
    monitor = monitor_on(page_world)
    loud = data_report(monitor)["alerts"]
    critical = [a for a in loud if a["severity"] == "critical"]
    muted = critical[0]
    until = datetime(2999, 1, 1, 12, 30)
    reason = f"known: {XSS} opened"
    config = replace(
        page_world,
        silences=(
            Silence(metric=muted["metric"], feature=muted["feature"], until=until, reason=reason),
        ),
    )
    monitor = monitor_on(config)
    report = data_report(monitor)
    (silenced,) = report["silenced"]
    assert (silenced["metric"], silenced["feature"]) == (muted["metric"], muted["feature"])

    page = Alerts(monitor=monitor)
    render(page)
    assert page.silenced_card.visible
    text = shown_text(page.silenced_body)
    cells = [
        METRIC_LABELS[muted["metric"]],
        html.escape(muted["feature"]),
        format_alert_value(muted["metric"], muted["value"]),
        format_alert_value(muted["metric"], muted["threshold"]),
        html.escape(reason),
        "2999-01-01 12:30 UTC",
    ]
    numeric = ' class="dd-num"'
    row = "".join(f"<td{numeric if i in (2, 3) else ''}>{c}</td>" for i, c in enumerate(cells))
    assert row in text
    assert XSS not in text
    # Not among the active alerts, nor in their count.
    assert page.summary_cards["critical"].value == len(critical) - 1
    assert html.escape(muted["message"]) not in shown_text(page.alerts_body)
    assert len(report["alerts"]) == len(loud) - 1


def test_without_silences_there_is_no_silenced_section(monitor):
    page = Alerts(monitor=monitor)
    render(page)
    assert data_report(monitor)["silenced"] == []
    assert not page.silenced_card.visible
    assert "No alert is silenced." in shown_text(page.silenced_body)
