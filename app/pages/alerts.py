"""Alerts: active alerts and warnings, the alerts silenced by ``[[silences]]`` (listed apart,
counted nowhere), recommendations, system status, and the alert history the monitor job logged
to MLflow."""

from __future__ import annotations

from typing import Any, ClassVar

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401 - the Bokeh backend draws every plot
import pandas as pd
import panel as pn
from bokeh.models import NumeralTickFormatter

from app import theme
from app.alerts import CRITICAL, WARNING, format_value, recommendation, summarize_alerts
from app.mlflow_reader import MLflowUnavailable
from app.numbers import finite_number
from app.pages import blocks, charts
from app.pages.base import MonitorPage, data_report
from app.pages.cards import KpiCard, empty_state, note_pane, section, wrapping_row
from app.pages.mlflow_cache import MLflowCache, unavailable_note
from app.report_types import Alert, DatasetDrift, Status

METRIC_LABELS = {
    "accuracy_drop": "Accuracy drop",
    "psi": "PSI",
    "cardinality_ratio": "Cardinality ratio",
    "prediction_kl": "Prediction drift (KL)",
    "missing_share_increase": "Missing-share increase",
    "unseen_share": "Unseen-category share",
    "ks": "KS statistic",
}
COMPONENT_TITLES = {
    "reference": "Reference data",
    "inputs": "Production inputs",
    "predictions": "Predictions",
    "labels": "Delayed labels",
    "mlflow": "MLflow",
    "last monitor run": "Last monitor run",
    "accuracy": "Accuracy check",
}
# History plots: (value label, metric suffix or exact name, threshold key in [thresholds], what
# one point and the dashed lines mean). The PSI plot, one line per feature, gets a row of its own.
HISTORY_PLOTS = (
    (
        "Feature PSI",
        "_psi",
        "psi",
        "PSI of each feature in each check's window (the features highest now). Dashed: the "
        "warning ({warning}) and critical ({critical}) PSI levels each check was judged by.",
    ),
    (
        "Prediction drift (KL)",
        "prediction_kl_drift",
        "prediction_kl",
        "KL of each check's predicted classes against the reference. Dashed: the warning "
        "({warning}) and critical ({critical}) levels each check was judged by.",
    ),
    (
        "Cardinality ratio",
        "_cardinality_ratio",
        "cardinality_ratio",
        "Distinct values in each check's window ÷ distinct values in the whole reference. Dashed: "
        "the warning ({warning}) and critical ({critical}) levels each check was judged by, the "
        "same levels the time window of this page is judged by. A short window holds fewer "
        "distinct values than the whole reference, so its ratio stays low even while new values "
        "flood in: the new-value share shows that.",
    ),
    (
        "New-value share",
        "_new_value_share",
        None,
        "Share of each check's rows whose value never occurs in the reference. No dashed line: "
        "new values of a high-cardinality feature (a new address) are expected, so this share "
        "has no alert level; a steady rise shows a flood of new values.",
    ),
)
MAX_HISTORY_LINES = 8
PLOT_HEIGHT = 260
LEGEND_ROW = 20
"""Height of one legend entry, in pixels: a plot with a legend is at least this tall per line."""
LEGEND_OPTS = {
    "glyph_height": 16,
    "label_height": 16,
    "spacing": 2,
    "padding": 6,
    "label_text_font_size": "9pt",
}
PLOT_OPTS = {
    "responsive": True,
    "height": PLOT_HEIGHT,
    "default_tools": [],
    "tools": ["hover", "save", "reset"],
    "show_grid": True,
}


