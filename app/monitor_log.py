"""Log one monitoring check to MLflow, with the metric names of the original system."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from app import __version__
from app.alerts import evaluate_alerts, summarize_alerts
from app.config import Config
from app.feature_drift import Cardinality, TestResult
from app.mlflow_reader import MLflowReader, MLflowUnavailable, shared_reader
from app.report_types import Report, as_report

REPORT_ARTIFACT = "monitor_report.json"
KIND_TAG = "driftdeck.kind"
MAX_NAME = 250  # MLflow's limit for metric and param keys
_PARAMS_PER_BATCH = 100  # MLflow's limits per log_batch request
_METRICS_PER_BATCH = 1000

_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")


def metric_name(name: str) -> str:
    """A feature or class name made safe as part of an MLflow metric key."""
    safe = _UNSAFE.sub("_", str(name)).strip(".") or "_"
    # MLflow treats keys as paths: '..' and leading dots would resolve to other names.
    return re.sub(r"\.{2,}", "_", safe)


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, str):
        return None
    if hasattr(value, "item"):  # numpy scalar
        value = value.item()
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _get(mapping: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(mapping, Mapping):
            return None
        mapping = mapping.get(key)
    return mapping


def _unique_names(names: list[str]) -> dict[str, str]:
    """Feature name → metric prefix; names that sanitise to the same text get a suffix."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for name in names:
        base = metric_name(name)[: MAX_NAME - 40]
        candidate, n = base, 2
        while candidate in used:
            candidate, n = f"{base}_{n}", n + 1
        used.add(candidate)
        out[name] = candidate
    return out


def monitor_metrics(report: Report | Mapping, alerts: list | None = None) -> dict[str, float]:
    """The metrics of one check under the original system's names; values that could not be computed are left out."""
    report = as_report(report)
    metrics: dict[str, float] = {}

    def put(key: str, value: Any) -> None:
        number = _number(value)
        if number is not None:
            metrics[key[:MAX_NAME]] = number

    features = report.features
    quality = report.data_quality.features
    prefix = _unique_names(list(dict.fromkeys([*features, *quality])))
    for name, f in features.items():
        p = prefix[name]
        ks, chi2 = f.ks or TestResult(), f.chi2 or TestResult()
        cardinality = f.cardinality or Cardinality()
        put(f"{p}_psi", f.psi)
        put(f"{p}_js", f.js)
        put(f"{p}_ks_statistic", ks.statistic)
        put(f"{p}_ks_pvalue", ks.pvalue)
        put(f"{p}_wasserstein", f.wasserstein)
        put(f"{p}_chi2_statistic", chi2.statistic)
        put(f"{p}_chi2_pvalue", chi2.pvalue)
        put(f"{p}_cardinality_ratio", cardinality.ratio)
        put(f"{p}_new_value_share", cardinality.new_value_share)
    for name, q in quality.items():
        p = prefix[name]
        put(f"{p}_missing_share_increase", q.missing_share_increase)
        put(f"{p}_unseen_share", q.unseen_share)
        put(f"{p}_out_of_range_share", q.out_of_range_share)

    drift = report.prediction_drift
    put("prediction_kl_drift", drift.kl)
    put("prediction_js_drift", drift.js)
    production = drift.production
    if isinstance(production, Mapping):
        classes = _unique_names([str(c) for c in production])
        for cls, share in production.items():
            put(f"prediction_share_{classes[str(cls)]}", share)

    dataset = report.dataset_drift
    put("dataset_drift_share", dataset.share)
    if isinstance(dataset.drifted, bool):
        put("dataset_drifted", int(dataset.drifted))

    rows = report.rows
    put("reference_rows", _get(rows, "reference"))
    put("input_rows", _get(rows, "inputs"))
    put("prediction_rows", _get(rows, "predictions"))

    summary = summarize_alerts(alerts or [])
    put("total_alerts", summary["total"])
    put("critical_alerts", summary["critical"])
    put("warning_alerts", summary["warning"])
    put("retraining_recommended", int(summary["retraining_recommended"]))
    return metrics


def monitor_params(report: Report, config: Config) -> dict[str, str]:
    """The window and the thresholds the check was judged by."""
    params = {
        "window_start": str(report.window.get("start") or "first row"),
        "window_end": str(report.window.get("end") or "last row"),
        "driftdeck_version": __version__,
    }
    for metric, level in sorted(config.thresholds.items()):
        params[f"threshold_{metric}_critical"] = repr(level.critical)
        params[f"threshold_{metric}_warning"] = repr(level.warning)
    params["ks_alert_enabled"] = str(config.ks_alert.enabled).lower()
    if config.ks_alert.enabled:
        params["ks_alert_pvalue"] = repr(config.ks_alert.pvalue)
        params["ks_alert_statistic"] = repr(config.ks_alert.statistic)
    return params


