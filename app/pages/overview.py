"""Overview: the headline numbers, predictions over time (select a range to set the window),
the predicted class mix and the model's performance across training runs."""

from __future__ import annotations

from typing import Any, ClassVar

import panel as pn

from app import theme
from app.alerts import format_value
from app.pages import charts, distribution_charts, timelines
from app.pages.base import MonitorPage, data_report, history_over_time
from app.pages.cards import (
    KpiCard,
    data_problems,
    empty_state,
    missing_production,
    note_pane,
    section,
    wrapping_row,
)
from app.pages.training import training_scores
from app.report_types import Alert, Report
from app.window import ALL_ROWS

SEVERITY_ORDER = ("critical", "warning", "ok")


class Overview(MonitorPage):
    """KPI cards, the predictions timeline that sets the time window, class mix, performance trend."""

    title: ClassVar[str] = "Overview"

    def _build(self) -> list[Any]:
        self.kpis: dict[str, KpiCard] = {
            "predictions": KpiCard("Predictions"),
            "critical": KpiCard("Critical alerts"),
            "warnings": KpiCard("Warnings"),
            "dataset_drift": KpiCard("Dataset drift"),
            "max_psi": KpiCard("Max feature PSI"),
            "prediction_kl": KpiCard("Prediction drift (KL)"),
            "accuracy": KpiCard("Model accuracy", width=260),
        }
        self.kpi_row = pn.FlexBox(
            *(card.pane for card in self.kpis.values()), sizing_mode="stretch_width", min_height=110
        )
        span = self.monitor.config.monitoring_window
        default = "every row" if span == ALL_ROWS else f"the last {span}"
        timeline, self.timeline_body = section(
            "Predictions over time",
            note="Rows per time bucket by predicted class over every production row; the shaded "
            "band is the time window."
            + (
                ""
                if self.static
                else " Drag across the chart to set the time window of every page; "
                f"“Reset time window” returns to {default}, “All rows” takes every row."
            ),
            min_height=charts.HEIGHT,
        )
        classes, self.classes_body = section(
            "Predicted classes (production)", min_height=charts.HEIGHT
        )
        trend, self.trend_body = section(
            "Model performance across training runs", min_height=charts.HEIGHT
        )
        # The timeline's Bokeh figure (None until drawn): a drag across it sets the window.
        self.timeline_plot: Any = None
        self._buckets: list[dict] = []
        self._width = charts.bucket_width(None)
        return [
            self.kpi_row,
            timeline,
            wrapping_row(classes, trend),
        ]

    def reload(self) -> None:
        monitor = self.monitor
        report_cards = [card.pane for card in self.kpis.values()]
        self.load(
            "report",
            lambda: data_report(monitor),
            self._draw_report,
            *report_cards,
            self.classes_body,
        )
        self.load(
            "timeline", lambda: history_over_time(monitor), self._draw_timeline, self.timeline_body
        )
        self.load(
            "runs", lambda: training_scores(monitor.config), self._draw_trend, self.trend_body
        )

    # -- KPI cards and class mix ----------------------------------------------------------
    def _draw_report(self, report: Report) -> None:
        thresholds = self.monitor.config.thresholds
        rows = report.rows
        scope = window_scope(self.monitor)
        predictions, inputs = rows.get("predictions"), rows.get("inputs")
        card = self.kpis["predictions"]
        if predictions is not None:
            card.show(
                predictions,
                _count(predictions),
                f"{scope} · {theme.format_count(inputs)} inputs",
                tooltip=theme.format_count(predictions),
            )
        elif inputs is not None:
            card.show(
                inputs,
                _count(inputs),
                f"inputs {scope} (no predictions file)",
                tooltip=theme.format_count(inputs),
            )
        else:
            card.show(None, theme.NO_VALUE, "No production data yet")

        has_data = predictions is not None or inputs is not None
        alerts = report.alerts
        critical = [a for a in alerts if a.severity == "critical"]
        warnings = [a for a in alerts if a.severity == "warning"]
        self.kpis["critical"].show(
            len(critical),
            str(len(critical)),
            "retraining recommended" if report.retraining_recommended else _features(critical),
            "critical" if critical else "ok" if has_data else None,
            tooltip="; ".join(a.message or "" for a in critical),
        )
        self.kpis["warnings"].show(
            len(warnings),
            str(len(warnings)),
            _features(warnings),
            "warning" if warnings else "ok" if has_data else None,
            tooltip="; ".join(a.message or "" for a in warnings),
        )

        drift = report.dataset_drift
        judged, drifted = drift.judged_features or 0, drift.drifted_features or 0
        psi_level = thresholds["psi"]
        self.kpis["dataset_drift"].show(
            drift.share,
            theme.format_share(drift.share),
            f"{drifted} of {judged} features at PSI ≥ {theme.format_metric(psi_level.critical, 2)}"
            if judged
            else "no features to compare",
            drift.severity,
        )

        measured = [f for f in report.features.values() if theme.is_number(f.psi)]
        if measured:
            top = max(measured, key=lambda f: f.psi)
            self.kpis["max_psi"].show(
                top.psi, theme.format_metric(top.psi), f"feature “{top.name}”", top.severity
            )
        else:
            self.kpis["max_psi"].show(None, theme.NO_VALUE, "no feature on both sides")

        prediction = report.prediction_drift
        kl = prediction.kl
        kl_level = thresholds["prediction_kl"]
        self.kpis["prediction_kl"].show(
            kl,
            theme.format_metric(kl),
            f"JS {theme.format_metric(prediction.js)} · warn at {theme.format_metric(kl_level.warning, 2)}"
            if theme.is_number(kl)
            else "no predictions to compare",
            prediction.severity,
        )
        self.kpis["accuracy"].show(**accuracy_now(report, scope))

        if not rows.get("inputs") and not rows.get("predictions"):
            self.classes_body.objects = [missing_production(self.monitor)]
            return
        production = prediction.production
        if not production:
            self.classes_body.objects = [
                empty_state(
                    "No production predictions to show.",
                    f"{data_problems(self.monitor, 'predictions')}"
                    f"Driftdeck reads predictions from {self.monitor.config.predictions} (the column "
                    "named in [columns] prediction); see README.",
                )
            ]
            return
        reference = prediction.reference or {}
        plot = distribution_charts.donut(production, reference)
        self.classes_body.objects = [pn.pane.Bokeh(plot, align="center")]

    # -- timeline ----------------------------------------------------------------------------
    def _draw_timeline(self, over_time: dict) -> None:
        self._buckets = list(over_time.get("buckets") or [])
        self._width = charts.bucket_width(over_time.get("width"))
        plot = timelines.predictions_timeline(
            over_time, self.shaded_window(), selectable=not self.static
        )
        self.timeline_plot = plot
        if plot is None:
            self.timeline_body.objects = [missing_production(self.monitor)]
            return
        if not self.static:
            charts.on_time_range_selected(plot, self._timeline_selected)
        self.timeline_body.objects = [charts.figure_pane(plot)]

    def _timeline_selected(self, start: Any, end: Any) -> None:
        self.select_window(charts.snap_to_buckets(start, end, self._buckets, self._width))

    # -- performance trend -------------------------------------------------------------------
    def _draw_trend(self, scores: Any) -> None:
        chart = timelines.performance_trend(scores.points) if scores.points else None
        if chart is None:
            self.trend_body.objects = [
                empty_state(
                    "No training runs to show.",
                    f"{scores.message.rstrip('.')}. Driftdeck reads training runs from MLflow "
                    f"({self.monitor.config.mlflow.training_experiment!r} experiment at [mlflow] tracking_uri); "
                    "see README, section MLflow.",
                )
            ]
            return
        where = [note_pane(f"MLflow: {scores.note}.")] if scores.note else []
        self.trend_body.objects = [*where, charts.figure_pane(chart)]