class Alerts(MonitorPage):
    """What needs attention now, whether every component works, and how alerts evolved."""

    title: ClassVar[str] = "Alerts"

    def _build(self) -> list[Any]:
        alerts, self.alerts_body = section(
            "Active alerts and warnings",
            note="Every drift metric of the time window, and its accuracy's drop below the "
            "baseline, against the [thresholds] of driftdeck.toml: critical at or over the "
            "critical level, warning at or over the warning level.",
            min_height=200,
        )
        self.silenced_card, self.silenced_body = section(
            "Silenced",
            note="Alerts muted by the [[silences]] of driftdeck.toml until the time each names: "
            "not counted above, in no exit code and no webhook.",
            visible=False,
        )
        advice, self.advice_body = section("Recommendations")
        status, self.status_body = section(
            "System status",
            note="Each data file, MLflow and the last monitor run: reachable, readable and fresh.",
        )
        history, self.history_body = section(
            "Alert history",
            note="One point per `driftdeck monitor` run logged to MLflow. Dashed lines: the "
            "warning and critical levels of [thresholds] each check was judged by, on the charts "
            "of metrics that alert; under each chart, what its lines mean.",
            min_height=charts.HEIGHT,
        )
        self.summary_cards: dict[str, KpiCard] = {}
        return [alerts, self.silenced_card, advice, status, history]

    def reload(self) -> None:
        self.load(
            "alerts",
            self._read_alerts,
            self._draw_alerts,
            self.alerts_body,
            self.silenced_body,
            self.advice_body,
        )
        self.load("status", self._read_status, self._draw_status, self.status_body)
        self.load("history", self._read_history, self._draw_history, self.history_body)

    # -- alerts ---------------------------------------------------------------------------
    def _read_alerts(self) -> dict:
        report = data_report(self.monitor)
        return {
            "alerts": list(report.alerts),
            "silenced": list(report.silenced),
            "retraining": report.retraining_recommended,
            "dataset_drift": report.dataset_drift,
        }

    def _draw_alerts(self, result: dict) -> None:
        alerts, retraining = result["alerts"], result["retraining"]
        self.summary_cards, self.alerts_body.objects = alerts_view(
            alerts, retraining, result["dataset_drift"]
        )
        self.advice_body.objects = [recommendations_view(alerts, retraining)]
        silenced = result["silenced"]
        # Without silenced alerts the section stays hidden; its body says so all the same.
        self.silenced_body.objects = [
            silenced_table(silenced)
            if silenced
            else blocks.note("No alert is silenced.", kind="ok")
        ]
        self.silenced_card.visible = bool(silenced)

    # -- status ---------------------------------------------------------------------------
    def _read_status(self) -> list[Status]:
        return list(self.monitor.report().status)

    def _draw_status(self, status: list[Status]) -> None:
        self.status_body.objects = status_view(status)

    # -- history --------------------------------------------------------------------------
    def _read_history(self) -> Any:
        try:
            return MLflowCache.get(self.monitor.config, "monitoring_history")
        except MLflowUnavailable as exc:
            return exc

    def _draw_history(self, history: Any) -> None:
        if isinstance(history, MLflowUnavailable):
            self.history_body.objects = [unavailable_note(history, self.monitor.config)]
        else:
            self.history_body.objects = history_view(history, self.monitor.config)


# -- alerts ---------------------------------------------------------------------------------


def format_alert_value(metric: str, value: Any) -> str:
    """A value or threshold in the alert tables, formatted as in the alert's message."""
    return format_value(metric, value)


def alerts_view(
    alerts: list[Alert], retraining: bool, dataset_drift: DatasetDrift
) -> tuple[dict[str, KpiCard], list]:
    """Summary cards, then the critical alerts and the warnings as tables."""
    summary = summarize_alerts(alerts)
    critical = [a for a in alerts if a.severity == CRITICAL]
    warnings = [a for a in alerts if a.severity == WARNING]
    share = dataset_drift.share
    judged = dataset_drift.judged_features
    cards = {
        "critical": blocks.kpi(
            "Active alerts",
            summary["critical"],
            theme.format_count(summary["critical"]),
            "critical",
            CRITICAL if critical else "ok",
        ),
        "warning": blocks.kpi(
            "Warnings",
            summary["warning"],
            theme.format_count(summary["warning"]),
            "at or over a warning level",
            WARNING if warnings else "ok",
        ),
        "retraining": blocks.kpi(
            "Retraining",
            retraining,
            "Recommended" if retraining else "Not needed",
            "two or more critical drift alerts"
            if retraining
            else "fewer than two critical drift alerts",
            CRITICAL if retraining else "ok",
        ),
        "dataset_drift": blocks.kpi(
            "Drifted features",
            share,
            theme.format_share(share),
            f"{theme.format_count(dataset_drift.drifted_features)} of "
            f"{theme.format_count(judged)} at or over the critical PSI",
            dataset_drift.severity,
        ),
    }
    objects: list = [blocks.kpi_row(cards.values())]
    objects.append(blocks.subheading("Active alerts (critical)"))
    objects.append(
        alerts_table(critical)
        if critical
        else blocks.note("No critical alerts", "No metric is at or over its critical level.", "ok")
    )
    objects.append(blocks.subheading("Warnings"))
    objects.append(
        alerts_table(warnings)
        if warnings
        else blocks.note("No warnings", "No metric is at or over its warning level.", "ok")
    )
    return cards, objects


