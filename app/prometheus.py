"""The report as Prometheus metrics: ``GET /metrics`` of ``driftdeck serve`` and
``driftdeck monitor --prometheus FILE`` (README, "Prometheus"). Made with ``prometheus_client``.

Every value comes from the report of the monitoring window; a metric that could not be computed
is left out (absent, never 0), so a dashboard shows a gap rather than a false all-clear.
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from app.feature_drift import Cardinality, TestResult
from app.report_types import Report, as_report
from app.severity import as_number

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# name, help, labels
GAUGES = (
    (
        "driftdeck_feature_psi",
        "PSI of a feature, production window against the reference",
        ("feature",),
    ),
    ("driftdeck_feature_js", "Jensen-Shannon distance (base 2) of a feature", ("feature",)),
    (
        "driftdeck_feature_ks_statistic",
        "Two-sample KS statistic of a numerical feature",
        ("feature",),
    ),
    (
        "driftdeck_feature_missing_share",
        "Share of production rows missing the feature",
        ("feature",),
    ),
    (
        "driftdeck_cardinality_ratio",
        "Distinct production values over distinct reference values",
        ("feature",),
    ),
    (
        "driftdeck_new_value_share",
        "Share of production rows with a value never in the reference",
        ("feature",),
    ),
    ("driftdeck_prediction_kl", "KL divergence of the predicted classes", ()),
    ("driftdeck_dataset_drift_share", "Share of judged features that drifted", ()),
    ("driftdeck_alerts", "Active alerts (silenced ones excluded)", ("severity",)),
    ("driftdeck_rows", "Rows in the monitoring window (the reference: all of it)", ("role",)),
    ("driftdeck_accuracy", "Realized accuracy of the labelled predictions in the window", ()),
    (
        "driftdeck_estimated_accuracy",
        "Estimated accuracy (CBPE) of the predictions in the window",
        (),
    ),
    ("driftdeck_newest_row_timestamp_seconds", "Unix time of the newest row of a role", ("role",)),
    ("driftdeck_computation_seconds", "Seconds the report took to compute", ()),
)


def _timestamp(text: Any) -> float | None:
    """Unix seconds of a report timestamp (naive ones are UTC)."""
    if isinstance(text, str):
        try:
            text = datetime.fromisoformat(text)
        except ValueError:
            return None
    if not isinstance(text, datetime):
        return None
    return (text if text.tzinfo else text.replace(tzinfo=UTC)).timestamp()


def samples(report: Report | Mapping, seconds: float | None) -> list[tuple[str, dict, float]]:
    """Every (metric, labels, value) the report can give; uncomputable ones are left out."""
    report = as_report(report)
    out: list[tuple[str, dict, float]] = []

    def put(name: str, labels: dict, value: Any) -> None:
        number = as_number(value)
        if number is not None and math.isfinite(number):
            out.append((name, labels, number))

    for feature, entry in report.features.items():
        labels = {"feature": str(feature)}
        put("driftdeck_feature_psi", labels, entry.psi)
        put("driftdeck_feature_js", labels, entry.js)
        put("driftdeck_feature_ks_statistic", labels, (entry.ks or TestResult()).statistic)
        production = entry.summary.get("production") or {}
        put("driftdeck_feature_missing_share", labels, production.get("missing_share"))
        cardinality = entry.cardinality or Cardinality()
        put("driftdeck_cardinality_ratio", labels, cardinality.ratio)
        put("driftdeck_new_value_share", labels, cardinality.new_value_share)
    put("driftdeck_prediction_kl", {}, report.prediction_drift.kl)
    put("driftdeck_dataset_drift_share", {}, report.dataset_drift.share)
    for severity in ("critical", "warning"):
        put(
            "driftdeck_alerts",
            {"severity": severity},
            sum(a.severity == severity for a in report.alerts),
        )
    for role, rows in report.rows.items():
        put("driftdeck_rows", {"role": role}, rows)
    put("driftdeck_accuracy", {}, report.accuracy.get("realized"))
    put("driftdeck_estimated_accuracy", {}, report.estimated_performance.get("accuracy"))
    for entry in report.status:
        if entry.component in ("reference", "inputs", "predictions", "labels"):
            put(
                "driftdeck_newest_row_timestamp_seconds",
                {"role": entry.component},
                _timestamp(entry.details.get("newest")),
            )
    put("driftdeck_computation_seconds", {}, seconds)
    return out


def exposition(report: Report | Mapping, seconds: float | None = None) -> bytes:
    """The report in the Prometheus text format."""
    registry = CollectorRegistry()
    described = {name: (text, labels) for name, text, labels in GAUGES}
    gauges: dict[str, Gauge] = {}
    for name, labels, value in samples(report, seconds):
        if name not in gauges:  # made on first value: an unset gauge would read as 0
            text, label_names = described[name]
            gauges[name] = Gauge(name, text, label_names, registry=registry)
        gauge = gauges[name]
        (gauge.labels(**labels) if labels else gauge).set(value)
    return generate_latest(registry)


def write_textfile(report: Report | Mapping, path: Path, seconds: float | None = None) -> None:
    """For node-exporter's textfile collector: written beside, then renamed (never half read)."""
    path = Path(path)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        temp.write_bytes(exposition(report, seconds))
        os.replace(temp, path)
    except OSError as exc:
        from app.errors import DriftdeckError

        raise DriftdeckError(f"--prometheus {path}: cannot write ({exc.strerror or exc})") from None
    finally:
        temp.unlink(missing_ok=True)