def accuracy_now(report: Report, scope: str) -> dict[str, Any]:
    """What the "Model accuracy" card shows (``KpiCard.show`` arguments), from the report alone.

    The estimated accuracy (CBPE) of the window with its 95 % band when the predictions log a
    confidence, else the realized accuracy; then the realized accuracy beside it, the baseline
    and where it comes from, and the drop below it. The colour is the worst active
    ``accuracy_drop`` alert's (docs/metrics.md, "Accuracy now"); when there is none and a drop
    could be measured, ok. Without either accuracy the card says what to log.
    """
    accuracy = report.accuracy
    estimate = report.estimated_performance
    estimated, realized = estimate.get("accuracy"), accuracy.get("realized")
    labelled = accuracy.get("labelled_rows")
    baseline = accuracy.get("baseline")
    details: list[str] = []
    if theme.is_number(estimated):
        value, caption = estimated, f"estimated (CBPE) {scope}"
        if theme.is_number(estimate.get("lower")) and theme.is_number(estimate.get("upper")):
            caption += (
                f", 95 % band {theme.format_share(estimate['lower'])}–"
                f"{theme.format_share(estimate['upper'])}"
            )
        details.append(
            f"realized {theme.format_share(realized)} on {theme.format_count(labelled)} labelled rows"
            if theme.is_number(realized)
            else "realized: no labels in the window yet"
        )
    elif theme.is_number(realized):
        value = realized
        caption = f"realized {scope}, {theme.format_count(labelled)} labelled rows"
        if estimate.get("reason"):
            details.append(f"no estimate: {estimate['reason']}")
    else:
        value, caption = None, f"no labelled predictions {scope} and no estimate"
        if estimate.get("reason"):
            details.append(f"to estimate it without labels: {estimate['reason']}")
    if theme.is_number(baseline):
        details.append(
            f"baseline {theme.format_share(baseline)} ({accuracy.get('baseline_source') or 'source unknown'})"
        )
        drops = [
            (label, accuracy.get(key))
            for label, key in (("estimated", "estimated_drop"), ("realized", "drop"))
            if theme.is_number(accuracy.get(key))
        ]
        if drops:
            details.append(
                ", ".join(
                    f"{label} {format_value('accuracy_drop', abs(drop))} "
                    + ("below" if drop > 0 else "above")
                    + (" the baseline" if i == 0 else "")
                    for i, (label, drop) in enumerate(drops)
                )
            )
    elif accuracy.get("reason"):
        details.append(str(accuracy["reason"]))
    alerts = [a for a in report.alerts if a.metric == "accuracy_drop"]
    severity = report.accuracy_severity()
    for alert in report.silenced:
        if alert.metric == "accuracy_drop":
            until = (alert.silenced or {}).get("until")
            details.append(
                f"{_alert_subject(alert)} alert silenced until {theme.format_timestamp(until)}"
            )
    return {
        "value": value,
        "text": theme.format_share(value),
        "caption": caption,
        "severity": severity,
        "tooltip": "; ".join(a.message or "" for a in alerts),
        "details": details,
    }


def _count(value: Any) -> str:
    return (
        theme.format_count(value)
        if theme.is_number(value) and value < 1e6
        else theme.format_compact(value)
    )


def window_scope(monitor: Any) -> str:
    """Which production rows the numbers are about, in words: "in the last 7d" at the
    monitoring window, "all production rows", else "in the selected window"."""
    if monitor.at_all_rows:
        return "all production rows"
    span = monitor.window.span
    if monitor.at_default and span:
        return f"in the last {span}"
    return "in the selected window"


def _alert_subject(alert: Alert) -> str | None:
    """What an alert is about: its feature, or in words what dropped for an accuracy drop
    (its "feature" names the accuracy: realized, or estimated without labels)."""
    feature = alert.feature
    if alert.metric == "accuracy_drop":
        return f"{str(feature or 'accuracy').replace('_', ' ')} drop"
    return str(feature) if feature else None


def _features(alerts: list[Alert]) -> str:
    names = list(dict.fromkeys(s for s in map(_alert_subject, alerts) if s))
    if not names:
        return "none active"
    shown = ", ".join(names[:3])
    return shown + (f" +{len(names) - 3} more" if len(names) > 3 else "")