def alerts_table(alerts: list[Alert]) -> pn.pane.HTML:
    """One row per alert, coloured by severity like the drift charts."""
    rows, colors = [], []
    for a in alerts:
        severity = str(a.severity)
        color = theme.severity_color(severity)
        metric = str(a.metric)
        rows.append(
            [
                blocks.pill(severity, color),
                METRIC_LABELS.get(metric, metric),
                a.feature,
                format_alert_value(metric, a.value),
                format_alert_value(metric, a.threshold),
                a.message,
            ]
        )
        colors.append(color)
    markup = blocks.table(
        ["Severity", "Metric", "Feature", "Value", "Threshold", "Message"],
        rows,
        numeric=[3, 4],
        colors=colors,
        raw=[0],
    )
    return blocks.html_pane(markup)


def silenced_table(alerts: list[Alert]) -> pn.pane.HTML:
    """One row per silenced alert: what it is about, its value, and the silence's reason and end."""
    rows = []
    for a in alerts:
        metric = str(a.metric)
        silence = a.silenced or {}
        until = silence.get("until")
        rows.append(
            [
                blocks.pill(str(a.severity), theme.MISSING_COLOR),
                METRIC_LABELS.get(metric, metric),
                a.feature,
                format_alert_value(metric, a.value),
                format_alert_value(metric, a.threshold),
                silence.get("reason") or theme.NO_VALUE,
                f"{theme.format_timestamp(until)} UTC" if until else theme.NO_VALUE,
            ]
        )
    markup = blocks.table(
        ["Severity", "Metric", "Feature", "Value", "Threshold", "Reason", "Until"],
        rows,
        numeric=[3, 4],
        colors=[theme.MISSING_COLOR] * len(rows),
        raw=[0],
    )
    return blocks.html_pane(markup)


def recommendations_view(alerts: list[Alert], retraining: bool) -> pn.pane.HTML:
    """The overall advice (retraining first), then each distinct per-alert recommendation."""
    overall = recommendation(alerts)
    if retraining:
        kind = "critical"
        title = "Retraining recommended"
        body = overall
    elif any(a.severity == CRITICAL for a in alerts):
        kind, title, body = "critical", "Investigate the critical alerts", overall
    elif alerts:
        kind, title, body = "warning", "Keep watching", overall
    else:
        kind, title, body = "ok", "Nothing to do", overall
    markup = blocks.note_markup(title, body, kind)
    advice = list(dict.fromkeys(str(a.recommendation) for a in alerts if a.recommendation))
    if advice:
        markup += blocks.bullet_list(advice)
    return blocks.html_pane(markup)


# -- status ---------------------------------------------------------------------------------


def status_view(status: list[Status]) -> list:
    """Every component with ok or failed, its message, and its numbers where it has them."""
    if not status:
        return [empty_state("No status entries.", "The report returned no system status.")]
    rows, colors = [], []
    for entry in status:
        ok = bool(entry.ok)
        color = theme.severity_color("ok" if ok else CRITICAL)
        component = str(entry.component)
        rows.append(
            [
                blocks.pill("ok" if ok else "failed", color),
                COMPONENT_TITLES.get(component, component),
                entry.message or "",
                _status_details(entry.details),
            ]
        )
        colors.append(color)
    failed = sum(1 for e in status if not e.ok)
    cards = [
        blocks.kpi(
            "Components ok",
            len(status) - failed,
            theme.format_count(len(status) - failed),
            "",
            "ok",
        ),
        blocks.kpi(
            "Components failed",
            failed,
            theme.format_count(failed),
            "see the messages below" if failed else "every check passed",
            CRITICAL if failed else "ok",
        ),
    ]
    markup = blocks.table(
        ["Status", "Component", "Message", "Details"], rows, colors=colors, raw=[0]
    )
    return [blocks.kpi_row(cards), blocks.html_pane(markup)]


