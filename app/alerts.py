"""Alert rules (docs/metrics.md, Alerts): each metric compared with its critical and warning levels."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from app import theme
from app.config import Config, Level
from app.severity import CRITICAL, WARNING, as_number, crossed

# Metrics whose critical alerts count towards the retraining recommendation.
RETRAINING_METRICS = ("psi", "cardinality_ratio", "prediction_kl")
RETRAINING_MIN_CRITICAL = 2

# Display order: the metrics that drive retraining first, then data quality, then KS.
METRIC_ORDER = (
    "accuracy_drop",
    "psi",
    "cardinality_ratio",
    "prediction_kl",
    "missing_share_increase",
    "unseen_share",
    "ks",
)
PREDICTION_FEATURE = "prediction"
ACCURACY_FEATURE = "accuracy"
ESTIMATED_ACCURACY_FEATURE = "estimated_accuracy"

_RECOMMENDATIONS = {
    ("psi", CRITICAL): "The distribution of '{feature}' has shifted strongly: check the upstream "
    "data for this feature and plan retraining on recent data.",
    (
        "psi",
        WARNING,
    ): "The distribution of '{feature}' is moving: watch its trend on the Drift page.",
    (
        "cardinality_ratio",
        CRITICAL,
    ): "'{feature}' receives many values never seen in training: check "
    "the source, and retrain or re-encode unseen values.",
    ("cardinality_ratio", WARNING): "'{feature}' is gaining new values: watch its growth.",
    ("prediction_kl", CRITICAL): "The model's predicted classes have shifted: compare with delayed "
    "labels and plan retraining.",
    (
        "prediction_kl",
        WARNING,
    ): "The mix of predicted classes is moving: watch the prediction-drift trend.",
    ("missing_share_increase", CRITICAL): "Far more values of '{feature}' are missing than in "
    "training: check the logging pipeline and the upstream source.",
    ("missing_share_increase", WARNING): "More values of '{feature}' are missing than in training: "
    "check the logging pipeline.",
    ("unseen_share", CRITICAL): "Many rows carry categories of '{feature}' never seen in training: "
    "check for new or renamed categories and retrain if they are genuine.",
    ("unseen_share", WARNING): "Some rows carry categories of '{feature}' never seen in training: "
    "check for new or renamed categories.",
    ("accuracy_drop", CRITICAL): "The model is far less accurate than its baseline: find the "
    "drifted features and classes behind it and retrain on recent labelled data.",
    ("accuracy_drop", WARNING): "The model's accuracy is slipping below its baseline: watch "
    "accuracy over time on the Performance page as labels arrive.",
    ("ks", WARNING): "The values of '{feature}' differ significantly from the reference: inspect "
    "its distribution on the Feature Statistics page.",
}


SHARE_METRICS = ("missing_share_increase", "unseen_share")
"""Metrics that are shares of rows: shown as percentages."""


def format_value(metric: str, value: Any) -> str:
    """A metric's value or threshold as messages and the Alerts page show it: shares as
    percentages (``4.3%``), other measures with three decimals (``0.271``)."""
    if isinstance(value, float) and math.isinf(value):
        return str(value)
    if metric in SHARE_METRICS:
        return theme.format_share(value)
    if metric == "accuracy_drop":  # a difference of two accuracies: percentage points
        return theme.format_share(value).replace("%", " points")
    return theme.format_metric(value)


def _format(value: float) -> str:
    return f"{value:.4g}"


def _alert(
    severity: str, metric: str, feature: str, value: float, threshold: float, message: str
) -> dict:
    recommendation = _RECOMMENDATIONS[(metric, severity)].format(feature=feature)
    return {
        "severity": severity,
        "metric": metric,
        "feature": feature,
        "value": value,
        "threshold": threshold,
        "message": message,
        "recommendation": recommendation,
    }


def _leveled(metric: str, feature: str, value: Any, level: Level, describe: str) -> dict | None:
    """The alert for a value at or over a level, or None; ``describe`` names the measurement."""
    number = as_number(value)
    found = crossed(number, level)
    if found is None:
        return None
    severity, threshold = found
    message = (
        f"{describe} is {format_value(metric, number)} "
        f"({severity} at or over {format_value(metric, threshold)})"
    )
    return _alert(severity, metric, feature, number, threshold, message)


def _mapping(value: Any) -> Mapping:
    return value if isinstance(value, Mapping) else {}


def evaluate_alerts(report: Mapping, config: Config) -> list[dict]:
    """Every finding of the report at or over a configured level, most severe first."""
    th = config.thresholds
    alerts: list[dict | None] = []
    for name, feature in _mapping(report.get("features")).items():
        feature = _mapping(feature)
        kind = feature.get("kind")
        if kind == "high_cardinality":
            ratio = _mapping(feature.get("cardinality")).get("ratio")
            alerts.append(
                _leveled(
                    "cardinality_ratio",
                    name,
                    ratio,
                    th["cardinality_ratio"],
                    f"Distinct-value ratio (production / reference) of '{name}'",
                )
            )
        elif feature.get("significant") is not False:  # below its sample-size floor: noise
            alerts.append(_leveled("psi", name, feature.get("psi"), th["psi"], f"PSI of '{name}'"))
        if config.ks_alert.enabled and kind in (None, "numerical"):
            alerts.append(_ks_alert(name, _mapping(feature.get("ks")), config))

    drift = _mapping(report.get("prediction_drift"))
    alerts.append(
        _leveled(
            "prediction_kl",
            PREDICTION_FEATURE,
            drift.get("kl"),
            th["prediction_kl"],
            "KL divergence of the predicted classes",
        )
    )

    accuracy = _mapping(report.get("accuracy"))
    baseline = (
        f"the baseline {theme.format_share(accuracy.get('baseline'))} "
        f"({accuracy.get('baseline_source')})"
    )
    if as_number(accuracy.get("drop")) is not None:
        alerts.append(
            _leveled(
                "accuracy_drop",
                ACCURACY_FEATURE,
                accuracy["drop"],
                th["accuracy_drop"],
                f"Accuracy over {accuracy.get('labelled_rows') or 0:,} labelled rows is "
                f"{theme.format_share(accuracy.get('realized'))}: its drop below "
                f"{baseline}",
            )
        )
    if as_number(accuracy.get("estimated_drop")) is not None:
        estimated = _mapping(report.get("estimated_performance"))
        alerts.append(
            _leveled(
                "accuracy_drop",
                ESTIMATED_ACCURACY_FEATURE,
                accuracy["estimated_drop"],
                th["accuracy_drop"],
                f"Estimated accuracy (CBPE, {estimated.get('rows') or 0:,} predictions) is "
                f"{theme.format_share(accuracy.get('estimated'))}: its drop below "
                f"{baseline}",
            )
        )

    quality = _mapping(_mapping(report.get("data_quality")).get("features"))
    features = _mapping(report.get("features"))
    for name, found in quality.items():
        found = _mapping(found)
        # New values of a high-cardinality feature (a new address) are normal: cardinality
        # growth judges those, an unseen-category alert would fire on every run.
        high_cardinality = _mapping(features.get(name)).get("kind") == "high_cardinality"
        alerts.append(
            _leveled(
                "missing_share_increase",
                name,
                found.get("missing_share_increase"),
                th["missing_share_increase"],
                f"Increase in the missing share of '{name}'",
            )
        )
        if high_cardinality:
            continue
        alerts.append(
            _leveled(
                "unseen_share",
                name,
                found.get("unseen_share"),
                th["unseen_share"],
                f"Share of rows with unseen categories of '{name}'",
            )
        )
    return sort_alerts(a for a in alerts if a is not None)


def _ks_alert(name: str, ks: Mapping, config: Config) -> dict | None:
    statistic, pvalue = as_number(ks.get("statistic")), as_number(ks.get("pvalue"))
    rule = config.ks_alert
    if (
        statistic is None
        or pvalue is None
        or not (pvalue < rule.pvalue and statistic >= rule.statistic)
    ):
        return None
    message = (
        f"KS statistic of '{name}' is {format_value('ks', statistic)} with p-value "
        f"{pvalue:.3g} (alert at D at or over {format_value('ks', rule.statistic)} and p under "
        f"{_format(rule.pvalue)})"
    )
    return _alert(WARNING, "ks", name, statistic, rule.statistic, message)


def field(alert: Any, name: str) -> Any:
    """One field of an alert: an ``app.report_types.Alert`` or its JSON dict."""
    return alert.get(name) if isinstance(alert, Mapping) else getattr(alert, name, None)


def sort_alerts(alerts: Iterable[dict]) -> list[dict]:
    """Critical first, then by metric in display order, then by feature name."""

    def key(alert: dict) -> tuple:
        metric = field(alert, "metric")
        order = METRIC_ORDER.index(metric) if metric in METRIC_ORDER else len(METRIC_ORDER)
        return (field(alert, "severity") != CRITICAL, order, str(field(alert, "feature")))

    return sorted(alerts, key=key)


def critical_alerts(alerts: Iterable[Any]) -> list[Any]:
    return [a for a in alerts if field(a, "severity") == CRITICAL]


def retraining_recommended(alerts: Iterable[Any]) -> bool:
    """Two or more critical alerts among PSI, cardinality growth and prediction drift."""
    drivers = [a for a in critical_alerts(alerts) if field(a, "metric") in RETRAINING_METRICS]
    return len(drivers) >= RETRAINING_MIN_CRITICAL


def recommendation(alerts: Iterable[Any]) -> str:
    """One sentence saying what to do about the alerts as a whole."""
    alerts = list(alerts)
    critical = critical_alerts(alerts)
    if retraining_recommended(alerts):
        drivers = [a for a in critical if field(a, "metric") in RETRAINING_METRICS]
        names = ", ".join(sorted({str(field(a, "feature")) for a in drivers}))
        return f"Retraining recommended: {len(drivers)} critical drift alerts ({names})."
    if critical:
        return (
            f"{len(critical)} critical alert{'s' if len(critical) > 1 else ''}: investigate before "
            "deciding on retraining."
        )
    if alerts:
        return f"{len(alerts)} warning{'s' if len(alerts) > 1 else ''}: no action needed yet; keep watching."
    return "No alerts: the model's inputs and predictions look like the reference."


def summarize_alerts(alerts: Iterable[Any]) -> dict:
    """Counts, the retraining flag and the overall recommendation, for KPI cards and the JSON."""
    alerts = list(alerts)
    critical = len(critical_alerts(alerts))
    return {
        "total": len(alerts),
        "critical": critical,
        "warning": sum(1 for a in alerts if field(a, "severity") == WARNING),
        "retraining_recommended": retraining_recommended(alerts),
        "recommendation": recommendation(alerts),
    }


def alert_key(alert: Any) -> str:
    """The identity of an alert across runs: metric and feature (severity may change)."""
    return f"{field(alert, 'metric')}:{field(alert, 'feature')}"


def apply_silences(
    alerts: Iterable[dict], silences: Iterable[Any], now: datetime | None = None
) -> tuple[list[dict], list[dict]]:
    """Alerts split into (active, silenced): an alert matched by a silence that has not ended
    is marked with that silence (until, reason) and counts in no exit code or notification."""
    now = now or datetime.now(UTC).replace(tzinfo=None)
    active, silenced = [], []
    for alert in alerts:
        silence = next((s for s in silences if s.matches(alert, now)), None)
        if silence is None:
            active.append(alert)
        else:
            until = silence.until.isoformat()
            silenced.append({**alert, "silenced": {"until": until, "reason": silence.reason}})
    return active, silenced
