"""A small world with MLflow behind it, for the Performance Metrics and Alerts page tests:
training runs, a registered model with production and staging aliases, a monitoring history,
and delayed labels for part of the production period."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from mlflow import MlflowClient
from mlflow.entities import Metric, Param

from app.config import Config, MLflowSettings
from benchmarks.harness import free_port
from tests.mlflow_helpers import fresh_store
from tests.worlds import make_world, write

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z in ms
HOUR = 3_600_000
DAY = 24 * HOUR
MODEL = "HousingPriceClassifier"
N_RUNS = 5
N_CHECKS = 4


def run_metrics(i: int) -> dict[str, float]:
    """The metrics logged by training run ``i``."""
    return {
        "accuracy": 0.70 + i / 100,
        "macro_f1": 0.60 + i / 100,
        "weighted_f1": 0.65 + i / 100,
        "roc_auc": 0.80 + i / 200,
        "precision_low": 0.7,
    }


def check_metrics(day: int) -> dict[str, float]:
    """The metrics logged by monitoring check ``day``."""
    return {
        "total_alerts": day,
        "critical_alerts": day // 2,
        "warning_alerts": day - day // 2,
        "prediction_kl_drift": 0.05 * day,
        "area_psi": 0.08 * day,
        "address_cardinality_ratio": 1 + 0.1 * day,
        "address_new_value_share": 0.05 * day,
        "retraining_recommended": int(day >= 3),
    }


def fill_store(uri: str, artifacts: Path) -> dict:
    client = MlflowClient(uri)
    training = client.create_experiment("training", artifact_location=(artifacts / "t").as_uri())
    runs = []
    for i in range(N_RUNS):
        run = client.create_run(training, start_time=T0 + i * HOUR, run_name=f"train-{i}")
        client.log_batch(
            run.info.run_id,
            metrics=[Metric(k, v, T0, 0) for k, v in run_metrics(i).items()],
            params=[Param("max_depth", str(3 + i))],
        )
        client.set_terminated(run.info.run_id, "FINISHED", T0 + i * HOUR + 60_000)
        runs.append(run.info.run_id)
    client.create_registered_model(MODEL)
    v1 = client.create_model_version(MODEL, str(artifacts / "m1"), run_id=runs[2])
    v2 = client.create_model_version(MODEL, str(artifacts / "m2"), run_id=runs[4])
    client.set_registered_model_alias(MODEL, "production", v1.version)
    client.set_registered_model_alias(MODEL, "staging", v2.version)
    monitoring = client.create_experiment(
        "monitoring", artifact_location=(artifacts / "m").as_uri()
    )
    for day in range(N_CHECKS):
        run = client.create_run(monitoring, start_time=T0 + day * DAY, run_name=f"check-{day}")
        client.log_batch(
            run.info.run_id,
            metrics=[Metric(k, float(v), T0, 0) for k, v in check_metrics(day).items()],
        )
        client.set_terminated(run.info.run_id)
    return {"runs": runs, "production_run": 2, "staging_run": 4}


def write_labels(root: Path, share: float = 0.4) -> None:
    """Delayed labels (column ``target``) for the oldest ``share`` of the predictions."""
    predictions = pq.read_table(root / "data/production/predictions.parquet").to_pandas()
    labelled = predictions.iloc[: int(len(predictions) * share)].copy()
    rng = np.random.default_rng(3)
    keep = rng.random(len(labelled)) < 0.8
    labelled["target"] = np.where(keep, labelled["prediction"], "low")
    write(root / "data/production/labels.parquet", labelled[["timestamp", "request_id", "target"]])


def mlflow_world(root: Path, *, labels: bool = True) -> Config:
    """``make_world`` plus a filled sqlite MLflow store (and labels unless asked not to)."""
    config = make_world(root)
    if labels:
        write_labels(root)
    store = fresh_store(root / "mlflow.db")
    fill_store(f"sqlite:///{store}", root / "artifacts")
    return replace(
        config,
        columns=replace(config.columns, id="request_id"),
        mlflow=MLflowSettings(tracking_uri=f"sqlite:///{store}", timeout_seconds=10),
    )


def unreachable(config: Config, credentials: str = "") -> Config:
    """The config with MLflow at a closed loopback port and a one-second timeout."""
    uri = f"http://{credentials}127.0.0.1:{free_port()}"
    return replace(config, mlflow=replace(config.mlflow, tracking_uri=uri, timeout_seconds=1))