def _status_details(entry: dict) -> str:
    """A status check's numbers (``Status.details``) in words."""
    parts = []
    if theme.is_number(entry.get("rows")):
        parts.append(f"{theme.format_count(entry['rows'])} rows")
    if entry.get("newest"):
        parts.append(f"newest {theme.format_timestamp(entry['newest'])}")
    if theme.is_number(entry.get("age_seconds")):
        parts.append(f"age {theme.format_duration(max(entry['age_seconds'], 0.0))}")
    if theme.is_number(entry.get("latency_seconds")):
        parts.append(f"latency {theme.format_duration(entry['latency_seconds'])}")
    if entry.get("time"):
        parts.append(f"at {theme.format_timestamp(entry['time'])}")
    return " · ".join(parts)


# -- history --------------------------------------------------------------------------------


def history_view(history: pd.DataFrame, config: Any) -> list:
    """Alert counts and key drift metrics of every logged monitor run, with threshold lines."""
    experiment = config.mlflow.monitoring_experiment
    if history is None or len(history) == 0 or "total_alerts" not in history.columns:
        reason = (
            getattr(history, "attrs", {}).get("message") or f"no runs in experiment '{experiment}'"
        )
        return [
            empty_state(
                f"No alert history yet: {reason}.",
                "Each `driftdeck monitor` run (without --no-log) logs one check to the MLflow "
                f"experiment '{experiment}' ([mlflow] monitoring_experiment); schedule it (cron, "
                "CI) to build the history shown here.",
            )
        ]
    times = history["start_time"].dt.tz_convert(None)
    objects: list = [
        note_pane(
            f"{len(history):,} checks logged to '{experiment}', "
            f"{theme.format_timestamp(times.iloc[0])} → {theme.format_timestamp(times.iloc[-1])}."
        ),
        pn.pane.HoloViews(
            charts.with_time_axes(alert_counts_plot(history, times)),
            sizing_mode="stretch_width",
            height=charts.HEIGHT,
            backend="bokeh",
        ),
    ]
    wide, plots = [], []
    for title, name, threshold, caption in HISTORY_PLOTS:
        level = config.thresholds.get(threshold) if threshold else None
        plot = metric_history_plot(history, times, title, name, level)
        if plot is None:
            continue
        height = plot.opts.get("plot").kwargs.get("height", PLOT_HEIGHT)
        levels = (
            {
                "warning": theme.format_number(level.warning),
                "critical": theme.format_number(level.critical),
            }
            if level is not None
            else {}
        )
        # One line per feature and a legend beside them: the PSI plot takes a whole row.
        (wide if name == "_psi" else plots).append(
            pn.Column(
                pn.pane.HoloViews(
                    charts.with_time_axes(plot),
                    sizing_mode="stretch_width",
                    height=height,
                    backend="bokeh",
                ),
                note_pane(caption.format(**levels)),
                sizing_mode="stretch_width",
            )
        )
    objects += wide
    if plots:
        objects.append(wrapping_row(*plots))
    objects.append(latest_checks(history, times))
    return objects


def _series(history: pd.DataFrame, column: str) -> pd.Series:
    return (
        pd.to_numeric(history[column], errors="coerce")
        if column in history
        else pd.Series(dtype=float)
    )


def alert_counts_plot(history: pd.DataFrame, times: pd.Series) -> hv.Overlay:
    """Critical and warning alerts per check, stacked (total alone for older logs)."""
    if "critical_alerts" in history and "warning_alerts" in history:
        layers = [
            ("critical", _series(history, "critical_alerts"), theme.SEVERITY_COLORS[CRITICAL]),
            ("warning", _series(history, "warning_alerts"), theme.SEVERITY_COLORS[WARNING]),
        ]
    else:
        layers = [("alerts", _series(history, "total_alerts"), theme.ACCENT)]
    time = hv.Dimension("time", label="Check")
    areas = [
        hv.Area(
            pd.DataFrame({"time": times, "alerts": values.fillna(0)}), time, "alerts", label=label
        ).opts(
            color=color,
            line_color=color,
            fill_alpha=0.7,
            ylabel="Alerts",
            hover_tooltips=[("Check", "@time{%F %H:%M}"), (label.title(), "@alerts{0}")],
            hover_formatters={"@time": "datetime"},
            **PLOT_OPTS,
        )
        for label, values, color in layers
    ]
    stacked = hv.Area.stack(hv.Overlay(areas)) if len(areas) > 1 else hv.Overlay(areas)
    return stacked.opts(title="Alerts per check", legend_position="top_left")


