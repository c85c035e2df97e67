"""Logging a monitoring check to MLflow: the original system's names, window times, the report artifact."""

from __future__ import annotations

import json
import socket
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from mlflow import MlflowClient

from app.config import Config, MLflowSettings
from app.mlflow_reader import MLflowReader, MLflowUnavailable
from app.monitor_log import REPORT_ARTIFACT, log_monitor_run, metric_name, monitor_metrics
from tests.mlflow_helpers import fresh_store


def sample_report(day: int = 1, psi: float = 0.3) -> dict:
    """A report for one production day (without alerts: the logger evaluates them)."""
    return {
        "window": {
            "start": f"2026-03-{day:02d}T00:00:00",
            "end": f"2026-03-{day + 1:02d}T00:00:00",
        },
        "rows": {"reference": 1000, "inputs": 500, "predictions": 500},
        "features": {
            "gross_sqm": {
                "kind": "numerical",
                "psi": psi,
                "js": 0.1,
                "ks": {"statistic": 0.2, "pvalue": 1e-6},
                "wasserstein": 0.4,
                "summary": {"reference": {"mean": 100.0}, "production": {"mean": float("nan")}},
            },
            "district": {
                "kind": "categorical",
                "psi": 0.12,
                "js": 0.05,
                "chi2": {"statistic": 40.0, "pvalue": 0.001},
            },
            "address": {
                "kind": "high_cardinality",
                "psi": None,
                "js": None,
                "cardinality": {
                    "reference": 100,
                    "production": 150,
                    "ratio": 1.5,
                    "new_value_share": 0.3,
                },
            },
            "heating type/ü": {
                "kind": "categorical",
                "psi": None,
                "js": None,
                "chi2": {"statistic": None, "pvalue": None},
            },
        },
        "prediction_drift": {
            "kl": 0.2,
            "js": 0.1,
            "reference": {"low": 0.3, "medium": 0.5, "high": 0.2},
            "production": {"low": 0.2, "medium": 0.4, "high": 0.4},
        },
        "dataset_drift": {"share": 0.5, "drifted": True},
        "data_quality": {
            "schema": [],
            "features": {
                "gross_sqm": {"missing_share_increase": 0.01, "out_of_range_share": 0.02},
                "district": {"missing_share_increase": 0.0, "unseen_share": 0.02},
            },
        },
        "status": [{"component": "inputs", "ok": True, "message": "fresh"}],
    }


def test_metric_names_follow_the_original_system():
    metrics = monitor_metrics(sample_report(), alerts=None)
    assert metrics["gross_sqm_psi"] == 0.3
    assert metrics["address_cardinality_ratio"] == 1.5
    assert metrics["prediction_kl_drift"] == 0.2
    assert metrics["prediction_js_drift"] == 0.1
    assert metrics["gross_sqm_ks_statistic"] == 0.2
    assert metrics["gross_sqm_wasserstein"] == 0.4
    assert metrics["district_chi2_pvalue"] == 0.001
    assert metrics["district_unseen_share"] == 0.02
    assert metrics["address_new_value_share"] == 0.3
    assert metrics["dataset_drift_share"] == 0.5 and metrics["dataset_drifted"] == 1
    assert metrics["prediction_share_high"] == 0.4
    assert metrics["input_rows"] == 500
    assert metrics["total_alerts"] == 0  # no alerts given
    # Values that could not be computed are not logged (MLflow would store them as NaN).
    assert "address_psi" not in metrics and "heating_type__psi" not in metrics


def test_alert_counts():
    alerts = [
        {"severity": "critical", "metric": "psi", "feature": "a"},
        {"severity": "critical", "metric": "prediction_kl", "feature": "prediction"},
        {"severity": "warning", "metric": "psi", "feature": "b"},
    ]
    metrics = monitor_metrics({}, alerts)
    assert (metrics["total_alerts"], metrics["critical_alerts"], metrics["warning_alerts"]) == (
        3,
        2,
        1,
    )
    assert metrics["retraining_recommended"] == 1


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("gross_sqm", "gross_sqm"),
        ("heating type/ü", "heating_type__"),
        ("a..b", "a_b"),
        ("..", "_"),
        ("x:y", "x_y"),
    ],
)
def test_metric_name_is_safe_for_mlflow(name, expected):
    assert metric_name(name) == expected