def _timestamp(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str) and value.strip():
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    else:
        return None
    # Naive window bounds are UTC, like the engine's.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _run_name(report: Report) -> str:
    start = _timestamp(report.window.get("start"))
    end = _timestamp(report.window.get("end"))

    def short(moment: datetime | None, fallback: str) -> str:
        if moment is None:
            return fallback
        return moment.strftime(
            "%Y-%m-%d" if moment.time() == datetime.min.time() else "%Y-%m-%d %H:%M"
        )

    return f"monitor {short(start, 'start')} → {short(end, 'now')}"


def log_monitor_run(
    report: Report | Mapping,
    config: Config,
    *,
    reader: MLflowReader | None = None,
    alerts: list | None = None,
) -> str:
    """Log one check as a run of the monitoring experiment and return its run id.

    The run starts at the window's end when there is one (a backfill gets one run per window at
    the right time), holds those metrics, params for the window and thresholds, and the
    whole report as ``monitor_report.json``. Each MLflow request is bounded by the timeout;
    failures raise ``MLflowUnavailable``.
    """
    reader = reader or shared_reader(config)
    if alerts is None and isinstance(report, Mapping) and report.get("alerts") is None:
        alerts = evaluate_alerts(report, config)  # a report built without its alerts
    report = as_report(report, config)
    if alerts is None:
        alerts = report.alerts
    metrics = monitor_metrics(report, alerts)
    params = monitor_params(report, config)
    end = _timestamp(report.window.get("end"))
    started = time.time()
    start_ms = int((end.timestamp() if end else started) * 1000)
    body = report.to_json()

    experiment_id = _monitoring_experiment(reader, config)  # fails fast when MLflow is down
    from mlflow.entities import Metric, Param

    tags = {KIND_TAG: "monitor", "driftdeck.version": __version__}
    run = reader.call(
        "create monitor run",
        lambda c: c.create_run(
            experiment_id, start_time=start_ms, tags=tags, run_name=_run_name(report)
        ),
        write=True,
    )
    run_id = run.info.run_id
    try:
        metric_list = [Metric(k, v, start_ms, 0) for k, v in sorted(metrics.items())]
        param_list = [Param(k, v) for k, v in params.items()]
        for i in range(0, len(param_list), _PARAMS_PER_BATCH):
            chunk = param_list[i : i + _PARAMS_PER_BATCH]
            reader.call(
                "log monitor params", lambda c, p=chunk: c.log_batch(run_id, params=p), write=True
            )
        for i in range(0, len(metric_list), _METRICS_PER_BATCH):
            chunk = metric_list[i : i + _METRICS_PER_BATCH]
            reader.call(
                "log monitor metrics", lambda c, m=chunk: c.log_batch(run_id, metrics=m), write=True
            )
        reader.call(
            "log monitor report", lambda c: c.log_text(run_id, body, REPORT_ARTIFACT), write=True
        )
        end_ms = start_ms + max(1, int((time.time() - started) * 1000))
        reader.call(
            "finish monitor run", lambda c: c.set_terminated(run_id, "FINISHED", end_ms), write=True
        )
    except BaseException:
        try:
            reader.call(
                "fail monitor run", lambda c: c.set_terminated(run_id, "FAILED"), write=True
            )
        except MLflowUnavailable:
            pass
        raise
    return run_id


def _monitoring_experiment(reader: MLflowReader, config: Config) -> str:
    name = config.mlflow.monitoring_experiment
    experiment = reader.call(
        "get monitoring experiment", lambda c: c.get_experiment_by_name(name), write=True
    )
    if experiment is not None:
        if experiment.lifecycle_stage == "deleted":
            raise MLflowUnavailable(
                f"MLflow experiment '{name}' at {reader.display_uri} is deleted: restore it or set "
                "mlflow.monitoring_experiment to another name"
            )
        return experiment.experiment_id
    location = None
    if reader.location.kind == "sqlite" and reader.location.path is not None:
        # Without this MLflow puts artifacts under ./mlruns of whatever folder the job runs in.
        location = (reader.location.path.parent / "mlartifacts").as_uri()

    def create(c) -> str:
        try:
            return c.create_experiment(name, artifact_location=location)
        except Exception as exc:
            if getattr(exc, "error_code", None) != "RESOURCE_ALREADY_EXISTS":
                raise
            return c.get_experiment_by_name(name).experiment_id  # created concurrently

    return reader.call("create monitoring experiment", create, write=True)