def metric_history_plot(
    history: pd.DataFrame, times: pd.Series, title: str, name: str, level: Any
) -> hv.Overlay | None:
    """Lines of one drift metric (or one per feature) with warning and critical levels."""
    if name.startswith("_"):
        columns = [
            c for c in history.columns if str(c).endswith(name) and not str(c).startswith("param.")
        ]
        # The features that matter most: highest latest values first.
        latest = {c: _series(history, c).dropna() for c in columns}
        columns = sorted(
            (c for c in columns if len(latest[c])), key=lambda c: -float(latest[c].iloc[-1])
        )[:MAX_HISTORY_LINES]
        labels = {c: c[: -len(name)] for c in columns}
    else:
        columns = [name] if name in history.columns else []
        labels = {name: "predictions"}
    if not columns:
        return None
    layers, values = [], []
    share = name.endswith("_share")
    fmt = theme.format_share if share else theme.format_metric
    time, value = hv.Dimension("time", label="Check"), hv.Dimension("value", label=title)
    for i, column in enumerate(columns):
        color = theme.CATEGORY_COLORS[i % len(theme.CATEGORY_COLORS)]
        frame = pd.DataFrame({"time": times, "value": _series(history, column)}).dropna()
        frame["text"] = [fmt(v) for v in frame["value"]]
        values += list(frame["value"])
        layers.append(
            hv.Curve(frame, time, [value, "text"], label=labels[column]).opts(
                color=color,
                line_width=2,
                hover_tooltips=[("Check", "@time{%F %H:%M}"), (labels[column], "@text")],
                hover_formatters={"@time": "datetime"},
                **PLOT_OPTS,
            )
        )
    limits = {}
    if level is not None and values:
        # Dashed spans at both levels; the y range reaches the critical one so both show even
        # when every check stayed far below it.
        low, high = min(0.0, min(values)), max(max(values), level.critical)
        limits = {
            "ylim": (low, high + 0.08 * (high - low or 1.0)),
            "hooks": [charts.threshold_spans(level)],
        }
    # The legend sits right of the plot, not over it: with one line per feature it would cover
    # the lines and the threshold levels. Taller plots leave every entry room.
    legend = len(columns) > 1
    return hv.Overlay(layers).opts(
        title=f"{title} per check",
        legend_position="right",
        legend_opts=LEGEND_OPTS,
        show_legend=legend,
        height=max(PLOT_HEIGHT, 130 + LEGEND_ROW * len(columns)) if legend else PLOT_HEIGHT,
        **({"yformatter": NumeralTickFormatter(format="0%")} if share else {}),
        **limits,
    )


def latest_checks(history: pd.DataFrame, times: pd.Series, count: int = 10) -> pn.pane.HTML:
    """The newest checks as a table: alert counts, retraining flag, prediction drift."""
    rows, colors = [], []
    for position in range(len(history) - 1, max(len(history) - 1 - count, -1), -1):
        run = history.iloc[position]
        critical = finite_number(run.get("critical_alerts"))
        warning = finite_number(run.get("warning_alerts"))
        retrain = finite_number(run.get("retraining_recommended"))
        severity = (
            CRITICAL
            if critical
            else WARNING
            if warning or finite_number(run.get("total_alerts"))
            else "ok"
        )
        rows.append(
            [
                theme.format_timestamp(times.iloc[position]),
                run.get("run_name") or "",
                theme.format_count(finite_number(run.get("total_alerts"))),
                theme.format_count(critical),
                theme.format_count(warning),
                "yes" if retrain else ("no" if retrain is not None else theme.NO_VALUE),
                theme.format_metric(finite_number(run.get("prediction_kl_drift"))),
            ]
        )
        colors.append(theme.severity_color(severity))
    markup = blocks.table(
        ["Check", "Run", "Alerts", "Critical", "Warnings", "Retraining", "Prediction KL"],
        rows,
        numeric=[2, 3, 4, 6],
        colors=colors,
    )
    return blocks.html_pane(
        f'<div class="dd-muted" style="margin: 6px 0">Latest checks</div>{markup}'
    )