def test_feature_names_that_collide_after_sanitising_stay_apart():
    report = {
        "features": {
            "a b": {"kind": "numerical", "psi": 0.1},
            "a_b": {"kind": "numerical", "psi": 0.2},
        }
    }
    metrics = monitor_metrics(report)
    assert metrics["a_b_psi"] == 0.1 and metrics["a_b_2_psi"] == 0.2


@pytest.fixture
def store(tmp_path) -> tuple[Config, Path]:
    path = fresh_store(tmp_path / "mlflow.db")
    config = Config(base_dir=tmp_path, mlflow=MLflowSettings(tracking_uri="sqlite:///mlflow.db"))
    return config, path


def ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).replace(tzinfo=UTC).timestamp() * 1000)


def test_log_monitor_run(store):
    config, path = store
    report = sample_report()
    reader = MLflowReader(config)
    run_id = log_monitor_run(report, config, reader=reader)

    client = MlflowClient(f"sqlite:///{path}")
    run = client.get_run(run_id)
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.name == "monitoring"
    assert experiment.artifact_location == (path.parent / "mlartifacts").as_uri()
    assert run.info.status == "FINISHED"
    assert run.info.start_time == ms("2026-03-02T00:00:00")  # the window's end
    assert run.info.end_time >= run.info.start_time
    assert run.info.run_name == "monitor 2026-03-01 → 2026-03-02"
    metrics = run.data.metrics
    assert metrics["gross_sqm_psi"] == 0.3 and metrics["prediction_kl_drift"] == 0.2
    # Alerts were evaluated from the report: psi, cardinality and prediction drift critical,
    # district psi and unseen share warnings.
    assert (
        metrics["critical_alerts"] == 3
        and metrics["warning_alerts"] == 2
        and metrics["total_alerts"] == 5
    )
    assert metrics["retraining_recommended"] == 1
    params = run.data.params
    assert (
        params["window_start"] == "2026-03-01T00:00:00"
        and params["window_end"] == "2026-03-02T00:00:00"
    )
    assert (
        params["threshold_psi_critical"] == "0.25"
        and params["threshold_cardinality_ratio_warning"] == "1.15"
    )
    assert run.data.tags["driftdeck.kind"] == "monitor"

    artifact = Path(
        client.download_artifacts(run_id, REPORT_ARTIFACT, str(path.parent / "download"))
    )
    logged = json.loads(artifact.read_text(encoding="utf-8"))
    assert logged["features"]["gross_sqm"]["summary"]["production"]["mean"] is None  # NaN → null
    assert logged["window"] == report["window"]


def test_backfill_gives_one_run_per_day_in_order(store):
    config, _ = store
    reader = MLflowReader(config)
    for day in (3, 1, 2):  # logged out of order, read back by time
        log_monitor_run(sample_report(day, psi=day / 10), config, reader=reader, alerts=[])
    history = reader.monitoring_history()
    assert history["gross_sqm_psi"].tolist() == pytest.approx([0.1, 0.2, 0.3])
    assert [t.day for t in history["start_time"]] == [2, 3, 4]
    assert history["total_alerts"].tolist() == [0, 0, 0]


def test_alerts_in_the_report_are_used(store):
    config, path = store
    report = sample_report()
    report["alerts"] = [{"severity": "warning", "metric": "psi", "feature": "district"}]
    run_id = log_monitor_run(report, config)
    metrics = MlflowClient(f"sqlite:///{path}").get_run(run_id).data.metrics
    assert metrics["total_alerts"] == 1 and metrics["critical_alerts"] == 0


def test_a_missing_store_is_created_for_writing(tmp_path):
    config = Config(
        base_dir=tmp_path, mlflow=MLflowSettings(tracking_uri="sqlite:///sub/mlflow.db")
    )
    report = sample_report()
    report["window"] = {"start": None, "end": None}
    before = time.time() * 1000
    run_id = log_monitor_run(report, config, reader=MLflowReader(config))
    run = MlflowClient(f"sqlite:///{tmp_path}/sub/mlflow.db").get_run(run_id)
    assert run.info.start_time >= before - 1000  # no window end: now
    assert run.data.params["window_start"] == "first row"


def test_unreachable_server_fails_within_the_timeout(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = Config(
        base_dir=tmp_path,
        mlflow=MLflowSettings(tracking_uri=f"http://127.0.0.1:{port}", timeout_seconds=1),
    )
    started = time.monotonic()
    with pytest.raises(MLflowUnavailable, match="unreachable"):
        log_monitor_run(sample_report(), config, reader=MLflowReader(config))
    assert time.monotonic() - started < 3
